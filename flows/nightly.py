"""The ``nightly`` parent flow: market data, then risk, then reports, as one schedulable unit."""

import datetime as dt
from typing import Any

from prefect import State, flow

from flows.market_data import pull_market_data
from flows.nightly_risk import nightly_risk
from flows.reports import generate_reports
from flows.sessions import trading_session


@flow(name="nightly")
def nightly(
    as_of: dt.date | None = None, provider: str | None = None
) -> dict[str, Any] | State[Any]:
    """Pull market data, compute risk, then write reports for ``as_of``; each child is its own flow run."""
    as_of, closed = trading_session(as_of)
    if closed is not None:
        return closed
    market = pull_market_data(as_of=as_of, provider=provider)
    risk = nightly_risk(as_of=as_of)
    reports = generate_reports(as_of=as_of)
    return {"as_of": as_of.isoformat(), "market_data": market, "risk": risk, "reports": reports}
