"""Pure logic of the market-data run: fetch planning, bar validation, quality report.

No database and no network: sessions come from the real NYSE calendar (exchange_calendars).
"""

import datetime as dt
import random
from collections import Counter
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sigmasight.market_data import (
    MAX_GROUPED_DAYS,
    FetchJob,
    Move,
    Sessions,
    StoredRange,
    assess_quality,
    backfill_start,
    plan_fetches,
    unexplained_moves,
    validate_bars,
)
from sigmasight.providers.base import BAR_COLUMNS
from sigmasight.runs.market_data import MarketDataPlan
from sigmasight.trading_calendar import sessions as nyse_sessions

#: A Monday: the sessions before it are Fri 28 Nov, Wed 26 Nov (Thanksgiving on Thu 27 Nov),
#: Tue 25 Nov, Mon 24 Nov, Fri 21 Nov.
AS_OF = dt.date(2025, 12, 1)
YEARS = 2
THANKSGIVING = dt.date(2025, 11, 27)


@cache
def nyse(start: dt.date = dt.date(2020, 1, 2), end: dt.date = AS_OF) -> Sessions:
    return Sessions(tuple(nyse_sessions(start, end)))


def behind(n: int, as_of: dt.date = AS_OF) -> dt.date:
    """The session ``n`` sessions before ``as_of`` (``as_of`` itself for 0)."""
    days = nyse().days
    return days[days.index(as_of) - n]


def full(first: dt.date, last: dt.date) -> StoredRange:
    """A stored history with no holes."""
    return StoredRange(first, last, nyse().count(first, last))


def plan(symbols: Any, stored: Any, **kwargs: Any) -> list[FetchJob]:
    options: dict[str, Any] = {"as_of": AS_OF, "sessions": nyse(), "backfill_years": YEARS}
    options.update(kwargs)
    return plan_fetches(symbols, stored, **options)


WINDOW_START = backfill_start(AS_OF, YEARS)
OLD_FIRST = dt.date(2023, 12, 4)  # a session shortly after the window start


# --------------------------------------------------------------------------- plan_fetches


def test_sessions_helper_uses_the_real_calendar():
    assert THANKSGIVING not in nyse().days
    assert [behind(n) for n in range(1, 4)] == [
        dt.date(2025, 11, 28),
        dt.date(2025, 11, 26),
        dt.date(2025, 11, 25),
    ]
    assert nyse().count(dt.date(2025, 11, 28), AS_OF) == 2
    assert nyse().after(dt.date(2025, 11, 26)) == dt.date(2025, 11, 28)
    assert nyse().after(AS_OF) is None


@pytest.mark.parametrize("grouped", [False, True])
def test_new_symbol_gets_one_backfill_range(grouped):
    jobs = plan(["NEW"], {}, grouped=grouped)
    assert jobs == [FetchJob("range", dt.date(2023, 12, 1), AS_OF, ("NEW",), "backfill")]
    assert jobs[0].start == backfill_start(AS_OF, YEARS)


@pytest.mark.parametrize("years", [1, 3, 5])
def test_backfill_length_follows_backfill_years(years):
    (job,) = plan(["NEW"], {}, backfill_years=years)
    assert job.start == AS_OF.replace(year=AS_OF.year - years)
    assert job.end == AS_OF


@pytest.mark.parametrize("grouped", [False, True])
@pytest.mark.parametrize("last", [AS_OF, behind(1), behind(3), behind(20)])
def test_symbol_with_a_hole_gets_one_gap_range_from_its_first_date(grouped, last):
    stored = full(OLD_FIRST, last)
    holed = StoredRange(stored.first, stored.last, stored.count - 1)
    jobs = plan(["HOLE"], {"HOLE": holed}, grouped=grouped)
    assert jobs == [FetchJob("range", OLD_FIRST, AS_OF, ("HOLE",), "gap")]


@pytest.mark.parametrize("grouped", [False, True])
@pytest.mark.parametrize("extend_history", [False, True])
def test_up_to_date_symbol_gets_nothing(grouped, extend_history):
    stored = {"OK": full(OLD_FIRST, AS_OF)}
    assert plan(["OK"], stored, grouped=grouped, extend_history=extend_history) == []


