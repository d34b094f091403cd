"""Benchmark of the nightly-risk flow end to end into PostgreSQL (issues 4 and 15).

Targets, 10,000 portfolios x 50 positions over 3,000 symbols x 400 sessions on this 2-core
machine, measured side by side in one run:

- issue 15 (current): <= 20 s wall, <= 4 GiB peak RSS, and the write stage (rows built +
  written, ``build_rows_s + write_s`` of the plain sequential run) <= 2x a raw binary COPY of
  the same rows (``bench.copy_reference``, measured right after that run, same tables);
- issue 4 (earlier, still printed): <= 60 s wall, <= 4 GiB peak RSS, Prefect overhead <= 10 %
  of the wall time, with the per-stage breakdown (load, compute, write).

Setup (not timed), in a migrated scratch database on the embedded server (or DATABASE_URL's
server), dropped afterwards: synthetic bars for the 7 factor ETFs plus synthetic stocks, DGS10,
the factor set and the built-in stress scenarios, one user, and the portfolios and positions
loaded by COPY (about 1 % of the portfolios also hold one or two listed options).

Timed runs, each from empty result tables, in one process:

1. the reference: the same steps as the flow in plain Python, without Prefect
   (``plan_risk``, ``run_chunk`` for every chunk sequentially, ``finish_risk``, ledger rows);
2. the real flow ``flows.nightly_risk.nightly_risk(as_of=...)`` under Prefect, after a trivial
   flow has started the Prefect API, so the timed run excludes the server's start-up;
3. the plain steps again with the chunks on a thread pool as wide as the flow's (a second
   reference that separates what the two threads gain from what Prefect costs).

After each plain sequential run, the rows it stored are read back and loaded again by a raw
binary COPY (into scratch tables built ``LIKE`` the result tables, no Python conversion, no
merge): the floor the write stage is held to.

Prefect overhead = (Prefect wall - plain sequential wall) / Prefect wall. The CPU time that
Prefect adds (this process, plus the ephemeral API server subprocess) is printed as well,
because it depends less than wall time on what else runs on the machine. ``--repeat N`` runs
the rounds N times, interleaved, and reports medians. ``--profile N`` adds an untimed plain
run under cProfile and prints its top N functions.

Usage: ``.venv/bin/python -m bench.nightly_risk [--portfolios 10000] [--positions 50]
[--symbols 3000] [--days 400] [--chunk-size 1000] [--repeat 1] [--no-threaded] [--profile 0]``
"""

import argparse
import contextlib
import cProfile
import ctypes
import datetime as dt
import gc
import importlib
import io
import os
import pstats
import resource
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from sqlalchemy import URL, text

from bench.common import scratch_database
from bench.copy_reference import RESULT_TABLES, CopyReference, measure_raw_copy
from models import UNDATED_BOOK_DATE
from sigmasight import db as sdb
from sigmasight.domain import DEFAULT_FACTORS, RATE_SERIES, OptionRight, UserSpec, occ_ticker
from sigmasight.providers.synthetic import SyntheticProvider
from sigmasight.repositories.prices import upsert_bars, upsert_rates
from sigmasight.repositories.reference import (
    ChangeCounts,
    ensure_builtin_scenarios,
    upsert_factors,
    upsert_users,
)
from sigmasight.runs import ledger
from sigmasight.runs import risk as risk_run
from sigmasight.settings import get_settings
from sigmasight.trading_calendar import last_completed_session, sessions

GIB = 1 << 30
# Issue 15's targets (current).
TARGET_WALL_S = 20.0
TARGET_RSS = 4 * GIB
TARGET_WRITE_TO_COPY = 2.0
# Issue 4's targets (earlier; printed alongside).
ISSUE4_WALL_S = 60.0
TARGET_OVERHEAD = 0.10
INPUT_TABLES = (
    "price_bar",
    "rate_observation",
    "app_user",
    "portfolio",
    "portfolio_book",
    "position",
)
STAGES = ("load_s", "prepare_s", "load_books_s", "compute_s", "build_rows_s", "write_s")
# The three stages of the target, as sums of the measured ones.
GROUPS = {
    "load": ("load_s", "load_books_s"),
    "compute": ("prepare_s", "compute_s"),
    "write": ("build_rows_s", "write_s"),
}
SHORT_SHARE = 0.12
OPTION_SHARE = 0.01
BAR_BATCH = 500


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def mib(n_bytes: float) -> str:
    return f"{n_bytes / (1 << 20):,.0f} MiB"


