"""The as-of session of a flow run: one helper, one NYSE check per run tree, and the guard."""

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prefect import State
from prefect.context import FlowRunContext
from prefect.states import Completed

from sigmasight.trading_calendar import as_of_problem, is_trading_day, last_completed_session
from tasks.ledger import guarded


def skipped(as_of: dt.date) -> State[Any]:
    """The final state of a run asked for a day the NYSE is closed."""
    return Completed(name="Skipped", message=f"{as_of} is not an NYSE trading day; nothing to do")


def trading_session(as_of: dt.date | None) -> tuple[dt.date, State[Any] | None]:
    """``as_of`` (default: the last completed session) and a Skipped state when NYSE is closed.

    A child flow run (market data, risk and reports under ``nightly``) trusts the session its
    parent already checked, so a nightly run checks the calendar once.
    """
    day = as_of or last_completed_session()
    problem = as_of_problem(day)
    if problem is not None:  # a deployment run with a bad parameter fails, saying why
        raise ValueError(f"as_of: {problem}")
    context = FlowRunContext.get()
    if context is not None and context.flow_run is not None and context.flow_run.parent_task_run_id:
        return day, None
    return day, (None if is_trading_day(day) else skipped(day))


@contextmanager
def dated_run(flow: str, as_of: dt.date | None) -> Iterator[tuple[dt.date, State[Any] | None]]:
    """The session of a dated flow and, for its duration, the (flow, date) guard.

    Yields ``(as_of, stop)``: ``stop`` is a Skipped state when the NYSE is closed that day or
    another run of the same flow and date is running; the flow returns it and does nothing.
    """
    day, closed = trading_session(as_of)
    if closed is not None:
        yield day, closed
        return
    with guarded(flow, day) as refused:
        yield day, refused