@pytest.mark.parametrize("n", range(1, MAX_GROUPED_DAYS + 1))
def test_recently_behind_goes_to_one_grouped_job_per_missing_date(n):
    jobs = plan(["AAA"], {"AAA": full(OLD_FIRST, behind(n))}, grouped=True)
    missing = [behind(k) for k in range(n - 1, -1, -1)]
    assert jobs == [FetchJob("grouped", day, day, ("AAA",), "incremental") for day in missing]


@pytest.mark.parametrize("n", range(1, MAX_GROUPED_DAYS + 1))
def test_recently_behind_without_grouped_goes_to_one_incremental_range(n):
    jobs = plan(["AAA"], {"AAA": full(OLD_FIRST, behind(n))}, grouped=False)
    assert jobs == [FetchJob("range", behind(n - 1), AS_OF, ("AAA",), "incremental")]


@pytest.mark.parametrize("n", [MAX_GROUPED_DAYS + 1, MAX_GROUPED_DAYS + 2, 30])
def test_more_than_max_grouped_days_behind_goes_to_an_incremental_range(n):
    jobs = plan(["AAA"], {"AAA": full(OLD_FIRST, behind(n))}, grouped=True)
    assert jobs == [FetchJob("range", behind(n - 1), AS_OF, ("AAA",), "incremental")]


def test_incremental_range_starts_at_the_first_missing_session_not_a_holiday():
    # Last bar Wednesday before Thanksgiving: the first missing session is Friday.
    jobs = plan(["AAA"], {"AAA": full(OLD_FIRST, dt.date(2025, 11, 26))})
    assert jobs == [FetchJob("range", dt.date(2025, 11, 28), AS_OF, ("AAA",), "incremental")]


@pytest.mark.parametrize("grouped", [False, True])
def test_extend_history_loads_back_to_the_window_start(grouped):
    late_first = dt.date(2025, 6, 2)
    stored = {"LATE": full(late_first, AS_OF)}
    jobs = plan(["LATE"], stored, extend_history=True, grouped=grouped)
    assert jobs == [FetchJob("range", WINDOW_START, AS_OF, ("LATE",), "extend")]
    # Without the option the same history is left alone.
    assert plan(["LATE"], stored, grouped=grouped) == []


def test_extend_history_also_covers_a_behind_symbol_in_one_job():
    stored = {"LATE": full(dt.date(2025, 6, 2), behind(2))}
    jobs = plan(["LATE"], stored, extend_history=True, grouped=True)
    assert jobs == [FetchJob("range", WINDOW_START, AS_OF, ("LATE",), "extend")]


def test_extend_history_ignores_a_first_date_within_a_week_of_the_window_start():
    # The window starts on a Monday; history from the following Wednesday is close enough.
    stored = {"AAA": full(WINDOW_START + dt.timedelta(days=2), AS_OF)}
    assert plan(["AAA"], stored, extend_history=True) == []


@pytest.mark.parametrize("grouped", [False, True])
def test_skipped_symbols_get_no_job(grouped):
    stored = {"HOLE": StoredRange(OLD_FIRST, AS_OF, 3), "BEHIND": full(OLD_FIRST, behind(1))}
    skip = frozenset({"NEW", "HOLE", "BEHIND"})
    jobs = plan(["NEW", "HOLE", "BEHIND", "KEEP"], stored, grouped=grouped, skip=skip)
    assert jobs == [FetchJob("range", WINDOW_START, AS_OF, ("KEEP",), "backfill")]


def test_duplicate_symbols_in_the_universe_are_planned_once():
    jobs = plan(["NEW", "NEW", "AAA", "AAA"], {"AAA": full(OLD_FIRST, behind(1))}, grouped=True)
    assert jobs == [
        FetchJob("range", WINDOW_START, AS_OF, ("NEW",), "backfill"),
        FetchJob("grouped", AS_OF, AS_OF, ("AAA",), "incremental"),
    ]


