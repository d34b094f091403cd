"""The ``nightly`` parent flow: market data, then risk, then reports, as one schedulable unit."""

import datetime as dt
from typing import Any

from prefect import State, flow

from flows.market_data import pull_market_data
from flows.nightly_risk import nightly_risk
from flows.reports import generate_reports
from flows.risk_history import risk_history
from flows.sessions import dated_run
from tasks.ledger import close_run, mark_run_failed, open_run
from tasks.risk import missed_sessions


@flow(name="nightly", on_failure=[mark_run_failed], on_crashed=[mark_run_failed])
def nightly(
    as_of: dt.date | None = None, provider: str | None = None
) -> dict[str, Any] | State[Any]:
    """Pull market data, catch up missed sessions, compute risk, then write reports for ``as_of``.

    Each child is its own flow run.
    """
    with dated_run("nightly", as_of) as (as_of, stop):
        if stop is not None:
            return stop
        run_id = open_run("nightly", as_of, {"provider": provider})
        market = pull_market_data(as_of=as_of, provider=provider)
        # Catch-up: sessions missed since the last computed date first, so a failed night
        # leaves no hole in the history (RISK-CONVENTIONS "History runs").
        missed = missed_sessions(as_of)
        if missed:
            risk_history(from_date=missed[0], to_date=missed[-1])
        risk = nightly_risk(as_of=as_of)
        reports = generate_reports(as_of=as_of)
        close_run(run_id, "succeeded", _children(market, risk, reports), {})
        return {
            "as_of": as_of.isoformat(),
            "run_id": str(run_id),
            "market_data": market,
            "risk": risk,
            "reports": reports,
        }


def _children(*results: object) -> dict[str, Any]:
    """The child runs' ids by flow, for the parent's ledger row."""
    names = ("market_data", "risk", "reports")
    return {
        name: result.get("run_id") if isinstance(result, dict) else "skipped"
        for name, result in zip(names, results, strict=True)
    }
