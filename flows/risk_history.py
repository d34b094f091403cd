"""The ``risk-history`` flow: every NYSE session of a range, each exactly as a nightly run.

The price panel and every book are loaded once for the whole range; the dates are then
computed oldest first (each date's ``history`` block needs the one before), every chunk of
portfolios vectorised, in steps of a few weeks of sessions (one task each, whose writes
overlap its computation), with a progress artifact and a log line per date.
"""

import datetime as dt
from typing import Any

from prefect import State, flow

from sigmasight.runs.risk import history_range_problem, release_history
from sigmasight.trading_calendar import last_completed_session
from tasks.ledger import close_run, guarded, mark_run_failed, open_run
from tasks.progress import Progress
from tasks.risk import compute_history_dates, finish_history, prepare_history


@flow(name="risk-history", on_failure=[mark_run_failed], on_crashed=[mark_run_failed])
def risk_history(
    from_date: dt.date | None = None, to_date: dt.date | None = None
) -> dict[str, Any] | State[Any]:
    """Compute and store every portfolio's risk on each NYSE session from ``from_date`` to ``to_date``.

    ``to_date`` defaults to the last completed session and ``from_date`` to ``to_date``.
    """
    to_date = to_date or last_completed_session()
    from_date = from_date or to_date
    problem = history_range_problem(from_date, to_date)
    if problem is not None:  # a deployment run with bad parameters fails, saying why
        raise ValueError(problem)
    # The guard's date is the ledger row's (so a live run is never taken for a dead one);
    # each date also holds its nightly-risk guard while it is computed.
    with guarded("risk-history", to_date) as refused:
        if refused is not None:
            return refused
        run_id = open_run("risk-history", to_date, {"from": from_date.isoformat()})
        try:
            plan = prepare_history(from_date, to_date, run_id)
            progress = Progress(
                len(plan.dates), f"risk history {plan.first}..{plan.last}", unit="sessions"
            )
            statuses: dict[str, int] = {}
            timings: dict[str, float] = dict(plan.timings)
            for days in plan.batches:
                for report in compute_history_dates(list(days), run_id):
                    for status in report.statuses.values():
                        statuses[status] = statuses.get(status, 0) + 1
                    for stage, seconds in report.timings.items():
                        timings[stage] = round(timings.get(stage, 0.0) + seconds, 3)
                    progress.advance(1, f"{report.as_of}: {_counts(report.statuses)}")
            flipped = finish_history(run_id)
        finally:
            release_history(run_id)
        counts = {
            "sessions": len(plan.dates),
            "portfolios": len(plan.portfolio_ids),
            "current": flipped,
            **statuses,
        }
        close_run(run_id, "succeeded", counts, timings)
        return {
            "from": plan.first.isoformat(),
            "to": plan.last.isoformat(),
            "run_id": str(run_id),
            **counts,
            "timings": timings,
        }


def _counts(statuses: dict[str, str]) -> str:
    found: dict[str, int] = {}
    for status in statuses.values():
        found[status] = found.get(status, 0) + 1
    return ", ".join(f"{n} {s}" for s, n in sorted(found.items())) or "no books"
