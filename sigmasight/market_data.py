"""Market-data logic: what to fetch, how to validate it, and how good the result is.

The flow (``flows/market_data.py``) orders these steps; the functions here decide:

* :func:`plan_fetches` works out per symbol what is missing: a backfill of N years for a
  new symbol, a gap fill when stored bars have holes, or an incremental update. Symbols that
  only miss the last few sessions are served by one *grouped* request per date (the whole
  market in one call) when the provider has one, so a nightly run costs O(1) requests.
  No (symbol, session) is requested twice: a symbol is in one range job, or in the grouped
  job of each session it misses.
* :func:`validate_bars` rejects impossible bars and finds the large close-to-close moves
  (against the previous stored close too); :func:`unexplained_moves` keeps those that no
  split or dividend explains, which the data-quality output flags.
* :func:`plan_action_fetches` decides whose corporate actions to ask for, over which
  ex-dates; :func:`validate_actions` rejects impossible or conflicting actions before they
  are stored (RISK-CONVENTIONS C19-C21).
* :func:`assess_quality` measures coverage (share of the required universe with a bar for
  the as-of date) and staleness per symbol.
"""

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

import numpy as np
import pandas as pd

from sigmasight.domain import ActionSpec
from sigmasight.providers.base import BAR_COLUMNS

#: Options are valued by model from their underlying, so their own bars are informational.
NOT_REQUIRED_ROLES = frozenset({"option"})
#: A close-to-close move larger than this is stored but flagged.
SUSPICIOUS_MOVE = 0.5
#: Incremental updates of at most this many sessions go through grouped requests.
MAX_GROUPED_DAYS = 5
#: A nightly run asks again for the actions of this many calendar days before the last stored
#: bar: vendors list a split or dividend days after its ex-date at times (C21).
ACTION_RECHECK_DAYS = 31
#: Decimal places an action's value is stored with (``corporate_action.value`` numeric(24, 12)).
ACTION_VALUE_STEP = Decimal("1e-12")
#: Largest action value the column holds.
MAX_ACTION_VALUE = Decimal("1e12")


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


@dataclass(frozen=True)
class Move:
    """A close-to-close move of one symbol between two consecutive bars."""

    symbol: str
    previous_date: dt.date
    previous_close: float
    date: dt.date
    close: float

    @property
    def raw(self) -> float:
        """The move as traded: ``close / previous_close - 1``."""
        return self.close / self.previous_close - 1.0


@dataclass
class ValidationResult:
    """Bars that passed, what was rejected per symbol, and the large moves to explain."""

    good: pd.DataFrame
    rejected: dict[str, list[str]] = field(default_factory=dict)
    #: Moves above ``SUSPICIOUS_MOVE`` between good bars (or from the previous stored close);
    #: flagged later unless a split or dividend explains them (:func:`unexplained_moves`).
    moves: list[Move] = field(default_factory=list)

    @property
    def n_rejected(self) -> int:
        """Number of rejected bars."""
        return sum(len(v) for v in self.rejected.values())


