"""The ``nightly-risk`` flow: every portfolio's risk for one session, in chunks."""

import datetime as dt
from typing import Any

from prefect import State, flow

from flows.market_data import skipped
from sigmasight.settings import get_settings
from sigmasight.trading_calendar import is_trading_day, last_completed_session
from tasks.ledger import close_run, mark_run_failed, open_run
from tasks.risk import compute_chunk, flip_current, prepare_risk, publish_summary
from tasks.runners import risk_runner


@flow(
    name="nightly-risk",
    task_runner=risk_runner(get_settings()),
    on_failure=[mark_run_failed],
    on_crashed=[mark_run_failed],
)
def nightly_risk(as_of: dt.date | None = None) -> dict[str, Any] | State[Any]:
    """Compute and store every portfolio's risk on ``as_of``; the snapshot flips only on success."""
    as_of = as_of or last_completed_session()
    if not is_trading_day(as_of):
        return skipped(as_of)
    settings = get_settings()
    run_id = open_run("nightly-risk", as_of, {"chunk_size": settings.risk_chunk_size})
    inputs = prepare_risk(as_of, settings.risk_chunk_size, settings.risk_lookback_sessions)
    futures = [compute_chunk.submit(inputs, list(chunk), run_id) for chunk in inputs.chunks]
    reports = [future.result() for future in futures]
    flipped = flip_current(as_of, [pid for chunk in inputs.chunks for pid in chunk])
    summary = publish_summary(as_of, inputs, reports)
    counts = {
        "portfolios": inputs.n_portfolios,
        "chunks": len(inputs.chunks),
        "current": flipped,
        **summary["statuses"],
    }
    close_run(run_id, "succeeded", counts, summary["timings"])
    return {
        "as_of": as_of.isoformat(),
        "run_id": str(run_id),
        **counts,
        "timings": summary["timings"],
    }