def test_nightly_run_of_5000_symbols_one_session_behind_is_one_grouped_job():
    symbols = [f"S{i:04d}" for i in range(5000)]
    stored = dict.fromkeys(symbols, full(OLD_FIRST, behind(1)))
    jobs = plan(symbols, stored, grouped=True)
    assert len(jobs) == 1
    (job,) = jobs
    assert (job.kind, job.start, job.end, job.reason) == ("grouped", AS_OF, AS_OF, "incremental")
    assert sorted(job.symbols) == symbols


def test_holiday_and_weekend_are_never_grouped_dates():
    # Last bar on Friday 21 Nov: Mon, Tue, Wed, (not Thanksgiving), Fri, (not the weekend), Mon.
    jobs = plan(["AAA"], {"AAA": full(OLD_FIRST, dt.date(2025, 11, 21))}, grouped=True)
    dates = [job.start for job in jobs]
    assert dates == [
        dt.date(2025, 11, 24),
        dt.date(2025, 11, 25),
        dt.date(2025, 11, 26),
        dt.date(2025, 11, 28),
        dt.date(2025, 12, 1),
    ]
    assert THANKSGIVING not in dates
    assert all(day.weekday() < 5 for day in dates)


@pytest.mark.parametrize(
    "as_of",
    [dt.date(2025, 11, 28), dt.date(2025, 12, 1), dt.date(2025, 12, 26), dt.date(2025, 7, 7)],
)
def test_grouped_dates_around_holidays_are_sessions(as_of):
    sess = nyse(dt.date(2020, 1, 2), as_of)
    start = sess.days[sess.days.index(as_of) - MAX_GROUPED_DAYS]
    stored = {"AAA": StoredRange(OLD_FIRST, start, sess.count(OLD_FIRST, start))}
    jobs = plan_fetches(
        ["AAA"], stored, as_of=as_of, sessions=sess, backfill_years=YEARS, grouped=True
    )
    assert len(jobs) == MAX_GROUPED_DAYS
    holidays = {dt.date(2025, 11, 27), dt.date(2025, 12, 25), dt.date(2025, 7, 4)}
    for job in jobs:
        assert job.kind == "grouped"
        assert job.start in sess.days
        assert job.start not in holidays
        assert job.start.weekday() < 5


STATES = ("new", "hole", "ok", "behind", "far", "extend", "skip")


def random_universe(
    seed: int, *, nightly: bool, size: int = 200
) -> tuple[list[str], dict[str, StoredRange], frozenset[str], dict[str, str]]:
    """A random mix of symbol states; ``nightly``: nobody is 2 to 5 sessions behind."""
    rng = random.Random(seed)
    recent = 1 if nightly else MAX_GROUPED_DAYS
    symbols: list[str] = []
    stored: dict[str, StoredRange] = {}
    skip: set[str] = set()
    state: dict[str, str] = {}
    for i in range(size):
        symbol = f"S{i:03d}"
        kind = rng.choice(STATES)
        symbols.append(symbol)
        state[symbol] = kind
        if kind == "new":
            continue
        if kind == "skip":
            skip.add(symbol)
            if rng.random() < 0.5:
                stored[symbol] = full(OLD_FIRST, behind(rng.randint(1, 3)))
            continue
        last = {
            "hole": behind(rng.randint(0, 10)),
            "ok": AS_OF,
            "behind": behind(rng.randint(1, recent)),
            "far": behind(rng.randint(MAX_GROUPED_DAYS + 1, 40)),
            "extend": behind(rng.randint(0, recent)),
        }[kind]
        first = dt.date(2025, 3, 3) if kind == "extend" else OLD_FIRST
        stored[symbol] = full(first, last)
        if kind == "hole":
            stored[symbol] = StoredRange(first, last, stored[symbol].count - rng.randint(1, 5))
    # Some symbols twice in the universe, in random order.
    symbols += rng.sample(symbols, 20)
    rng.shuffle(symbols)
    return symbols, stored, frozenset(skip), state