def conninfo() -> str:
    return sdb.libpq_conninfo(sdb.database_url())


def admin_url() -> URL:
    """The server's admin URL, as ``scratch_database`` finds it (call before entering it)."""
    settings = get_settings()
    if settings.database_url is not None:
        return sdb.normalize_url(settings.database_url.get_secret_value()).set(database="postgres")
    return sdb.embedded_server(settings).admin_url()


# -- memory -------------------------------------------------------------------------------


def _status_bytes(name: str) -> int | None:
    """A size field of /proc/self/status (VmHWM: peak RSS, VmRSS: RSS) in bytes, or None."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{name}:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _vm_hwm() -> int | None:
    return _status_bytes("VmHWM")


def _reset_hwm() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False when that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def release_free_memory() -> None:
    """Hand freed heap back to the OS so the setup's garbage does not count as a run's RSS."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _psutil() -> Any:
    try:
        return importlib.import_module("psutil")
    except ImportError:
        return None


@dataclass
class MemoryPeak:
    """Peak RSS and CPU time of this process and of its children (the ephemeral Prefect API)."""

    self_bytes: int = 0
    children_bytes: int | None = None
    method: str = ""
    cpu_s: float = 0.0
    children_cpu_s: float | None = None
    postgres_cpu_s: float | None = None


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class MemoryMonitor:
    """Samples RSS every ``interval`` s; for this process uses the exact VmHWM when resettable."""

    def __init__(self, interval: float = 0.1, postmaster: int | None = None) -> None:
        self.interval = interval
        self.postmaster = postmaster
        self.peak = MemoryPeak()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._psutil = _psutil()
        self._exact = False

    def __enter__(self) -> "MemoryMonitor":
        gc.collect()
        self._exact = _reset_hwm() and _vm_hwm() is not None
        if self._psutil is not None:
            me = self._psutil.Process()
            self._me = me
            self._children = me.children(recursive=True)
            self.peak.children_bytes = 0 if self._children else None
        self._cpu0 = _cpu_self()
        self._children_cpu0 = self._children_cpu()
        self._postgres0 = self._postgres_cpu()
        self._thread.start()
        return self

    def _postgres_cpu(self) -> dict[int, float] | None:
        """CPU seconds of every process of the PostgreSQL server (its postmaster's children)."""
        if self._psutil is None or self.postmaster is None:
            return None
        cpu: dict[int, float] = {}
        with contextlib.suppress(Exception):
            for proc in self._psutil.Process(self.postmaster).children():
                with contextlib.suppress(Exception):
                    times = proc.cpu_times()
                    cpu[int(proc.pid)] = float(times.user + times.system)
            return cpu
        return None

    def _children_cpu(self) -> float | None:
        if self._psutil is None or not self._children:
            return None
        total = 0.0
        for child in self._children:
            with contextlib.suppress(Exception):
                times = child.cpu_times()
                total += float(times.user + times.system)
        return total

    def _sample(self) -> None:
        while True:
            if self._psutil is not None:
                with contextlib.suppress(Exception):
                    rss = int(self._me.memory_info().rss)
                    self.peak.self_bytes = max(self.peak.self_bytes, rss)
                total = 0
                for child in self._children:
                    with contextlib.suppress(Exception):
                        total += int(child.memory_info().rss)
                if self.peak.children_bytes is not None:
                    self.peak.children_bytes = max(self.peak.children_bytes, total)
            if self._stop.wait(self.interval):
                return

    def __exit__(self, *exc: object) -> None:
        self.peak.cpu_s = _cpu_self() - self._cpu0
        children_cpu = self._children_cpu()
        if children_cpu is not None and self._children_cpu0 is not None:
            self.peak.children_cpu_s = children_cpu - self._children_cpu0
        postgres = self._postgres_cpu()
        if postgres is not None and self._postgres0 is not None:
            before = self._postgres0
            self.peak.postgres_cpu_s = sum(v - before.get(pid, 0.0) for pid, v in postgres.items())
        self._stop.set()
        self._thread.join()
        hwm = _vm_hwm() if self._exact else None
        if hwm is not None:
            self.peak.self_bytes = max(self.peak.self_bytes, hwm)
            self.peak.method = "VmHWM reset before the run"
        else:
            self.peak.method = f"psutil sampled every {self.interval} s"


