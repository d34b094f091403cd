"""Market-data logic: what to fetch, how to validate it, and how good the result is.

The flow (``flows/market_data.py``) orders these steps; the functions here decide:

* :func:`plan_fetches` works out per symbol what is missing: a backfill of N years for a
  new symbol, a gap fill when stored bars have holes, or an incremental update. Symbols that
  only miss the last few sessions are served by one *grouped* request per date (the whole
  market in one call) when the provider has one, so a nightly run costs O(1) requests.
  No (symbol, session) is requested twice: a symbol is in one range job, or in the grouped
  job of each session it misses.
* :func:`validate_bars` rejects impossible bars and flags suspicious jumps.
* :func:`assess_quality` measures coverage (share of the required universe with a bar for
  the as-of date) and staleness per symbol.
"""

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from sigmasight.providers.base import BAR_COLUMNS

#: Options are valued by model from their underlying, so their own bars are informational.
NOT_REQUIRED_ROLES = frozenset({"option"})
#: A close-to-close move larger than this is stored but flagged.
SUSPICIOUS_MOVE = 0.5
#: Incremental updates of at most this many sessions go through grouped requests.
MAX_GROUPED_DAYS = 5


@dataclass(frozen=True)
class FetchJob:
    """One provider request pattern: a date range for one symbol, or one grouped date."""

    kind: Literal["range", "grouped"]
    start: dt.date
    end: dt.date
    symbols: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class StoredRange:
    """First and last stored date of a symbol, and how many bars lie between them."""

    first: dt.date
    last: dt.date
    count: int


@dataclass(frozen=True)
class Sessions:
    """NYSE sessions up to the as-of date, with fast counting."""

    days: tuple[dt.date, ...]

    def between(self, start: dt.date, end: dt.date) -> list[dt.date]:
        """Sessions from ``start`` to ``end`` inclusive."""
        lo = bisect.bisect_left(self.days, start)
        hi = bisect.bisect_right(self.days, end)
        return list(self.days[lo:hi])

    def count(self, start: dt.date, end: dt.date) -> int:
        """How many sessions from ``start`` to ``end`` inclusive."""
        return bisect.bisect_right(self.days, end) - bisect.bisect_left(self.days, start)

    def after(self, day: dt.date) -> dt.date | None:
        """The first session strictly after ``day``."""
        index = bisect.bisect_right(self.days, day)
        return self.days[index] if index < len(self.days) else None


def backfill_start(as_of: dt.date, years: int) -> dt.date:
    """``as_of`` minus ``years`` calendar years (29 Feb becomes 28 Feb)."""
    try:
        return as_of.replace(year=as_of.year - years)
    except ValueError:
        return as_of.replace(year=as_of.year - years, day=28)


def plan_fetches(
    symbols: Sequence[str],
    stored: Mapping[str, StoredRange],
    *,
    as_of: dt.date,
    sessions: Sessions,
    backfill_years: int,
    extend_history: bool = False,
    grouped: bool = False,
    skip: frozenset[str] = frozenset(),
) -> list[FetchJob]:
    """Decide, per symbol, what to fetch so that history reaches ``as_of`` with no holes.

    Parameters
    ----------
    symbols : sequence of str
        The universe.
    stored : mapping
        ``symbol -> (first, last, count)`` of bars stored on or before ``as_of``.
    as_of : date
        The session the run is for.
    sessions : Sessions
        NYSE sessions covering the backfill window.
    backfill_years : int
        History to load for a symbol seen for the first time.
    extend_history : bool
        Also load history back to ``as_of - backfill_years`` for symbols whose stored
        history starts later (an explicit ``--backfill-years``).
    grouped : bool
        The provider can return the whole market for one date in one request.
    skip : frozenset of str
        Symbols this provider cannot serve (e.g. options on a vendor without them).

    Returns
    -------
    list of FetchJob
        A symbol is in at most one range job, or else in the grouped jobs of the
        sessions it misses; never both.
    """
    window_start = backfill_start(as_of, backfill_years)
    jobs: list[FetchJob] = []
    grouped_dates: dict[dt.date, list[str]] = defaultdict(list)
    for symbol in sorted(set(symbols) - skip):
        have = stored.get(symbol)
        if have is None:
            jobs.append(FetchJob("range", window_start, as_of, (symbol,), "backfill"))
            continue
        first, last, count = have.first, have.last, have.count
        if sessions.days and first < sessions.days[0]:
            raise ValueError(
                f"{symbol}: stored history starts {first}, before the calendar ({sessions.days[0]}); "
                "holes could not be seen"
            )
        start_target = (
            window_start
            if extend_history and first > window_start + dt.timedelta(days=7)
            else first
        )
        if count < sessions.count(first, last) or start_target < first:
            jobs.append(
                FetchJob(
                    "range",
                    start_target,
                    as_of,
                    (symbol,),
                    "gap" if start_target == first else "extend",
                )
            )
            continue
        if last >= as_of:
            continue
        missing = sessions.between(last + dt.timedelta(days=1), as_of)
        if not missing:
            continue
        if grouped and len(missing) <= MAX_GROUPED_DAYS:
            for day in missing:
                grouped_dates[day].append(symbol)
        else:
            jobs.append(FetchJob("range", missing[0], as_of, (symbol,), "incremental"))
    for day in sorted(grouped_dates):
        jobs.append(FetchJob("grouped", day, day, tuple(grouped_dates[day]), "incremental"))
    return jobs


