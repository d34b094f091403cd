"""Benchmark of a history run into PostgreSQL (issue 11, performance).

Target: 1,000 portfolios x 50 positions over 252 sessions, with a book change or trades on
5 % of the portfolio-days, on this 2-core machine: <= 5 min wall, <= 4 GiB peak RSS, and at
least 10x faster than 252 single-date runs of the same work. Also printed: the result tables'
size per portfolio-year and its extrapolation to 10,000 portfolios x 1 year (far below
80 GB is the target).

Setup (not timed), in a migrated scratch database on the embedded server (or DATABASE_URL's
server), dropped afterwards: synthetic bars for the 7 factor ETFs plus synthetic stocks over
the sessions plus the lookback before the first one, DGS10, the factor set and the built-in
stress scenarios, one user, and by COPY: the portfolios, a book for each dated on the first
session (about 1 % of the portfolios also hold listed options), a second dated book for
``--rebook-share`` of the portfolios in the middle third of the range, trades on
``--trade-share`` of the portfolio-days (1-3 each, at the day's close: more of a holding,
part of it sold, or a new symbol bought) and external cash flows on ``--flow-share`` of them.

Timed, in one process (``SIGMASIGHT_RISK_LOOKBACK_SESSIONS`` = ``--lookback`` for both):

1. the history run's plain steps from empty result tables: ``plan_history`` (panel and
   books loaded once), ``run_history_dates`` for every step of sessions oldest first (the
   writes overlap the computation), ``finish_history``, with their ledger row, as the
   ``risk-history`` flow runs them;
2. the reference: ``--samples`` single-date runs (``plan_risk``, ``run_chunk`` for every
   chunk, ``finish_risk``: the nightly-risk steps) of dates spread over the range, each on
   the state the history left with that date's results removed, so it writes what the
   history wrote for it (position detail only on the newest ``detail_retention_sessions``
   dates, as the history run). Their mean, per kind of date (with and without detail), is
   scaled to every session of the range; each date's new rows are checked against the
   history's;
3. with ``--flow``, the ``risk-history`` Prefect flow over the same range, from empty result
   tables, after a trivial flow has started the Prefect API.

``--profile N`` then profiles (cProfile, untimed, top N functions) plain history runs of
the two kinds of dates apart: the first ``--profile-sessions`` sessions (no position detail)
and the newest five (with it), each on the state the history left with those dates' results
removed. It profiles the run's own process (the valuation); the writer process, which
builds the documents and writes them, is not profiled. ``--profile-only`` skips the timed
runs (it computes the newest date first).

Usage: ``.venv/bin/python -m bench.risk_history [--portfolios 1000] [--positions 50]
[--symbols 1500] [--sessions 252] [--lookback 504] [--chunk-size 1000] [--trade-share 0.05]
[--rebook-share 0.05] [--flow-share 0.01] [--samples 5] [--flow] [--profile 0]
[--profile-sessions 20] [--profile-only]``
"""

import argparse
import cProfile
import datetime as dt
import importlib
import io
import os
import pstats
import resource
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from sqlalchemy import URL, text

from bench.common import scratch_database
from bench.copy_reference import RESULT_TABLES
from bench.nightly_risk import (
    GIB,
    MemoryMonitor,
    MemoryPeak,
    _option_rows,
    _picks,
    admin_url,
    conninfo,
    mib,
    plain_steps,
    postmaster_pid,
    prefect_startup,
    release_free_memory,
    reset_results,
    store_prices,
    store_reference,
    table_counts,
    trading_days,
    universe_symbols,
    vacuum_analyze,
    verdict,
)
from sigmasight import db as sdb
from sigmasight.dated_risk import detail_kept
from sigmasight.domain import DEFAULT_FACTORS
from sigmasight.providers.synthetic import SyntheticProvider
from sigmasight.runs import ledger
from sigmasight.runs import risk as risk_run
from sigmasight.settings import get_settings

TARGET_WALL_S = 300.0
TARGET_RSS = 4 * GIB
TARGET_SPEEDUP = 10.0
TARGET_DB_BYTES = 80 * 10**9
EXTRAPOLATE_PORTFOLIOS = 10_000
INPUT_TABLES = (
    "price_bar",
    "rate_observation",
    "portfolio",
    "portfolio_book",
    "position",
    "trade",
    "cash_flow",
)
#: Stages of the computing thread (they add up to the wall, less the finish).
#: Stages of the run's own process (the writer process's are printed apart).
HISTORY_STAGES = ("load_s", "prepare_s", "compute_s", "write_wait_s")
SHORT_SHARE = 0.12
NEW_SYMBOL_SHARE = 0.3


