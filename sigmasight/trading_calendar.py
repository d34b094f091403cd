"""The NYSE trading calendar (exchange_calendars' XNYS): sessions, holidays, as-of defaults."""

import datetime as dt
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

_CALENDAR_START = "2000-01-03"
NEW_YORK = ZoneInfo("America/New_York")


@lru_cache(maxsize=1)
def _xnys() -> Any:
    import exchange_calendars

    return exchange_calendars.get_calendar("XNYS", start=_CALENDAR_START)


def is_trading_day(day: dt.date) -> bool:
    """True when the NYSE holds a regular session on ``day``."""
    return bool(_xnys().is_session(pd.Timestamp(day)))


def is_session(day: dt.date) -> bool:
    """``is_trading_day`` within the calendar's years; outside them, whether ``day`` is a weekday.

    The calendar starts in 2000 and ends about a year ahead, while a corporate action may be
    older (a long backfill) or announced further ahead; a weekend is never a session.
    """
    first = dt.date.fromisoformat(_CALENDAR_START)
    if first <= day <= last_session():
        return is_trading_day(day)
    return day.weekday() < 5


def previous_trading_day(day: dt.date) -> dt.date:
    """The last session strictly before ``day``."""
    session = _xnys().date_to_session(pd.Timestamp(day), direction="previous")
    if session.date() == day:
        session = _xnys().previous_session(session)
    return pd.Timestamp(session).date()


def last_completed_session(now: dt.datetime | None = None) -> dt.date:
    """The most recent session whose close (16:00 New York) has passed: the default as-of."""
    now = now or dt.datetime.now(dt.UTC)
    local = now.astimezone(NEW_YORK)
    today = local.date()
    if is_trading_day(today) and local.time() >= dt.time(16, 30):
        return today
    return previous_trading_day(today)


def as_of_problem(day: dt.date, now: dt.datetime | None = None) -> str | None:
    """Why ``day`` cannot be an as-of date, or None.

    Before the calendar starts there are no sessions; after the last completed session the
    day has not closed, and a run would store bars of an open session or a rate dated in the
    future.
    """
    first = dt.date.fromisoformat(_CALENDAR_START)
    if day < first:
        return f"{day} is before the trading calendar starts ({first})"
    last = last_completed_session(now)
    if day > last:
        return f"{day} has not closed yet (the last completed NYSE session is {last})"
    return None


def sessions(start: dt.date, end: dt.date) -> list[dt.date]:
    """Every session from ``start`` to ``end`` inclusive."""
    index = _xnys().sessions_in_range(pd.Timestamp(start), pd.Timestamp(end))
    return [ts.date() for ts in index]


def last_sessions(as_of: dt.date, n: int) -> list[dt.date]:
    """The ``n`` sessions ending on ``as_of`` (or on the last session before it), oldest first."""
    # 1.6 calendar days per session covers weekends and the longest holiday runs.
    return sessions(as_of - dt.timedelta(days=int(n * 1.6) + 10), as_of)[-n:] if n > 0 else []


def last_session() -> dt.date:
    """The last session the calendar knows (about a year ahead of today)."""
    return pd.Timestamp(_xnys().last_session).date()