def requested_sessions(job: FetchJob) -> list[tuple[str, dt.date]]:
    return [(s, day) for s in job.symbols for day in nyse().between(job.start, job.end)]


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("nightly", [True, False])
@pytest.mark.parametrize("grouped", [False, True])
@pytest.mark.parametrize("extend_history", [False, True])
def test_every_symbol_is_fetched_once(seed, nightly, grouped, extend_history):
    symbols, stored, skip, state = random_universe(seed, nightly=nightly)
    jobs = plan(symbols, stored, grouped=grouped, extend_history=extend_history, skip=skip)
    range_jobs = [job for job in jobs if job.kind == "range"]
    grouped_jobs = [job for job in jobs if job.kind == "grouped"]

    planned = Counter(s for job in jobs for s in job.symbols)
    assert set(planned) <= set(symbols) - skip
    if nightly or not grouped:
        # Nobody misses more than one grouped date: the multiset has no duplicates at all.
        assert max(planned.values()) == 1
    # In general: at most one range job per symbol, never both a range and a grouped job,
    # and no (symbol, session) requested twice.
    in_ranges = Counter(s for job in range_jobs for s in job.symbols)
    in_grouped = {s for job in grouped_jobs for s in job.symbols}
    assert max(in_ranges.values(), default=1) == 1
    assert not set(in_ranges) & in_grouped
    pairs = Counter(pair for job in jobs for pair in requested_sessions(job))
    assert max(pairs.values()) == 1

    for job in range_jobs:
        assert len(job.symbols) == 1
        assert job.end == AS_OF
    for job in grouped_jobs:
        assert job.start == job.end
        assert job.reason == "incremental"
        assert len(set(job.symbols)) == len(job.symbols)

    # The grouped jobs are exactly the missing dates of the recently-behind symbols.
    expected: dict[dt.date, set[str]] = {}
    if grouped:
        for symbol, kind in state.items():
            if kind == "behind" or (kind == "extend" and not extend_history):
                have = stored[symbol]
                missing = nyse().between(have.last + dt.timedelta(days=1), AS_OF)
                if 0 < len(missing) <= MAX_GROUPED_DAYS:
                    for day in missing:
                        expected.setdefault(day, set()).add(symbol)
    got = {job.start: set(job.symbols) for job in grouped_jobs}
    assert got == expected
    assert len(grouped_jobs) == len(expected)
    if nightly and grouped:
        assert len(grouped_jobs) <= 1

    # Every symbol that needs something gets a job with the right reason.
    reasons = {job.symbols[0]: job.reason for job in range_jobs}
    for symbol, kind in state.items():
        if kind in ("skip", "ok"):
            assert symbol not in planned
        elif kind == "new":
            assert reasons[symbol] == "backfill"
        elif kind == "hole":
            assert reasons[symbol] == "gap"
        elif kind == "far":
            assert reasons[symbol] == "incremental"
        elif kind == "behind":
            assert symbol in (in_grouped if grouped else in_ranges)
        elif kind == "extend" and extend_history:
            assert reasons[symbol] == "extend"


def test_hole_is_found_when_history_starts_long_before_the_backfill_window():
    # ingest builds the calendar from the earliest stored first date.
    first = dt.date(2018, 1, 2)
    window = nyse(first, AS_OF)
    complete = len(nyse_sessions(first, AS_OF))
    holed = StoredRange(first, AS_OF, complete - 10)  # ten sessions missing somewhere
    jobs = plan(["OLD"], {"OLD": holed}, sessions=window)
    assert jobs == [FetchJob("range", first, AS_OF, ("OLD",), "gap")]


def test_a_calendar_that_does_not_cover_stored_history_is_refused():
    window = nyse(backfill_start(AS_OF, YEARS + 1), AS_OF)
    old = StoredRange(dt.date(2018, 1, 2), AS_OF, 1980)
    with pytest.raises(ValueError, match="OLD"):
        plan(["OLD"], {"OLD": old}, sessions=window)


# --------------------------------------------------------------------------- backfill_start


@pytest.mark.parametrize(
    ("as_of", "years", "expected"),
    [
        (dt.date(2024, 2, 29), 1, dt.date(2023, 2, 28)),
        (dt.date(2024, 2, 29), 2, dt.date(2022, 2, 28)),
        (dt.date(2024, 2, 29), 4, dt.date(2020, 2, 29)),
        (dt.date(2024, 2, 28), 1, dt.date(2023, 2, 28)),
        (dt.date(2024, 3, 1), 1, dt.date(2023, 3, 1)),
        (dt.date(2025, 12, 1), 0, dt.date(2025, 12, 1)),
    ],
)
def test_backfill_start(as_of, years, expected):
    assert backfill_start(as_of, years) == expected


