"""The ``nightly-risk`` flow: every portfolio's risk for one session, in chunks."""

import datetime as dt
from typing import Any

from prefect import State, flow

from flows.sessions import dated_run
from sigmasight.settings import get_settings
from tasks.ledger import close_run, mark_run_failed, open_run
from tasks.limits import alert_limit_breaches
from tasks.risk import compute_chunk, flip_current, prepare_risk, publish_summary
from tasks.runners import risk_runner


@flow(
    name="nightly-risk",
    task_runner=risk_runner(get_settings()),
    on_failure=[mark_run_failed],
    on_crashed=[mark_run_failed],
)
def nightly_risk(as_of: dt.date | None = None) -> dict[str, Any] | State[Any]:
    """Compute and store every portfolio's risk on ``as_of``; the snapshot flips only on success.

    New limit breaches of the date are then posted to SLACK_WEBHOOK_URL, once (history
    runs and catch-up never alert about the past).
    """
    with dated_run("nightly-risk", as_of) as (as_of, stop):
        if stop is not None:
            return stop
        run_id = open_run("nightly-risk", as_of, {"chunk_size": get_settings().risk_chunk_size})
        plan = prepare_risk(as_of, run_id)
        futures = [compute_chunk.submit(as_of, list(chunk), run_id) for chunk in plan.chunks]
        reports = [future.result() for future in futures]
        flipped = flip_current(as_of, plan.portfolio_ids, run_id)
        breaches = alert_limit_breaches(as_of, run_id)
        summary = publish_summary(as_of, plan, reports)
        counts = {
            "portfolios": plan.n_portfolios,
            "chunks": len(plan.chunks),
            "current": flipped,
            "new_limit_breaches": breaches,
            **summary["statuses"],
        }
        close_run(run_id, "succeeded", counts, summary["timings"])
        return {
            "as_of": as_of.isoformat(),
            "run_id": str(run_id),
            **counts,
            "timings": summary["timings"],
        }