# -- setup --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Universe:
    """What the setup stored."""

    days: list[dt.date]
    history: list[dt.date]
    symbols: list[str]
    counts: dict[str, int]
    seconds: dict[str, float] = field(default_factory=dict)


def _close_matrix(symbols: list[str], days: list[dt.date]) -> np.ndarray[Any, Any]:
    """Closes of every symbol on ``days``: array of shape (len(days), len(symbols))."""
    bars = SyntheticProvider().bars_for(symbols, days[0], days[-1])
    wide = bars.pivot(index="date", columns="symbol", values="close")
    wide = wide.reindex(index=days, columns=symbols)
    if wide.isna().to_numpy().any():
        raise SystemExit("the synthetic provider left a hole in the closes")
    return wide.to_numpy(dtype=np.float64)


def _copy_csv(cursor: "psycopg.Cursor[Any]", table: str, frame: pd.DataFrame) -> None:
    if frame.empty:  # a small run may draw no flows (or trades): nothing to load
        return
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, header=False, na_rep="")
    columns = ", ".join(str(c) for c in frame.columns)
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT csv)") as copy:
        copy.write(buffer.getvalue())


def _book_rows(
    rng: np.random.Generator,
    portfolio_ids: np.ndarray[Any, Any],
    book_date: dt.date,
    symbols: list[str],
    closes: np.ndarray[Any, Any],
    n_positions: int,
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray[Any, Any]]:
    """Books (cash) and positions of ``portfolio_ids`` on ``book_date``; also the picks."""
    n = len(portfolio_ids)
    picks = _picks(rng, n, len(symbols), n_positions)
    prices = closes[picks]
    shares = np.maximum(1.0, np.rint(rng.uniform(2_000, 40_000, picks.shape) / prices))
    short = rng.random(picks.shape) < SHORT_SHARE
    books = pd.DataFrame(
        {
            "portfolio_id": portfolio_ids,
            "book_date": book_date,
            "cash": np.round(rng.uniform(10_000, 250_000, n), 2),
        }
    )
    positions = pd.DataFrame(
        {
            "portfolio_id": np.repeat(portfolio_ids, n_positions),
            "book_date": book_date,
            "symbol": np.asarray(symbols, dtype=object)[picks.ravel()],
            "position_type": np.where(short, "SHORT", "LONG").ravel(),
            "quantity": np.where(short, -shares, shares).ravel().astype(np.int64),
            "entry_price": np.round(prices.ravel(), 4),
        }
    )
    return books, positions, picks


def _trade_rows(
    rng: np.random.Generator,
    portfolio_ids: np.ndarray[Any, Any],
    picks: np.ndarray[Any, Any],
    history: list[dt.date],
    symbols: list[str],
    closes: np.ndarray[Any, Any],
    share: float,
    excluded: set[tuple[int, int]],
) -> pd.DataFrame:
    """1-3 trades on ``share`` of the portfolio-days after the first session."""
    n_p, n_d = len(portfolio_ids), len(history)
    cells = rng.choice(n_p * (n_d - 1), size=round(share * n_p * (n_d - 1)), replace=False)
    p_idx, d_idx = cells // (n_d - 1), cells % (n_d - 1) + 1
    keep = np.array([(int(p), int(d)) not in excluded for p, d in zip(p_idx, d_idx, strict=True)])
    p_idx, d_idx = p_idx[keep], d_idx[keep]
    per_day = rng.integers(1, 4, size=len(p_idx))
    p_rep, d_rep = np.repeat(p_idx, per_day), np.repeat(d_idx, per_day)
    n = len(p_rep)
    held = picks[p_rep, rng.integers(0, picks.shape[1], size=n)]
    new = rng.integers(len(DEFAULT_FACTORS), len(symbols), size=n)
    sym = np.where(rng.random(n) < NEW_SYMBOL_SHARE, new, held)
    price = closes[d_rep, sym]
    size = np.maximum(1.0, np.rint(rng.uniform(1_000, 10_000, n) / price))
    sign = np.where(rng.random(n) < 0.5, 1, -1)
    frame = pd.DataFrame(
        {
            "portfolio_id": portfolio_ids[p_rep],
            "trade_date": np.asarray(history, dtype=object)[d_rep],
            "symbol": np.asarray(symbols, dtype=object)[sym],
            "quantity": (sign * size).astype(np.int64),
            "price": np.round(price, 4),
            "fees": 1.0,
        }
    )
    return frame.drop_duplicates(["portfolio_id", "trade_date", "symbol"])