# -- setup --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Universe:
    """What the setup stored."""

    as_of: dt.date
    days: list[dt.date]
    symbols: list[str]
    n_portfolios: int
    n_positions: int
    n_options: int
    seconds: dict[str, float] = field(default_factory=dict)


def trading_days(n_days: int) -> list[dt.date]:
    as_of = last_completed_session()
    days = sessions(as_of - dt.timedelta(days=int(n_days * 1.6) + 30), as_of)[-n_days:]
    if len(days) != n_days:
        raise SystemExit(f"only {len(days)} sessions available, asked for {n_days}")
    return days


def universe_symbols(n_symbols: int) -> list[str]:
    """The 7 factor ETFs, then synthetic stock tickers."""
    etfs = list(DEFAULT_FACTORS)
    n_stocks = n_symbols - len(etfs)
    width = max(4, len(str(n_stocks - 1)))
    return [*etfs, *(f"S{i:0{width}d}" for i in range(n_stocks))]


def store_prices(symbols: list[str], days: list[dt.date]) -> dict[str, float]:
    """Synthetic bars for every symbol and session, by binary COPY; returns the last closes."""
    provider = SyntheticProvider()
    run_id = uuid.uuid4()
    spot: dict[str, float] = {}
    stored = 0
    for i in range(0, len(symbols), BAR_BATCH):
        bars = provider.bars_for(symbols[i : i + BAR_BATCH], days[0], days[-1])
        last = bars.groupby("symbol", sort=False)["close"].last()
        spot.update({str(k): float(v) for k, v in last.items()})
        with sdb.session_scope() as session:
            stored += upsert_bars(session, bars, source="synthetic", run_id=run_id).inserted
    expected = len(symbols) * len(days)
    if stored != expected:
        raise SystemExit(f"stored {stored:,} bars, expected {expected:,}")
    rates = provider.observations(RATE_SERIES, days[0] - dt.timedelta(days=30), days[-1])
    with sdb.session_scope() as session:
        upsert_rates(session, RATE_SERIES, rates, source="synthetic", run_id=run_id)
    return spot


def store_reference() -> int:
    """Factors, built-in scenarios and the one owner; returns the owner's id."""
    counts = ChangeCounts()
    email = "bench@example.com"
    with sdb.session_scope() as session:
        upsert_factors(session, DEFAULT_FACTORS, counts)
        ensure_builtin_scenarios(session, counts)
        owners = upsert_users(session, [UserSpec(email=email, full_name="Bench")], counts)
    return owners[email]


def _picks(rng: np.random.Generator, n_rows: int, n_symbols: int, k: int) -> np.ndarray[Any, Any]:
    """``k`` distinct symbol indices per row."""
    blocks = []
    for start in range(0, n_rows, 1000):
        keys = rng.random((min(1000, n_rows - start), n_symbols))
        blocks.append(np.argpartition(keys, k - 1, axis=1)[:, :k])
    return np.concatenate(blocks)


def _option_rows(
    rng: np.random.Generator,
    portfolio_ids: np.ndarray[Any, Any],
    symbols: list[str],
    spot: dict[str, float],
    as_of: dt.date,
) -> list[tuple[Any, ...]]:
    """One or two option positions on SPY or a stock for ~1 % of the portfolios."""
    n_etfs = len(DEFAULT_FACTORS)
    n_with = max(1, round(len(portfolio_ids) * OPTION_SHARE))
    expiry = as_of + dt.timedelta(days=91)
    rows: list[tuple[Any, ...]] = []
    for p in rng.choice(len(portfolio_ids), size=n_with, replace=False).tolist():
        seen: set[str] = set()
        for _ in range(int(rng.integers(1, 3))):
            underlying = (
                "SPY" if rng.random() < 0.5 else symbols[int(rng.integers(n_etfs, len(symbols)))]
            )
            right: OptionRight = "call" if rng.random() < 0.5 else "put"
            long = rng.random() < 0.7
            strike = Decimal(
                f"{max(0.5, round(spot[underlying] * rng.uniform(0.9, 1.1) * 2) / 2):.1f}"
            )
            symbol = occ_ticker(underlying, expiry, right, strike)
            if symbol in seen:
                continue
            seen.add(symbol)
            contracts = int(rng.integers(1, 11))
            kind = (
                {"call": "LC", "put": "LP"}[right] if long else {"call": "SC", "put": "SP"}[right]
            )
            rows.append(
                (
                    int(portfolio_ids[p]),
                    symbol,
                    kind,
                    contracts if long else -contracts,
                    underlying,
                    strike,
                    expiry,
                    right,
                    100,
                    0.25,
                )
            )
    return rows