# --------------------------------------------------------------------------- chunks


def range_job(symbol: str) -> FetchJob:
    return FetchJob("range", WINDOW_START, AS_OF, (symbol,), "backfill")


def grouped_job(day: dt.date, *symbols: str) -> FetchJob:
    return FetchJob("grouped", day, day, symbols, "incremental")


def make_plan(jobs: list[FetchJob]) -> MarketDataPlan:
    return MarketDataPlan(
        as_of=AS_OF,
        price_provider="synthetic",
        profile_provider="synthetic",
        rate_provider="synthetic",
        universe={},
        jobs=tuple(jobs),
    )


def test_chunks_put_grouped_jobs_alone_and_split_ranges_by_size():
    g1 = grouped_job(behind(1), "A", "B")
    g2 = grouped_job(AS_OF, "A", "B", "C")
    ranges = [range_job(f"R{i}") for i in range(7)]
    chunks = make_plan([ranges[0], g1, *ranges[1:4], g2, *ranges[4:]]).chunks(3)
    assert chunks == [[g1], [g2], ranges[0:3], ranges[3:6], ranges[6:7]]


@pytest.mark.parametrize("size", [1, 2, 5, 50, 1000])
@pytest.mark.parametrize(("n_ranges", "n_grouped"), [(0, 0), (0, 3), (10, 0), (37, 5)])
def test_chunks_lose_nothing(size, n_ranges, n_grouped):
    jobs = [range_job(f"R{i}") for i in range(n_ranges)]
    jobs += [grouped_job(behind(i), "A") for i in range(n_grouped)]
    random.Random(size + n_ranges).shuffle(jobs)
    chunks = make_plan(jobs).chunks(size)
    flat = [job for chunk in chunks for job in chunk]
    assert Counter(flat) == Counter(jobs)
    assert all(chunk for chunk in chunks)
    for chunk in chunks:
        if any(job.kind == "grouped" for job in chunk):
            assert len(chunk) == 1
        else:
            assert len(chunk) <= size
    expected_chunks = n_grouped + -(-n_ranges // size)
    assert len(chunks) == expected_chunks


# --------------------------------------------------------------------------- validate_bars

TODAY = dt.date(2025, 12, 2)


def bar(
    symbol: str = "AAA",
    date: dt.date = dt.date(2025, 11, 28),
    open_: float = 100.0,
    high: float = 102.0,
    low: float = 99.0,
    close: float = 101.0,
    **extra: Any,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "symbol": symbol,
        "date": date,
        "open": open_,
        "high": high,
        "low": low,
        "close": close,
        "adj_close": close,
        "volume": 1_000.0,
        "vendor_status": None,
    }
    row.update(extra)
    return row


def frame(*rows: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=list(BAR_COLUMNS))


def test_good_bars_pass_sorted_with_exactly_bar_columns():
    rows = [
        bar("BBB", dt.date(2025, 11, 28)),
        bar("AAA", dt.date(2025, 12, 1)),
        bar("BBB", dt.date(2025, 11, 26)),
        bar("AAA", dt.date(2025, 11, 26)),
    ]
    bars = pd.DataFrame(rows).assign(extra="x")[["extra", *reversed(BAR_COLUMNS)]]
    result = validate_bars(bars, today=TODAY)
    assert list(result.good.columns) == list(BAR_COLUMNS)
    assert list(zip(result.good["symbol"], result.good["date"], strict=True)) == [
        ("AAA", dt.date(2025, 11, 26)),
        ("AAA", dt.date(2025, 12, 1)),
        ("BBB", dt.date(2025, 11, 26)),
        ("BBB", dt.date(2025, 11, 28)),
    ]
    assert list(result.good.index) == [0, 1, 2, 3]
    assert result.rejected == {}
    assert result.moves == []
    assert result.n_rejected == 0


@pytest.mark.parametrize(
    ("prices", "reason"),
    [
        ({"high": 98.0, "low": 99.5, "open_": 99.0, "close": 99.0}, "high < low"),
        ({"low": 100.5, "open_": 100.0, "close": 101.0}, "low above open or close"),
        ({"low": 101.5, "open_": 102.0, "close": 101.0}, "low above open or close"),
        ({"high": 100.5, "open_": 101.0, "close": 100.0}, "high below open or close"),
        ({"high": 100.5, "open_": 100.0, "close": 101.0}, "high below open or close"),
        ({"close": 0.0, "low": 0.0}, "close is missing or not positive"),
        ({"close": -1.0, "low": -2.0}, "close is missing or not positive"),
        ({"close": float("nan")}, "close is missing or not positive"),
        ({"open_": 0.0, "low": 0.0}, "a price is not positive"),
        ({"open_": -5.0, "low": -5.0}, "a price is not positive"),
    ],
)
def test_impossible_bars_are_rejected(prices, reason):
    day = dt.date(2025, 11, 28)
    bars = frame(bar("GOOD", day), bar("BAD", day, **prices))
    result = validate_bars(bars, today=TODAY)
    assert list(result.good["symbol"]) == ["GOOD"]
    assert result.rejected == {"BAD": [f"2025-11-28: {reason}"]}
    assert result.n_rejected == 1


def test_a_date_after_today_is_rejected():
    bars = frame(bar(date=TODAY), bar(date=TODAY + dt.timedelta(days=1)))
    result = validate_bars(bars, today=TODAY)
    assert list(result.good["date"]) == [TODAY]
    assert result.rejected == {"AAA": ["2025-12-03: date after today (2025-12-02)"]}


def test_both_copies_of_a_duplicated_date_are_rejected():
    day = dt.date(2025, 11, 26)
    bars = frame(
        bar("AAA", day, close=101.0),
        bar("AAA", dt.date(2025, 11, 28)),
        bar("AAA", day, close=100.5),
        bar("BBB", day),  # same date, other symbol: fine
    )
    result = validate_bars(bars, today=TODAY)
    assert list(zip(result.good["symbol"], result.good["date"], strict=True)) == [
        ("AAA", dt.date(2025, 11, 28)),
        ("BBB", day),
    ]
    assert result.rejected == {"AAA": ["2025-11-26: duplicate date in the response"] * 2}
    assert result.n_rejected == 2


def test_rejections_are_collected_per_symbol_with_date_and_reason():
    bars = frame(
        bar("AAA", dt.date(2025, 11, 25), close=-1.0, low=-1.0),
        bar("AAA", dt.date(2025, 11, 26), high=90.0),
        bar("BBB", dt.date(2025, 11, 26), low=100.5),
        bar("BBB", dt.date(2025, 11, 28)),
    )
    result = validate_bars(bars, today=TODAY)
    assert result.rejected == {
        "AAA": [
            "2025-11-25: close is missing or not positive",
            "2025-11-26: high < low",
        ],
        "BBB": ["2025-11-26: low above open or close"],
    }
    assert result.n_rejected == 3
    assert list(result.good["symbol"]) == ["BBB"]


def test_a_60_percent_jump_is_kept_and_reported_as_a_move():
    bars = frame(
        bar("AAA", dt.date(2025, 11, 26), 100.0, 101.0, 99.0, 100.0),
        bar("AAA", dt.date(2025, 11, 28), 150.0, 165.0, 150.0, 160.0),
        bar("AAA", dt.date(2025, 12, 1), 160.0, 170.0, 155.0, 165.0),
    )
    result = validate_bars(bars, today=TODAY)
    assert len(result.good) == 3
    assert result.rejected == {}
    assert result.moves == [Move("AAA", dt.date(2025, 11, 26), 100.0, dt.date(2025, 11, 28), 160.0)]
    assert unexplained_moves(result.moves, []) == {
        "AAA": [
            "2025-11-28: close moved +60% from the previous bar (2025-11-26); "
            "no split or dividend explains it"
        ]
    }


def test_moves_are_only_compared_within_one_symbol():
    bars = frame(
        bar("AAA", dt.date(2025, 11, 28), 10.0, 11.0, 9.0, 10.0),
        bar("BBB", dt.date(2025, 11, 26), 100.0, 101.0, 99.0, 100.0),
        bar("BBB", dt.date(2025, 11, 28), 140.0, 150.0, 139.0, 149.0),  # +49 %: fine
    )
    result = validate_bars(bars, today=TODAY)
    assert result.moves == []
    assert len(result.good) == 3


def test_a_60_percent_fall_keeps_its_sign():
    bars = frame(
        bar("AAA", dt.date(2025, 11, 26), 100.0, 101.0, 99.0, 100.0),
        bar("AAA", dt.date(2025, 11, 28), 40.0, 41.0, 39.0, 40.0),
    )
    notes = unexplained_moves(validate_bars(bars, today=TODAY).moves, [])
    assert notes["AAA"][0].startswith("2025-11-28: close moved -60% from the previous bar")


def test_the_first_bar_is_compared_with_the_previous_stored_close():
    # A nightly run fetches one bar per symbol: the move into it is against the stored close.
    bars = frame(
        bar("AAA", dt.date(2025, 12, 1), 25.0, 26.0, 24.0, 25.0),
        bar("BBB", dt.date(2025, 12, 1), 99.0, 101.0, 98.0, 100.0),
    )
    previous = {"AAA": (dt.date(2025, 11, 28), 100.0), "BBB": (dt.date(2025, 11, 28), 99.0)}
    result = validate_bars(bars, today=TODAY, previous=previous)
    assert result.moves == [Move("AAA", dt.date(2025, 11, 28), 100.0, dt.date(2025, 12, 1), 25.0)]
    assert result.moves[0].raw == pytest.approx(-0.75)


def test_a_negative_low_is_rejected_even_when_open_is_missing():
    bars = frame(bar(open_=float("nan"), low=-1.0, high=102.0, close=101.0))
    result = validate_bars(bars, today=TODAY)
    assert result.good.empty
    assert result.n_rejected == 1


def test_an_empty_frame_passes_through():
    bars = frame()
    result = validate_bars(bars, today=TODAY)
    assert result.good.empty
    assert list(result.good.columns) == list(BAR_COLUMNS)
    assert result.rejected == {}
    assert result.moves == []
    assert result.n_rejected == 0


def test_all_rejected_leaves_an_empty_good_frame_with_bar_columns():
    bars = frame(bar(close=float("nan")), bar(date=TODAY + dt.timedelta(days=3)))
    result = validate_bars(bars, today=TODAY)
    assert result.good.empty
    assert list(result.good.columns) == list(BAR_COLUMNS)
    assert result.n_rejected == 2


def test_good_prices_are_not_altered():
    rows = [bar("AAA", dt.date(2025, 11, 26), 1.5, 2.25, 1.25, 2.0, adj_close=np.nan)]
    result = validate_bars(frame(*rows), today=TODAY)
    got = result.good.iloc[0]
    assert (got["open"], got["high"], got["low"], got["close"]) == (1.5, 2.25, 1.25, 2.0)
    assert np.isnan(got["adj_close"])


# --------------------------------------------------------------------------- assess_quality

MONDAY = dt.date(2025, 12, 1)
FRIDAY = dt.date(2025, 11, 28)


def test_quality_statuses_staleness_coverage_and_missing():
    universe = {
        "OK": ["position"],
        "STALE": ["position", "benchmark"],
        "OLD": ["factor"],
        "GONE": ["position"],
        "OPT": ["option"],
    }
    last = {
        "OK": (MONDAY, "polygon"),
        "STALE": (FRIDAY, "fmp"),
        "OLD": (dt.date(2025, 11, 21), "fmp"),
    }
    issues = {"GONE": ["polygon: unknown ticker"], "OK": ["2025-12-01: close moved +60%"]}
    report = assess_quality(universe, last, issues, as_of=MONDAY, sessions=nyse())

    assert report.as_of == MONDAY
    assert report.required == 4
    assert report.coverage == pytest.approx(1 / 4)
    assert report.missing == ("GONE", "OLD", "STALE")
    rows = {row.symbol: row for row in report.rows}
    assert [row.symbol for row in report.rows] == sorted(universe)

    ok = rows["OK"]
    assert (ok.status, ok.source, ok.last_date, ok.staleness_sessions) == (
        "ok",
        "polygon",
        MONDAY,
        0,
    )
    assert ok.issues == ("2025-12-01: close moved +60%",)
    assert ok.required

    stale = rows["STALE"]
    assert (stale.status, stale.source, stale.last_date) == ("stale", "fmp", FRIDAY)
    assert stale.staleness_sessions == 1  # across the weekend
    assert stale.roles == ("benchmark", "position")
    assert stale.issues == ()

    # Fri 21 -> Mon 24, Tue 25, Wed 26, (Thanksgiving), Fri 28, Mon 1: five sessions.
    assert rows["OLD"].staleness_sessions == 5
    assert rows["OLD"].status == "stale"

    gone = rows["GONE"]
    assert (gone.status, gone.source, gone.last_date, gone.staleness_sessions) == (
        "missing",
        None,
        None,
        None,
    )
    assert gone.issues == ("polygon: unknown ticker",)

    opt = rows["OPT"]
    assert not opt.required
    assert opt.status == "missing"


@pytest.mark.parametrize(
    ("last_date", "expected"),
    [
        (MONDAY, 0),
        (FRIDAY, 1),
        (dt.date(2025, 11, 26), 2),  # Wednesday before Thanksgiving
        (dt.date(2025, 11, 25), 3),
    ],
)
def test_staleness_counts_sessions_not_calendar_days(last_date, expected):
    report = assess_quality(
        {"AAA": ["position"]},
        {"AAA": (last_date, "polygon")},
        {},
        as_of=MONDAY,
        sessions=nyse(),
    )
    (row,) = report.rows
    assert row.staleness_sessions == expected
    assert row.status == ("ok" if expected == 0 else "stale")


@pytest.mark.parametrize("option_status", ["ok", "stale", "missing"])
def test_option_only_symbols_do_not_lower_coverage(option_status):
    last = {"AAA": (MONDAY, "polygon")}
    if option_status == "ok":
        last["OPT"] = (MONDAY, "polygon")
    elif option_status == "stale":
        last["OPT"] = (FRIDAY, "polygon")
    report = assess_quality(
        {"AAA": ["position"], "OPT": ["option"]}, last, {}, as_of=MONDAY, sessions=nyse()
    )
    assert report.coverage == 1.0
    assert report.required == 1
    assert report.missing == ()
    rows = {row.symbol: row for row in report.rows}
    assert rows["OPT"].status == option_status
    assert not rows["OPT"].required


def test_an_option_that_is_also_a_position_is_required():
    report = assess_quality({"AAA": ["option", "position"]}, {}, {}, as_of=MONDAY, sessions=nyse())
    assert report.required == 1
    assert report.coverage == 0.0
    assert report.missing == ("AAA",)


@pytest.mark.parametrize(
    ("n_ok", "n_bad", "coverage"),
    [(0, 0, 1.0), (3, 0, 1.0), (0, 3, 0.0), (3, 1, 0.75), (1, 2, 1 / 3)],
)
def test_coverage_fraction(n_ok, n_bad, coverage):
    universe = {f"OK{i}": ["position"] for i in range(n_ok)}
    universe |= {f"BAD{i}": ["position"] for i in range(n_bad)}
    last = {f"OK{i}": (MONDAY, "synthetic") for i in range(n_ok)}
    last |= {f"BAD{i}": (FRIDAY, "synthetic") for i in range(n_bad) if i % 2}
    report = assess_quality(universe, last, {}, as_of=MONDAY, sessions=nyse())
    assert report.coverage == pytest.approx(coverage)
    assert report.required == n_ok + n_bad
    assert report.missing == tuple(sorted(f"BAD{i}" for i in range(n_bad)))


@pytest.mark.parametrize("column", ["open", "high", "low", "close", "adj_close"])
def test_a_vendor_bar_with_a_non_finite_price_is_rejected(column):
    bad = bar("AAA", dt.date(2025, 11, 28), **{column: float("inf")})
    if column == "close":
        bad["adj_close"] = 101.0
    result = validate_bars(frame(bad, bar("AAA", dt.date(2025, 12, 1))), today=TODAY)
    assert list(result.good["date"]) == [dt.date(2025, 12, 1)]
    assert result.rejected == {"AAA": ["2025-11-28: a price is not finite"]}