def store_history_books(
    owner_id: int,
    symbols: list[str],
    history: list[dt.date],
    closes: np.ndarray[Any, Any],
    args: argparse.Namespace,
    seed: int = 11,
) -> dict[str, int]:
    """Portfolios, dated books, positions, trades and cash flows by COPY; returns row counts."""
    rng = np.random.default_rng(seed)
    n_p, n_d = args.portfolios, len(history)
    width = max(5, len(str(n_p - 1)))
    with sdb.session_scope() as session:
        conn = sdb.raw_connection(session)
        with conn.cursor() as cursor:
            with cursor.copy("COPY portfolio (external_id, owner_id, name) FROM STDIN") as copy:
                for i in range(n_p):
                    copy.write_row((f"HIST-{i:0{width}d}", owner_id, f"History portfolio {i}"))
            cursor.execute(
                "SELECT id FROM portfolio WHERE owner_id = %s ORDER BY external_id", (owner_id,)
            )
            ids = np.array([int(row[0]) for row in cursor.fetchall()], dtype=np.int64)
            books, positions, picks = _book_rows(
                rng, ids, history[0], symbols, closes[0], args.positions
            )
            # A second, re-drawn book in the middle third of the range for some portfolios.
            n_re = round(args.rebook_share * n_p)
            re_idx = np.sort(rng.choice(n_p, size=n_re, replace=False))
            re_day = rng.integers(n_d // 3, 2 * n_d // 3, size=n_re)
            re_books, re_positions = [books], [positions]
            for day in np.unique(re_day):
                members = re_idx[re_day == day]
                b, p, _ = _book_rows(
                    rng, ids[members], history[day], symbols, closes[day], args.positions
                )
                re_books.append(b)
                re_positions.append(p)
            all_books = pd.concat(re_books, ignore_index=True)
            all_positions = pd.concat(re_positions, ignore_index=True)
            _copy_csv(cursor, "portfolio_book", all_books)
            _copy_csv(cursor, "position", all_positions)
            options = _option_rows(
                rng, ids, symbols, dict(zip(symbols, closes[0], strict=True)), history[-1]
            )
            with cursor.copy(
                "COPY position (portfolio_id, book_date, symbol, position_type, quantity, "
                "underlying, strike, expiry_date, option_right, multiplier, implied_vol) FROM STDIN"
            ) as copy:
                for row in options:
                    copy.write_row((row[0], history[0], *row[1:]))
            # No trades or flows on a book's own date: the book is that date's whole truth.
            excluded = {(int(p), int(d)) for p, d in zip(re_idx, re_day, strict=True)}
            trades = _trade_rows(
                rng, ids, picks, history, symbols, closes, args.trade_share, excluded
            )
            _copy_csv(cursor, "trade", trades)
            cells = rng.choice(
                n_p * (n_d - 1), size=round(args.flow_share * n_p * (n_d - 1)), replace=False
            )
            flows = pd.DataFrame(
                {
                    "portfolio_id": ids[cells // (n_d - 1)],
                    "flow_date": np.asarray(history, dtype=object)[cells % (n_d - 1) + 1],
                    "amount": np.round(
                        rng.uniform(1_000, 25_000, len(cells))
                        * np.where(rng.random(len(cells)) < 0.6, 1, -1),
                        2,
                    ),
                }
            )
            flows = flows[
                [
                    (int(p), int(d)) not in excluded
                    for p, d in zip(cells // (n_d - 1), cells % (n_d - 1) + 1, strict=True)
                ]
            ]
            _copy_csv(cursor, "cash_flow", flows)
            # The portfolio row mirrors its latest book (what a bundle import leaves).
            cursor.execute(
                "UPDATE portfolio f SET cash = b.cash, valuation_date = b.book_date FROM ("
                "SELECT DISTINCT ON (portfolio_id) portfolio_id, book_date, cash FROM portfolio_book "
                "ORDER BY portfolio_id, book_date DESC) b WHERE b.portfolio_id = f.id"
            )
    trade_days = trades.groupby(["portfolio_id", "trade_date"]).ngroups
    return {
        "portfolios": n_p,
        "books": len(all_books),
        "rebooked": n_re,
        "positions": len(all_positions) + len(options),
        "options": len(options),
        "trades": len(trades),
        "trade_days": trade_days,
        "flows": len(flows),
        "changed_days": trade_days + n_re,
    }


def setup(args: argparse.Namespace) -> Universe:
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    days = trading_days(args.lookback + args.sessions)
    history = days[args.lookback :]
    symbols = universe_symbols(args.symbols)
    store_prices(symbols, days)
    seconds["prices"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    closes = _close_matrix(symbols, history)
    owner = store_reference()
    counts = store_history_books(owner, symbols, history, closes, args)
    seconds["books"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    vacuum_analyze()
    seconds["vacuum"] = time.perf_counter() - t2
    return Universe(days, history, symbols, counts, seconds)


# -- timed runs ---------------------------------------------------------------------------


def table_bytes(tables: tuple[str, ...]) -> dict[str, int]:
    with sdb.session_scope() as session:
        return {
            t: int(
                session.execute(text("SELECT pg_total_relation_size(:t)"), {"t": t}).scalar_one()
            )
            for t in tables
        }


@dataclass
class HistoryRun:
    """One timed history run."""

    label: str
    wall_s: float
    timings: dict[str, float]
    counts: dict[str, Any]
    memory: MemoryPeak
    load_avg: float


def plain_history(first: dt.date, last: dt.date) -> tuple[dict[str, float], dict[str, Any]]:
    """The risk-history flow's steps without Prefect: ledger row, plan, every date, finish."""
    settings = get_settings()
    run_id = ledger.open_run("risk-history", as_of=last, inputs={"from": first.isoformat()})
    try:
        plan = risk_run.plan_history(settings, first, last, run_id)
        timings = dict(plan.timings)
        statuses: dict[str, int] = {}
        for days in plan.batches:
            for report in risk_run.run_history_dates(settings, days, run_id):
                for status in report.statuses.values():
                    statuses[status] = statuses.get(status, 0) + 1
                for stage, seconds in report.timings.items():
                    timings[stage] = round(timings.get(stage, 0.0) + seconds, 3)
        flipped = risk_run.finish_history(settings, run_id)
    finally:
        risk_run.release_history(run_id)
    counts = {
        "sessions": len(plan.dates),
        "portfolios": len(plan.portfolio_ids),
        "current": flipped,
        **statuses,
    }
    ledger.close_run(run_id, "succeeded", counts=counts, timings=timings)
    return timings, counts


def flow_history(first: dt.date, last: dt.date) -> tuple[dict[str, float], dict[str, Any]]:
    from flows.risk_history import risk_history

    result = risk_history(from_date=first, to_date=last)
    if not isinstance(result, dict):
        raise SystemExit(f"the flow did not complete: {result}")
    timings = {k: float(v) for k, v in result["timings"].items()}
    counts = {k: v for k, v in result.items() if k not in ("timings", "from", "to", "run_id")}
    return timings, counts


def timed_history(label: str, admin: URL, work: Any, postmaster: int | None) -> HistoryRun:
    reset_results(admin)
    release_free_memory()
    with MemoryMonitor(postmaster=postmaster) as monitor:
        start = time.perf_counter()
        timings, counts = work()
        wall = time.perf_counter() - start
    return HistoryRun(label, wall, timings, counts, monitor.peak, os.getloadavg()[0])


@dataclass(frozen=True)
class SingleRun:
    """One single-date reference run of a date the history computed."""

    as_of: dt.date
    detail: bool
    wall_s: float
    timings: dict[str, float]
    identical: bool
    rows: int


_SNAPSHOT_FIGURES = (
    "SELECT portfolio_id, status, nav, cash, pnl, external_flow, twr_cumulative, hist_var_95, "
    "cvar_95, beta_spy, book_date, document::text FROM portfolio_snapshot "
    "WHERE as_of_date = :d ORDER BY portfolio_id"
)


def _rows_of(day: dt.date) -> tuple[list[tuple[Any, ...]], int]:
    """The date's snapshot figures, and its row count over every result table."""
    with sdb.session_scope() as session:
        figures = [tuple(r) for r in session.execute(text(_SNAPSHOT_FIGURES), {"d": day})]
        total = sum(
            int(
                session.execute(
                    text(f"SELECT count(*) FROM {t} WHERE as_of_date = :d"), {"d": day}
                ).scalar_one()
            )
            for t in RESULT_TABLES
        )
    return figures, total


def single_date(day: dt.date, newest: dt.date) -> SingleRun:
    """Remove ``day``'s results, recompute them with the nightly-risk steps, compare."""
    before, before_rows = _rows_of(day)
    with psycopg.connect(conninfo(), autocommit=True) as conn:
        for table in RESULT_TABLES:
            conn.execute(f"DELETE FROM {table} WHERE as_of_date = %s", (day,))
    release_free_memory()
    start = time.perf_counter()
    timings, _ = plain_steps(day, workers=1)
    wall = time.perf_counter() - start
    after, after_rows = _rows_of(day)
    detail = detail_kept(day, newest, get_settings().detail_retention_sessions)
    return SingleRun(
        day, detail, wall, timings, after == before and after_rows == before_rows, after_rows
    )


def sample_dates(history: list[dt.date], n: int) -> list[dt.date]:
    """``n`` dates spread over the range, the newest (which keeps detail) included."""
    picks = np.unique(np.linspace(0, len(history) - 1, max(n, 1)).round().astype(int))
    return [history[int(i)] for i in picks]


def _delete_results(days: list[dt.date]) -> None:
    with psycopg.connect(conninfo(), autocommit=True) as conn:
        for table in RESULT_TABLES:
            conn.execute(f"DELETE FROM {table} WHERE as_of_date = ANY(%s)", (days,))


def _profiled(span: list[dt.date], top: int, label: str) -> None:
    release_free_memory()
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    timings, _ = plain_history(span[0], span[-1])
    profiler.disable()
    wall = time.perf_counter() - start
    stages = "  ".join(f"{k} {timings.get(k, 0.0):.1f}" for k in HISTORY_STAGES)
    print(
        f"\ncProfile of a plain history run over {len(span)} sessions {span[0]} .. {span[-1]}, "
        f"{label}: {wall:.1f} s under the profiler ({stages})"
    )
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(top)
        print(f"top {top} by {order}:")
        print(out.getvalue())


def profile_history(history: list[dt.date], sessions: int, top: int) -> None:
    """Profile the history's two kinds of dates apart: without and with position detail.

    The dates' results are removed first and the newest date's stay (computed first when
    missing), so each profiled date does what it did in the history run: the first
    ``sessions`` keep no detail, the last few do.
    """
    last = history[-1]
    if _rows_of(last)[1] == 0:
        plain_history(last, last)
    span = history[:sessions]
    _delete_results(span)
    _profiled(span, top, "no position detail (older than the retention window)")
    tail = history[-min(5, len(history)) :]
    _delete_results(tail)
    _profiled(tail, top, "with position detail (the newest sessions)")


# -- report -------------------------------------------------------------------------------


def _estimate(samples: list[SingleRun], history: list[dt.date]) -> tuple[float, str]:
    """Scaled wall of single-date runs of every session; and how it was scaled."""
    newest = history[-1]
    retention = get_settings().detail_retention_sessions
    kinds = [detail_kept(d, newest, retention) for d in history]
    overall = statistics.mean(s.wall_s for s in samples)
    total = 0.0
    parts = []
    for detail in (False, True):
        n = sum(1 for k in kinds if k == detail)
        found = [s.wall_s for s in samples if s.detail == detail]
        mean = statistics.mean(found) if found else overall
        total += n * mean
        label = "with detail" if detail else "without detail"
        source = f"mean of {len(found)}" if found else "overall mean"
        parts.append(f"{n} dates {label} x {mean:.2f} s ({source})")
    return total, " + ".join(parts)


def print_history_run(run: HistoryRun, n_sessions: int) -> None:
    m = run.memory
    statuses = {
        k: v for k, v in run.counts.items() if k not in ("sessions", "portfolios", "current")
    }
    print(
        f"   {run.label}: {run.wall_s:.1f} s wall ({run.wall_s / n_sessions:.2f} s a session), "
        f"CPU {m.cpu_s:.1f} s, PG CPU {m.postgres_cpu_s if m.postgres_cpu_s is not None else float('nan'):.1f} s, "
        f"peak RSS {mib(m.self_bytes)} ({m.method}), load1 {run.load_avg:.2f}"
    )
    print(
        f"   {run.counts.get('sessions')} sessions x {run.counts.get('portfolios')} portfolios, "
        f"{run.counts.get('current')} made current, {statuses}"
    )
    stages = "  ".join(f"{s} {run.timings.get(s, 0.0):.1f}" for s in HISTORY_STAGES)
    rest = run.wall_s - sum(run.timings.get(s, 0.0) for s in HISTORY_STAGES)
    print(
        f"   stages (s): {stages}  (wall - stages {rest:.1f}); writer process, overlapping "
        f"them: build rows {run.timings.get('build_rows_s', 0.0):.1f} s, write "
        f"{run.timings.get('write_s', 0.0):.1f} s, CPU {run.timings.get('writer_cpu_s', 0.0):.1f} s"
    )


def main() -> None:
    """Set up, run the timed runs and print the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--portfolios", type=int, default=1_000)
    parser.add_argument("--positions", type=int, default=50)
    parser.add_argument("--symbols", type=int, default=1_500)
    parser.add_argument("--sessions", type=int, default=252)
    parser.add_argument("--lookback", type=int, default=504, help="return window, sessions")
    parser.add_argument("--chunk-size", type=int, default=1_000)
    parser.add_argument("--trade-share", type=float, default=0.05)
    parser.add_argument("--rebook-share", type=float, default=0.05)
    parser.add_argument("--flow-share", type=float, default=0.01)
    parser.add_argument("--samples", type=int, default=5, help="single-date reference runs")
    parser.add_argument("--flow", action="store_true", help="also time the Prefect flow")
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="cProfile top N (extra run)"
    )
    parser.add_argument("--profile-sessions", type=int, default=20)
    parser.add_argument("--profile-only", action="store_true", help="setup, then profile only")
    args = parser.parse_args()
    if args.symbols <= len(DEFAULT_FACTORS) or not 0 < args.positions < args.symbols:
        parser.error("need more symbols than the 7 factor ETFs, and 0 < positions < symbols")
    if args.sessions < 3:
        parser.error("--sessions must be at least 3")

    os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "120"
    os.environ["SIGMASIGHT_RISK_CHUNK_SIZE"] = str(args.chunk_size)
    os.environ["SIGMASIGHT_RISK_LOOKBACK_SESSIONS"] = str(args.lookback)
    get_settings.cache_clear()
    importlib.import_module("flows")  # the project's Prefect defaults, before prefect loads
    settings = get_settings()
    print(
        f"risk-history benchmark: {args.portfolios:,} portfolios x {args.positions} positions "
        f"over {args.sessions} sessions, {args.symbols:,} symbols, lookback {settings.risk_lookback_sessions} "
        f"sessions (SIGMASIGHT_RISK_LOOKBACK_SESSIONS, both paths), chunk {args.chunk_size:,}, "
        f"detail kept {settings.detail_retention_sessions} sessions, {os.cpu_count()} CPUs"
    )
    admin = admin_url()
    with scratch_database() as url:
        print(f"\n1. setup (not timed), scratch database {url.database}")
        universe = setup(args)
        c, s = universe.counts, universe.seconds
        n_days = len(universe.history)
        print(
            f"   prices: {len(universe.symbols) * len(universe.days):,} bars "
            f"({universe.days[0]} .. {universe.days[-1]}) in {s['prices']:.1f} s"
        )
        print(
            f"   books by COPY in {s['books']:.1f} s: {c['portfolios']:,} portfolios, {c['books']:,} books "
            f"({c['rebooked']} re-booked mid-range), {c['positions']:,} positions ({c['options']} options), "
            f"{c['trades']:,} trades on {c['trade_days']:,} portfolio-days, {c['flows']:,} cash flows"
        )
        changed = c["changed_days"] / (c["portfolios"] * n_days)
        print(
            f"   portfolio-days with a book change or trades: {c['changed_days']:,} of "
            f"{c['portfolios'] * n_days:,} ({changed:.1%}); VACUUM ANALYZE {s['vacuum']:.1f} s"
        )
        first, last = universe.history[0], universe.history[-1]
        postmaster = postmaster_pid()
        if args.profile_only:
            profile_history(universe.history, args.profile_sessions, max(args.profile, 40))
            return

        print(f"\n2. history run {first} .. {last} (plain steps, from empty result tables)")
        run = timed_history("plain history", admin, lambda: plain_history(first, last), postmaster)
        print_history_run(run, n_days)
        written = table_counts(RESULT_TABLES)
        sizes = table_bytes(RESULT_TABLES)
        inputs = table_bytes(INPUT_TABLES)

        print(
            f"\n3. reference: {args.samples} single-date runs (plan_risk, run_chunk, finish_risk) "
            "on the history's state, each date's results removed first"
        )
        samples = []
        for day in sample_dates(universe.history, args.samples):
            one = single_date(day, last)
            samples.append(one)
            stages = " ".join(f"{k} {v:.2f}" for k, v in one.timings.items())
            print(
                f"   {one.as_of} {'detail' if one.detail else 'no detail':<10} {one.wall_s:7.2f} s  "
                f"{one.rows:,} rows, same as the history's: {'yes' if one.identical else 'NO'}  ({stages})"
            )
        estimate, how = _estimate(samples, universe.history)
        print(f"   {n_days} single-date runs: about {estimate:.0f} s = {how}")

        flow_run = None
        if args.flow:
            startup, _, api = prefect_startup()
            print(
                f"\n4. the risk-history Prefect flow (API {api}, start-up {startup:.1f} s excluded)"
            )
            flow_run = timed_history(
                "Prefect flow", admin, lambda: flow_history(first, last), postmaster
            )
            print_history_run(flow_run, n_days)

        print("\n5. targets (history run: the plain steps)")
        print(
            f"   wall <= {TARGET_WALL_S / 60:.0f} min          {run.wall_s:8.1f} s    "
            f"{verdict(run.wall_s <= TARGET_WALL_S):<8} ratio to target {run.wall_s / TARGET_WALL_S:.2f}"
        )
        rss = run.memory.self_bytes
        print(
            f"   peak RSS <= 4 GiB        {rss / GIB:8.2f} GiB  {verdict(rss <= TARGET_RSS):<8} "
            f"ratio to target {rss / TARGET_RSS:.2f}"
        )
        speedup = estimate / run.wall_s
        print(
            f"   >= {TARGET_SPEEDUP:.0f}x single-date runs   {speedup:8.1f}x     "
            f"{verdict(speedup >= TARGET_SPEEDUP):<8} ({estimate:.0f} s estimated / {run.wall_s:.1f} s)"
        )
        if flow_run is not None:
            print(
                f"   the flow: {flow_run.wall_s:.1f} s, {flow_run.wall_s / run.wall_s:.2f}x the plain "
                f"steps ({(flow_run.wall_s - run.wall_s) / flow_run.wall_s:.1%} Prefect overhead)"
            )
        same = all(one.identical for one in samples)
        print(f"   single-date rows equal the history's: {'yes' if same else 'NO'}")

        print("\n6. rows and size after the history run")
        for table in INPUT_TABLES:
            print(f"   {table:<20} {'':>12} (input)  {mib(inputs[table]):>10}")
        for table in RESULT_TABLES:
            print(f"   {table:<20} {written[table]:>12,} rows   {mib(sizes[table]):>10}")
        results = sum(sizes.values())
        years = n_days / 252
        per = results / (args.portfolios * years)
        extrapolated = per * EXTRAPOLATE_PORTFOLIOS
        detail = sizes["position_risk"] + sizes["correlation_result"]
        print(
            f"   result tables: {mib(results)} = {per / (1 << 20):.2f} MiB per portfolio-year "
            f"({args.portfolios:,} portfolios x {years:.2f} years); of it position detail "
            f"(position_risk, correlation_result, kept for {settings.detail_retention_sessions} "
            f"sessions whatever the length) {mib(detail)}"
        )
        print(
            f"   {EXTRAPOLATE_PORTFOLIOS:,} portfolios x 1 year: {extrapolated / 1e9:.1f} GB   "
            f"{verdict(extrapolated < TARGET_DB_BYTES):<8} (<= {TARGET_DB_BYTES / 1e9:.0f} GB; "
            f"ratio {extrapolated / TARGET_DB_BYTES:.2f}, where the target asks for far below)"
        )
        lifetime = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(
            f"   process-lifetime ru_maxrss (includes the untimed setup): {lifetime / GIB:.2f} GiB"
        )

        if args.profile:
            profile_history(universe.history, args.profile_sessions, args.profile)


if __name__ == "__main__":
    main()