def store_books(
    owner_id: int,
    symbols: list[str],
    spot: dict[str, float],
    as_of: dt.date,
    n_portfolios: int,
    n_positions: int,
    seed: int = 4,
) -> tuple[int, int]:
    """Portfolios and positions by COPY; returns (stock positions, option positions)."""
    rng = np.random.default_rng(seed)
    width = max(5, len(str(n_portfolios - 1)))
    cash = np.round(rng.uniform(10_000, 250_000, n_portfolios), 2)
    picks = _picks(rng, n_portfolios, len(symbols), n_positions)
    prices = np.array([spot[s] for s in symbols])[picks]
    shares = np.maximum(1.0, np.rint(rng.uniform(2_000, 40_000, picks.shape) / prices))
    short = rng.random(picks.shape) < SHORT_SHARE
    with sdb.session_scope() as session:
        conn = sdb.raw_connection(session)
        with conn.cursor() as cursor:
            with cursor.copy(
                "COPY portfolio (external_id, owner_id, name, cash) FROM STDIN"
            ) as copy:
                for i in range(n_portfolios):
                    copy.write_row(
                        (f"BENCH-{i:0{width}d}", owner_id, f"Bench portfolio {i}", f"{cash[i]:.2f}")
                    )
            cursor.execute(
                "SELECT id FROM portfolio WHERE owner_id = %s ORDER BY external_id", (owner_id,)
            )
            ids = np.array([int(row[0]) for row in cursor.fetchall()], dtype=np.int64)
            # One undated book per portfolio (in effect on every date, RISK-CONVENTIONS C15).
            cursor.execute(
                "INSERT INTO portfolio_book (portfolio_id, book_date, cash) "
                "SELECT id, %s, cash FROM portfolio WHERE owner_id = %s",
                (UNDATED_BOOK_DATE, owner_id),
            )
            frame = pd.DataFrame(
                {
                    "portfolio_id": np.repeat(ids, n_positions),
                    "book_date": UNDATED_BOOK_DATE.isoformat(),
                    "symbol": np.asarray(symbols, dtype=object)[picks.ravel()],
                    "position_type": np.where(short, "SHORT", "LONG").ravel(),
                    "quantity": np.where(short, -shares, shares).ravel().astype(np.int64),
                }
            )
            buffer = io.StringIO()
            frame.to_csv(buffer, index=False, header=False)
            with cursor.copy(
                "COPY position (portfolio_id, book_date, symbol, position_type, quantity) "
                "FROM STDIN (FORMAT csv)"
            ) as copy:
                copy.write(buffer.getvalue())
            options = _option_rows(rng, ids, symbols, spot, as_of)
            with cursor.copy(
                "COPY position (portfolio_id, symbol, position_type, quantity, underlying, strike, "
                "expiry_date, option_right, multiplier, implied_vol, book_date) FROM STDIN"
            ) as copy:
                for row in options:
                    copy.write_row((*row, UNDATED_BOOK_DATE))
    return len(frame), len(options)