def validate_bars(
    bars: pd.DataFrame,
    *,
    today: dt.date,
    previous: Mapping[str, tuple[dt.date, float]] | None = None,
) -> ValidationResult:
    """Reject impossible bars and find the large moves.

    Rejected: a non-positive price, ``low > min(open, close)`` or ``high < max(open,
    close)`` (which covers ``high < low``), a date after ``today``, and every copy of a
    (symbol, date) that appears twice. Moves: a close-to-close move above 50 % between two
    good bars of a symbol, or from ``previous[symbol]`` (the last stored close before the
    symbol's first good bar, as ``(date, close)``) to that bar. The bars are stored either way;
    a move is flagged unless an action explains it (:func:`unexplained_moves`).
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
    result.moves = large_moves(good, previous or {})
    result.good = good[list(BAR_COLUMNS)]
    return result


def large_moves(bars: pd.DataFrame, previous: Mapping[str, tuple[dt.date, float]]) -> list[Move]:
    """Close-to-close moves above ``SUSPICIOUS_MOVE`` in bars sorted by symbol and date.

    The first bar of a symbol is compared with ``previous[symbol]`` when given.
    """
    if bars.empty:
        return []
    symbols = bars["symbol"].to_numpy()
    dates = bars["date"].to_numpy()
    close = bars["close"].to_numpy(dtype=np.float64)
    first = np.ones(len(bars), dtype=bool)
    first[1:] = symbols[1:] != symbols[:-1]
    before_close = np.empty(len(bars))
    before_close[1:] = close[:-1]
    before_date = np.empty(len(bars), dtype=object)
    before_date[1:] = dates[:-1]
    for index in np.flatnonzero(first):
        stored = previous.get(str(symbols[index]))
        before_close[index], before_date[index] = (
            (stored[1], stored[0]) if stored is not None else (np.nan, None)
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        move = close / before_close - 1.0
    hits = np.flatnonzero(np.abs(move) > SUSPICIOUS_MOVE)
    return [
        Move(
            str(symbols[i]),
            before_date[i],
            float(before_close[i]),
            dates[i],
            float(close[i]),
        )
        for i in hits.tolist()
    ]


def unexplained_moves(moves: Iterable[Move], actions: Iterable[ActionSpec]) -> dict[str, list[str]]:
    """The data-quality notes of the moves that no stored split or dividend explains.

    The actions with an ex-date in ``(previous_date, date]`` turn the previous close into the
    basis of ``date`` (C19, C20: divided by a split's ratio, less a dividend); the move is
    explained when what remains is within 50 %. A 4-for-1 split explains a -75 % raw move; an
    action that no move matches (a 4-for-1 split on a day the price stood still) leaves a
    +300 % move, which is flagged with the action named.
    """
    by_symbol: dict[str, list[ActionSpec]] = defaultdict(list)
    for action in actions:
        by_symbol[action.symbol].append(action)
    notes: dict[str, list[str]] = {}
    seen: set[tuple[str, dt.date]] = set()
    for move in sorted(moves, key=lambda m: (m.symbol, m.date)):
        if (move.symbol, move.date) in seen:
            continue
        seen.add((move.symbol, move.date))
        between = sorted(
            (
                a
                for a in by_symbol.get(move.symbol, ())
                if move.previous_date < a.ex_date <= move.date
            ),
            key=lambda a: (a.ex_date, a.kind != "split"),
        )
        base = move.previous_close
        for action in between:
            base = (
                base / float(action.value) if action.kind == "split" else base - float(action.value)
            )
        adjusted = move.close / base - 1.0 if base > 0 else float("inf")
        if abs(adjusted) <= SUSPICIOUS_MOVE:
            continue
        text = (
            f"{move.date}: close moved {move.raw:+.0%} from the previous bar ({move.previous_date})"
        )
        if between:
            named = ", ".join(describe_action(a) for a in between)
            shown = f"{adjusted:+.0%}" if base > 0 else "undefined (the dividends exceed the close)"
            text += f"; after {named} it is still {shown}"
        else:
            text += "; no split or dividend explains it"
        notes.setdefault(move.symbol, []).append(text)
    return notes


def describe_action(action: ActionSpec) -> str:
    """``split 4 ex 2025-06-09`` / ``dividend 0.25 ex 2025-02-10``: an action in a message."""
    kind = "split" if action.kind == "split" else "dividend"
    return f"{kind} {format_value(action.value)} ex {action.ex_date}"


def format_value(value: Decimal) -> str:
    """A value without trailing zeros or an exponent (``4``, ``0.1``, ``0.25``)."""
    return format(value.normalize(), "f")


# --------------------------------------------------------------------------- corporate actions


@dataclass(frozen=True)
class ActionJob:
    """Whose actions to ask for, over which ex-dates: one symbol, or many in one market call."""

    kind: Literal["symbol", "market"]
    start: dt.date
    end: dt.date
    symbols: tuple[str, ...]


def plan_action_fetches(
    price_jobs: Sequence[FetchJob],
    stored: Mapping[str, StoredRange],
    *,
    as_of: dt.date,
    market_wide: bool,
    recheck_days: int = ACTION_RECHECK_DAYS,
) -> list[ActionJob]:
    """Ask for each symbol's actions once, over the ex-dates its price fetch covers.

    A symbol whose history is loaded (backfill, extension, gap) gets its actions over the
    same range. A symbol updated incrementally gets the ex-dates since its last stored bar
    less ``recheck_days`` (a vendor may list an action days after its ex-date). When the
    provider lists the whole market's actions (``market_wide``), the symbols of the grouped
    (nightly) jobs share one market request over a few weeks; a symbol further behind is
    asked alone, so the market listing never spans months. A symbol without a price job is
    up to date: its actions were asked for with its bars. Option contracts have no actions
    of their own (their underlying's apply).
    """
    alone: dict[str, dt.date] = {}
    nightly: dict[str, dt.date] = {}
    for job in price_jobs:
        for symbol in job.symbols:
            if symbol.startswith("O:"):
                continue
            if job.reason == "incremental":
                have = stored.get(symbol)
                start = (have.last if have is not None else job.start) - dt.timedelta(
                    days=recheck_days
                )
            else:
                start = job.start
            target = nightly if job.kind == "grouped" else alone
            target[symbol] = min(start, target.get(symbol, start))
    for symbol in alone:
        nightly.pop(symbol, None)
    if not (market_wide and len(nightly) > 1):
        alone.update(nightly)
        nightly = {}
    jobs = [ActionJob("symbol", start, as_of, (symbol,)) for symbol, start in sorted(alone.items())]
    if nightly:
        jobs.append(ActionJob("market", min(nightly.values()), as_of, tuple(sorted(nightly))))
    return jobs


def action_problem(
    action: ActionSpec,
    *,
    previous_close: tuple[dt.date, float] | None,
    is_session: Callable[[dt.date], bool],
) -> str | None:
    """Why ``action`` cannot be stored, or None (RISK-CONVENTIONS C19, C20).

    A split ratio or dividend that is not positive (or too large for the column), an ex-date
    that is not an NYSE session, and a dividend not below the close of the session before the
    ex-date (``previous_close``, when one is stored) are refused.
    """
    what = "split ratio" if action.kind == "split" else "dividend"
    if not action.value > 0:
        return f"{what} {format_value(action.value)} is not positive"
    if action.value >= MAX_ACTION_VALUE:
        return f"{what} {format_value(action.value)} is too large (must be below 1e12)"
    if not is_session(action.ex_date):
        return f"ex-date {action.ex_date} ({action.ex_date:%A}) is not an NYSE session"
    if action.kind == "cash_dividend" and previous_close is not None:
        day, close = previous_close
        if float(action.value) >= close:
            return (
                f"dividend {format_value(action.value)} is not below the previous close "
                f"{close:g} ({day})"
            )
    return None


@dataclass
class ActionValidation:
    """Actions that may be stored, those new to the database, and the rejected ones."""

    good: list[ActionSpec] = field(default_factory=list)
    #: The good actions that were not stored before (an identical stored one is not new).
    new: list[ActionSpec] = field(default_factory=list)
    rejected: dict[str, list[str]] = field(default_factory=dict)

    @property
    def n_rejected(self) -> int:
        """Number of rejected actions."""
        return sum(len(v) for v in self.rejected.values())


ActionKey = tuple[str, dt.date, str]


def validate_actions(
    actions: Iterable[ActionSpec],
    *,
    stored: Mapping[ActionKey, tuple[Decimal, str]],
    previous_closes: Mapping[tuple[str, dt.date], tuple[dt.date, float]],
    is_session: Callable[[dt.date], bool],
) -> ActionValidation:
    """Check a vendor's actions before storing them; the rejected go to the data-quality output.

    Values are rounded to the stored 12 decimals first. Besides :func:`action_problem`: two
    actions of one (symbol, ex-date, kind) with different values are both rejected (the same
    one twice counts once), and so is one whose stored twin (``stored``: key to value and
    source) has another value; the stored one stays.
    """
    result = ActionValidation()
    grouped: dict[ActionKey, list[Decimal]] = {}
    for action in actions:
        value = action.value
        if value.is_finite() and abs(value) < MAX_ACTION_VALUE:
            value = value.quantize(ACTION_VALUE_STEP)
        values = grouped.setdefault((action.symbol, action.ex_date, action.kind), [])
        if value not in values:
            values.append(value)
    for key, values in sorted(grouped.items()):
        symbol, ex_date, kind = key
        label = f"{'split' if kind == 'split' else 'dividend'} ex {ex_date}"
        if len(values) > 1:
            shown = ", ".join(format_value(v) for v in values)
            result.rejected.setdefault(symbol, []).append(
                f"{label}: rejected, the answer has it twice with different values ({shown})"
            )
            continue
        action = ActionSpec(
            symbol, ex_date, "split" if kind == "split" else "cash_dividend", values[0]
        )
        problem = action_problem(
            action, previous_close=previous_closes.get((symbol, ex_date)), is_session=is_session
        )
        if problem is not None:
            result.rejected.setdefault(symbol, []).append(f"{label}: rejected, {problem}")
            continue
        twin = stored.get(key)
        if twin is not None and twin[0] != action.value:
            result.rejected.setdefault(symbol, []).append(
                f"{label}: rejected, {format_value(action.value)} differs from the stored "
                f"{format_value(twin[0])} (from {twin[1]}), which stays"
            )
            continue
        result.good.append(action)
        if twin is None:
            result.new.append(action)
    return result


def late_actions(
    actions: Iterable[ActionSpec], last_stored: Mapping[str, dt.date]
) -> list[ActionSpec]:
    """Actions that arrived after the fact (C21).

    Their ex-date is on or before the symbol's last bar stored before this run, so stored
    figures of dates from the ex-date on were computed without them.
    """
    return [a for a in actions if a.symbol in last_stored and a.ex_date <= last_stored[a.symbol]]


def by_symbol(actions: Iterable[ActionSpec]) -> dict[str, list[ActionSpec]]:
    """Actions grouped by symbol, each group by ex-date."""
    grouped: dict[str, list[ActionSpec]] = defaultdict(list)
    for action in sorted(actions, key=lambda a: (a.symbol, a.ex_date, a.kind)):
        grouped[action.symbol].append(action)
    return dict(grouped)


def restatement_note(
    actions: Sequence[ActionSpec], dates: Sequence[dt.date], portfolios: int
) -> str:
    """The data-quality note of one symbol's late actions: what they change, how to re-run (C21).

    The changed dates are those from the earliest ex-date on, so one note covers them all.
    """
    named = ", ".join(describe_action(a) for a in actions[:5])
    if len(actions) > 5:
        named += f" and {len(actions) - 5} more"
    verb = "arrived" if len(actions) == 1 else f"({len(actions)} actions) arrived"
    head = f"{named} {verb} after bars from the ex-date were stored"
    symbol = actions[0].symbol
    if not dates:
        return f"{head}; no stored risk date holds {symbol}, nothing to re-run"
    shown = ", ".join(str(d) for d in dates[:5]) + (", ..." if len(dates) > 5 else "")
    return (
        f"{head}: {'it changes' if len(actions) == 1 else 'they change'} the figures of "
        f"{len(dates)} stored risk date{'s' if len(dates) > 1 else ''} of {portfolios} "
        f"portfolio{'s' if portfolios > 1 else ''} ({shown}); re-run them with "
        f"`sigmasight run risk --from {dates[0]} --to {dates[-1]}`"
    )


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
class Restatement:
    """A symbol's late actions (C21) and the stored risk dates whose figures they change."""

    symbol: str
    #: Each action as in messages: ``split 4 ex 2026-10-05``.
    actions: tuple[str, ...]
    dates: tuple[dt.date, ...]
    portfolios: tuple[str, ...]


@dataclass(frozen=True)
class QualityReport:
    """Coverage of the required universe, the per-symbol rows and the late actions."""

    as_of: dt.date
    coverage: float
    required: int
    missing: tuple[str, ...]
    rows: tuple[QualityRow, ...]
    restated: tuple[Restatement, ...] = ()


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