@dataclass
class ValidationResult:
    """Bars that passed, and what was rejected or flagged, per symbol."""

    good: pd.DataFrame
    rejected: dict[str, list[str]] = field(default_factory=dict)
    flagged: dict[str, list[str]] = field(default_factory=dict)

    @property
    def n_rejected(self) -> int:
        """Number of rejected bars."""
        return sum(len(v) for v in self.rejected.values())


def validate_bars(bars: pd.DataFrame, *, today: dt.date) -> ValidationResult:
    """Reject impossible bars, flag suspicious ones.

    Rejected: a non-positive price, ``low > min(open, close)`` or ``high < max(open,
    close)`` (which covers ``high < low``), a date after ``today``, and every copy of a
    (symbol, date) that appears twice. Flagged (stored with a warning): a close-to-close
    move above 50 %.
    """
    result = ValidationResult(good=bars)
    if bars.empty:
        return result
    frame = bars.reset_index(drop=True)
    prices = frame[["open", "high", "low", "close"]].to_numpy(dtype=np.float64)
    o, h, lo, c = prices.T
    reasons = np.full(len(frame), "", dtype=object)

    def mark(mask: "np.ndarray[tuple[int], np.dtype[np.bool_]]", reason: str) -> None:
        reasons[mask & (reasons == "")] = reason

    priced = [name for name in ("open", "high", "low", "close", "adj_close") if name in frame]
    mark(np.isinf(frame[priced].to_numpy(dtype=np.float64)).any(axis=1), "a price is not finite")
    mark(~(c > 0), "close is missing or not positive")
    with np.errstate(invalid="ignore"):
        # fmin ignores a NaN open or low, so the other one is still checked.
        mark(np.fmin(np.fmin(o, lo), h) <= 0, "a price is not positive")
        mark(h < lo, "high < low")
        mark(lo > np.fmin(o, c), "low above open or close")
        mark(h < np.fmax(o, c), "high below open or close")
    dates = frame["date"]
    mark((dates > today).to_numpy(), f"date after today ({today})")
    mark(
        frame.duplicated(subset=["symbol", "date"], keep=False).to_numpy(),
        "duplicate date in the response",
    )
    bad = reasons != ""
    for index in np.flatnonzero(bad):
        row = frame.iloc[int(index)]
        result.rejected.setdefault(str(row["symbol"]), []).append(
            f"{row['date']}: {reasons[index]}"
        )
    good = frame[~bad].sort_values(["symbol", "date"]).reset_index(drop=True)
    if len(good) > 1:
        close = good["close"].to_numpy(dtype=np.float64)
        same = good["symbol"].to_numpy()[1:] == good["symbol"].to_numpy()[:-1]
        move = close[1:] / close[:-1] - 1.0
        for index in np.flatnonzero(same & (np.abs(move) > SUSPICIOUS_MOVE)):
            row = good.iloc[int(index) + 1]
            result.flagged.setdefault(str(row["symbol"]), []).append(
                f"{row['date']}: close moved {move[index]:+.0%} from the previous bar"
            )
    result.good = good[list(BAR_COLUMNS)]
    return result


@dataclass(frozen=True)
class QualityRow:
    """Data quality of one symbol for the run's as-of date."""

    symbol: str
    roles: tuple[str, ...]
    required: bool
    status: str
    source: str | None
    last_date: dt.date | None
    staleness_sessions: int | None
    issues: tuple[str, ...]


@dataclass(frozen=True)
class QualityReport:
    """Coverage of the required universe and the per-symbol rows."""

    as_of: dt.date
    coverage: float
    required: int
    missing: tuple[str, ...]
    rows: tuple[QualityRow, ...]


def assess_quality(
    universe: Mapping[str, Sequence[str]],
    last: Mapping[str, tuple[dt.date, str]],
    issues: Mapping[str, Sequence[str]],
    *,
    as_of: dt.date,
    sessions: Sessions,
) -> QualityReport:
    """Coverage and staleness: ``ok`` has a bar on ``as_of``, ``stale`` an older one, ``missing`` none."""
    rows = []
    for symbol in sorted(universe):
        roles = tuple(sorted(universe[symbol]))
        required = not set(roles) <= NOT_REQUIRED_ROLES
        found = last.get(symbol)
        if found is None:
            status, source, last_date, stale = "missing", None, None, None
        else:
            last_date, source = found
            stale = max(sessions.count(last_date, as_of) - 1, 0)
            status = "ok" if last_date >= as_of else "stale"
        rows.append(
            QualityRow(
                symbol,
                roles,
                required,
                status,
                source,
                last_date,
                stale,
                tuple(issues.get(symbol, ())),
            )
        )
    required_rows = [r for r in rows if r.required]
    ok = sum(1 for r in required_rows if r.status == "ok")
    coverage = ok / len(required_rows) if required_rows else 1.0
    missing = tuple(r.symbol for r in required_rows if r.status != "ok")
    return QualityReport(as_of, coverage, len(required_rows), missing, tuple(rows))