def vacuum_analyze() -> None:
    with psycopg.connect(conninfo(), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def setup(n_symbols: int, n_days: int, n_portfolios: int, n_positions: int) -> Universe:
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    days = trading_days(n_days)
    symbols = universe_symbols(n_symbols)
    spot = store_prices(symbols, days)
    seconds["prices"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    owner = store_reference()
    stocks, options = store_books(owner, symbols, spot, days[-1], n_portfolios, n_positions)
    seconds["books"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    vacuum_analyze()
    seconds["vacuum"] = time.perf_counter() - t2
    return Universe(
        as_of=days[-1],
        days=days,
        symbols=symbols,
        n_portfolios=n_portfolios,
        n_positions=stocks + options,
        n_options=options,
        seconds=seconds,
    )


# -- timed runs ---------------------------------------------------------------------------


@dataclass
class RunResult:
    """One timed run."""

    label: str
    wall_s: float
    timings: dict[str, float]
    counts: dict[str, Any]
    written: dict[str, int]
    memory: MemoryPeak
    load_avg: float


def reset_results(admin: URL) -> bool:
    """Empty the result tables (and staged rerun parts) and checkpoint, so every run writes the
    same rows from scratch.

    Returns whether the CHECKPOINT ran (it needs a superuser or pg_checkpoint).
    """
    with psycopg.connect(conninfo(), autocommit=True) as conn:
        conn.execute(f"TRUNCATE {', '.join(RESULT_TABLES)}, risk_rerun_part")
    try:
        with psycopg.connect(sdb.libpq_conninfo(admin), autocommit=True) as conn:
            conn.execute("CHECKPOINT")
    except psycopg.Error:
        return False
    return True


def table_counts(tables: Sequence[str]) -> dict[str, int]:
    with sdb.session_scope() as session:
        return {
            t: int(session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in tables
        }


def _sum_timings(
    plan: risk_run.RiskPlan, reports: Sequence[risk_run.ChunkReport]
) -> dict[str, float]:
    timings = dict(plan.timings)
    for report in reports:
        for stage, seconds in report.timings.items():
            timings[stage] = round(timings.get(stage, 0.0) + seconds, 3)
    return timings


def plain_steps(as_of: dt.date, workers: int) -> tuple[dict[str, float], dict[str, Any]]:
    """The flow's steps without Prefect: ledger row, prepare, chunks, flip, close."""
    settings = get_settings()
    run_id = ledger.open_run(
        "nightly-risk",
        as_of=as_of,
        inputs={"chunk_size": settings.risk_chunk_size, "bench": "plain"},
    )
    plan = risk_run.plan_risk(settings, as_of, run_id)

    def chunk(ids: tuple[int, ...]) -> risk_run.ChunkReport:
        return risk_run.run_chunk(settings, as_of, list(ids), run_id)

    if workers <= 1:
        reports = [chunk(ids) for ids in plan.chunks]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            reports = list(pool.map(chunk, plan.chunks))
    flipped = risk_run.finish_risk(get_settings(), as_of, plan.portfolio_ids, run_id)
    statuses: dict[str, int] = {}
    for report in reports:
        for status in report.statuses.values():
            statuses[status] = statuses.get(status, 0) + 1
    timings = _sum_timings(plan, reports)
    counts = {
        "portfolios": plan.n_portfolios,
        "chunks": len(plan.chunks),
        "current": flipped,
        **statuses,
    }
    ledger.close_run(run_id, "succeeded", counts=counts, timings=timings)
    return timings, counts


def postmaster_pid() -> int | None:
    """The PostgreSQL server's main process, when it runs on this machine."""
    psutil = _psutil()
    if psutil is None:
        return None
    with sdb.session_scope() as session:
        backend = int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())
    with contextlib.suppress(Exception):
        parent = psutil.Process(backend).parent()
        return int(parent.pid) if parent is not None else None
    return None


def timed(
    label: str,
    admin: URL,
    work: Callable[[], tuple[dict[str, float], dict[str, Any]]],
    postmaster: int | None = None,
) -> RunResult:
    reset_results(admin)
    release_free_memory()
    with MemoryMonitor(postmaster=postmaster) as monitor:
        start = time.perf_counter()
        timings, counts = work()
        wall = time.perf_counter() - start
    written = table_counts(RESULT_TABLES)
    load = os.getloadavg()[0]
    return RunResult(label, wall, timings, counts, written, monitor.peak, load)


def prefect_startup() -> tuple[float, float, str]:
    """Start the Prefect API with a trivial flow; returns (first, second flow s, API)."""
    from prefect import flow
    from prefect.settings import PREFECT_API_URL

    @flow(name="bench-warm-up")
    def warm_up() -> int:
        return 1

    t0 = time.perf_counter()
    warm_up()
    first = time.perf_counter() - t0
    t1 = time.perf_counter()
    warm_up()
    second = time.perf_counter() - t1
    api = PREFECT_API_URL.value() or "ephemeral (a uvicorn subprocess of this process)"
    return first, second, str(api)


def prefect_run(as_of: dt.date) -> tuple[dict[str, float], dict[str, Any]]:
    from flows.nightly_risk import nightly_risk

    result = nightly_risk(as_of=as_of)
    if not isinstance(result, dict):
        raise SystemExit(f"the flow did not complete: {result}")
    timings = {k: float(v) for k, v in result["timings"].items()}
    counts = {k: v for k, v in result.items() if k not in ("timings", "as_of", "run_id")}
    return timings, counts


def profile_plain(as_of: dt.date, admin: URL, top: int) -> None:
    reset_results(admin)
    profiler = cProfile.Profile()
    profiler.enable()
    plain_steps(as_of, workers=1)
    profiler.disable()
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(top)
        print(f"\ncProfile of a plain sequential run (extra, not timed), top {top} by {order}:")
        print(out.getvalue())


# -- report -------------------------------------------------------------------------------


def database_sizes() -> tuple[int, dict[str, int]]:
    with sdb.session_scope() as session:
        total = int(
            session.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
        )
        per_table = {
            t: int(
                session.execute(text("SELECT pg_total_relation_size(:t)"), {"t": t}).scalar_one()
            )
            for t in (*INPUT_TABLES, *RESULT_TABLES)
        }
    return total, per_table


def _median_run(runs: list[RunResult]) -> RunResult:
    """Median wall and stage timings of the repeats of one run kind; the highest peaks."""
    if len(runs) == 1:
        return runs[0]
    stages = {k for r in runs for k in r.timings}
    children = [r.memory.children_bytes for r in runs if r.memory.children_bytes is not None]
    children_cpu = [r.memory.children_cpu_s for r in runs if r.memory.children_cpu_s is not None]
    postgres_cpu = [r.memory.postgres_cpu_s for r in runs if r.memory.postgres_cpu_s is not None]
    memory = MemoryPeak(
        self_bytes=max(r.memory.self_bytes for r in runs),
        children_bytes=max(children) if children else None,
        method=runs[0].memory.method,
        cpu_s=statistics.median(r.memory.cpu_s for r in runs),
        children_cpu_s=statistics.median(children_cpu) if children_cpu else None,
        postgres_cpu_s=statistics.median(postgres_cpu) if postgres_cpu else None,
    )
    return RunResult(
        label=runs[0].label,
        wall_s=statistics.median(r.wall_s for r in runs),
        timings={k: statistics.median(r.timings.get(k, 0.0) for r in runs) for k in stages},
        counts=runs[0].counts,
        written=runs[0].written,
        memory=memory,
        load_avg=statistics.median(r.load_avg for r in runs),
    )


def _opt_mib(n_bytes: int | None) -> str:
    return mib(n_bytes) if n_bytes is not None else "n/a"


def _opt_s(seconds: float | None) -> str:
    return f"{seconds:.1f}" if seconds is not None else "n/a"


def print_runs(runs: list[RunResult]) -> None:
    print("\n3. timed runs, in order (result tables truncated, then CHECKPOINT, before each)")
    print(
        f"   {'run':<20}{'wall s':>8}{'CPU s':>8}{'PG CPU s':>9}{'peak RSS':>11}{'API RSS':>10}"
        f"{'API CPU s':>10}{'load1':>7}   outcome"
    )
    for run in runs:
        m = run.memory
        statuses = {
            k: v for k, v in run.counts.items() if k not in ("portfolios", "chunks", "current")
        }
        print(
            f"   {run.label:<20}{run.wall_s:>8.2f}{m.cpu_s:>8.1f}{_opt_s(m.postgres_cpu_s):>9}"
            f"{mib(m.self_bytes):>11}"
            f"{_opt_mib(m.children_bytes):>10}{_opt_s(m.children_cpu_s):>10}{run.load_avg:>7.2f}   "
            f"{run.counts.get('portfolios')} portfolios / {run.counts.get('chunks')} chunks, "
            f"{run.counts.get('current')} made current, {statuses}"
        )
    print(
        f"   peak RSS: {runs[0].memory.method}. CPU s: user+sys of this process; PG CPU s: of the"
        " PostgreSQL server's processes (all databases on it); API: the ephemeral Prefect server"
        " subprocess; load1: 1-minute load average after the run (other work on the machine)."
    )


def print_report(kinds: list[RunResult], workers: int, repeat: int) -> None:
    reference, flow = kinds[0], kinds[1]
    many = f" (medians of {repeat} repeats; peaks are maxima)" if repeat > 1 else ""
    print(f"\n   stage breakdown, seconds{many}; chunk stages are summed over chunks,")
    print("   so on the threaded runs they can exceed the wall time (two chunks run at once)")
    width = 22
    print(f"   {'stage':<28}" + "".join(f"{r.label:>{width}}" for r in kinds))
    for stage in STAGES:
        print(
            f"   {stage:<28}" + "".join(f"{r.timings.get(stage, 0.0):>{width}.2f}" for r in kinds)
        )
    sums = [sum(r.timings.get(s, 0.0) for s in STAGES) for r in kinds]
    print(f"   {'sum of stages':<28}" + "".join(f"{x:>{width}.2f}" for x in sums))
    for group, stages in GROUPS.items():
        label = f"{group} = {' + '.join(stages)}"
        values = [sum(r.timings.get(s, 0.0) for s in stages) for r in kinds]
        print(f"   {label:<28}" + "".join(f"{x:>{width}.2f}" for x in values))
    print(f"   {'wall':<28}" + "".join(f"{r.wall_s:>{width}.2f}" for r in kinds))
    print(
        f"   {'wall - sum of stages':<28}"
        + "".join(f"{r.wall_s - x:>{width}.2f}" for r, x in zip(kinds, sums, strict=True))
    )

    overhead = (flow.wall_s - reference.wall_s) / flow.wall_s
    rss = flow.memory.self_bytes
    print(f"\n   targets, Prefect flow run{many}; reference = the plain sequential run")
    print(
        f"   wall <= {TARGET_WALL_S:.0f} s (issue 15)  {flow.wall_s:8.2f} s    "
        f"{verdict(flow.wall_s <= TARGET_WALL_S):<8} ratio to reference {flow.wall_s / reference.wall_s:.2f}"
        f" (reference {reference.wall_s:.2f} s: {verdict(reference.wall_s <= TARGET_WALL_S)})"
    )
    print(
        f"   wall <= {ISSUE4_WALL_S:.0f} s (issue 4)   {flow.wall_s:8.2f} s    "
        f"{verdict(flow.wall_s <= ISSUE4_WALL_S)}"
    )
    print(
        f"   peak RSS <= 4 GiB        {rss / GIB:8.2f} GiB  {verdict(rss <= TARGET_RSS):<8} "
        f"ratio to reference {rss / max(reference.memory.self_bytes, 1):.2f}"
        f" (reference {reference.memory.self_bytes / GIB:.2f} GiB); the Prefect API process is"
        f" excluded ({_opt_mib(flow.memory.children_bytes)} peak)"
    )
    print(
        f"   Prefect overhead <= 10 % {overhead:8.1%}      {verdict(overhead <= TARGET_OVERHEAD):<8} "
        f"(Prefect wall {flow.wall_s:.2f} s - plain wall {reference.wall_s:.2f} s) / Prefect wall"
    )
    cpu = flow.memory.cpu_s - reference.memory.cpu_s
    server_cpu = flow.memory.children_cpu_s or 0.0
    print(
        f"   Prefect CPU cost: {cpu:+.1f} s in this process + {server_cpu:.1f} s in the API server "
        f"= {(cpu + server_cpu) / flow.wall_s:.1%} of the Prefect wall"
    )
    if len(kinds) > 2:
        other = kinds[2]
        print(
            f"   against the plain run on {workers} threads ({other.wall_s:.2f} s) the overhead is "
            f"{(flow.wall_s - other.wall_s) / flow.wall_s:.1%}"
        )
    lifetime = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"   process-lifetime ru_maxrss (includes the untimed setup): {lifetime / GIB:.2f} GiB")


def print_copy_reference(plain: list[RunResult], references: list[CopyReference]) -> None:
    """The write stage of each plain sequential run against a raw binary COPY of its rows."""
    print(
        "\n   write stage vs a raw binary COPY of the same rows (issue 15: <= "
        f"{TARGET_WRITE_TO_COPY:.0f}x), measured right after each plain sequential run"
    )
    ratios = []
    for run, ref in zip(plain, references, strict=True):
        write = sum(run.timings.get(s, 0.0) for s in GROUPS["write"])
        ratio = write / ref.seconds if ref.seconds > 0 else float("nan")
        ratios.append(ratio)
        print(
            f"   write = build_rows_s + write_s {write:7.2f} s; raw COPY {ref.seconds:6.2f} s for "
            f"{ref.rows:,} rows ({ref.rows_per_s:,.0f} rows/s, {mib(ref.bytes)}); ratio {ratio:.2f}"
        )
        for table, (rows, seconds) in ref.per_table.items():
            print(f"      raw COPY {table:<20} {rows:>10,} rows {seconds:7.2f} s")
    ratio = statistics.median(ratios)
    print(
        f"   write stage <= {TARGET_WRITE_TO_COPY:.0f}x raw COPY  ratio {ratio:.2f}"
        f"{' (median)' if len(ratios) > 1 else ''}   {verdict(ratio <= TARGET_WRITE_TO_COPY)}"
    )


def main() -> None:
    """Set up, run the three timed runs and print the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--portfolios", type=int, default=10_000)
    parser.add_argument("--positions", type=int, default=50)
    parser.add_argument("--symbols", type=int, default=3_000)
    parser.add_argument("--days", type=int, default=400)
    parser.add_argument("--chunk-size", type=int, default=1_000)
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="cProfile top N (extra run)"
    )
    parser.add_argument("--no-threaded", action="store_true", help="skip the plain 2-thread run")
    parser.add_argument("--repeat", type=int, default=1, help="timed rounds (medians reported)")
    args = parser.parse_args()
    if args.symbols <= len(DEFAULT_FACTORS) or not 0 < args.positions < args.symbols:
        parser.error("need more symbols than the 7 factor ETFs, and 0 < positions < symbols")

    os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "120"
    os.environ["SIGMASIGHT_RISK_CHUNK_SIZE"] = str(args.chunk_size)
    get_settings.cache_clear()
    # The flows package sets the project's Prefect defaults (no telemetry, PREFECT_HOME in the
    # state folder); it has to be imported before anything imports prefect.
    importlib.import_module("flows")
    workers = get_settings().risk_workers
    print(
        f"nightly-risk benchmark: {args.portfolios:,} portfolios x {args.positions} positions, "
        f"{args.symbols:,} symbols x {args.days} sessions, chunk {args.chunk_size:,}, "
        f"{workers} workers, {os.cpu_count()} CPUs"
    )
    admin = admin_url()
    with scratch_database() as url:
        print(f"\n1. setup (not timed), scratch database {url.database}")
        universe = setup(args.symbols, args.days, args.portfolios, args.positions)
        s = universe.seconds
        print(
            f"   prices: {len(universe.symbols) * len(universe.days):,} bars "
            f"({universe.days[0]} .. {universe.as_of}) + {RATE_SERIES} in {s['prices']:.1f} s"
        )
        print(
            f"   books: {universe.n_portfolios:,} portfolios, {universe.n_positions:,} positions "
            f"({universe.n_options} options) by COPY in {s['books']:.1f} s; VACUUM ANALYZE {s['vacuum']:.1f} s"
        )
        release_free_memory()
        rss = _status_bytes("VmRSS")
        print(f"   process RSS after setup: {mib(rss) if rss is not None else 'n/a'}")

        first, second, api = prefect_startup()
        print("\n2. Prefect API start-up (excluded from the timed runs)")
        print(f"   API: {api}")
        print(f"   first trivial flow (server start-up + one flow run): {first:.1f} s")
        print(f"   second trivial flow (fixed cost of one flow run):    {second:.2f} s")

        plans: list[tuple[str, Callable[[], tuple[dict[str, float], dict[str, Any]]]]] = [
            ("plain, sequential", lambda: plain_steps(universe.as_of, workers=1)),
            ("Prefect flow", lambda: prefect_run(universe.as_of)),
        ]
        if not args.no_threaded:
            plans.append(
                (f"plain, {workers} threads", lambda: plain_steps(universe.as_of, workers=workers))
            )
        postmaster = postmaster_pid()
        runs: list[RunResult] = []
        references: list[CopyReference] = []
        for _ in range(args.repeat):
            for label, work in plans:
                runs.append(timed(label, admin, work, postmaster))
                if label == plans[0][0]:
                    # The rows this run stored, loaded again by a raw binary COPY (issue 15).
                    references.append(measure_raw_copy(conninfo(), universe.as_of.isoformat()))
        print_runs(runs)
        kinds = [_median_run([r for r in runs if r.label == label]) for label, _ in plans]
        print_report(kinds, workers, args.repeat)
        print_copy_reference([r for r in runs if r.label == plans[0][0]], references)

        print("\n4. rows")
        written = {t: [r.written[t] for r in runs] for t in RESULT_TABLES}
        inputs = table_counts(INPUT_TABLES)
        total, per_table = database_sizes()
        for table in INPUT_TABLES:
            print(f"   {table:<20} {inputs[table]:>12,} rows (input)   {mib(per_table[table]):>10}")
        for table, counts in written.items():
            same = "" if len(set(counts)) == 1 else f"  (differs by run: {counts})"
            print(
                f"   {table:<20} {counts[0]:>12,} rows written   {mib(per_table[table]):>10}{same}"
            )
        print(f"   scratch database size: {mib(total)} (after the last run)")

        if args.profile:
            profile_plain(universe.as_of, admin, args.profile)


if __name__ == "__main__":
    main()
