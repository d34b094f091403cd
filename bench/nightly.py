"""Benchmark of the whole ``nightly`` flow: market data, risk and reports for one session (issue 15).

Target: 10,000 portfolios x 50 positions over 3,000 symbols on this 2-core machine, the
whole nightly in <= 2 minutes; printed with each stage, the peak RSS, and the ratio of the
risk run's write stage to a raw binary COPY of the same rows measured in the same run
(``bench.copy_reference``).

Setup (not timed), in a migrated scratch database filled by ``bench.nightly_risk``'s setup
functions: synthetic bars for every symbol over ``--days`` sessions up to the session
*before* the one the nightly runs for (from the same synthetic provider the flow then asks),
DGS10, the factor set and the built-in scenarios, the books; then, as a database that has
run before would hold them, the synthetic market's corporate actions over that history and
every symbol's profile. Before timing, the market-data plan of the night is checked to be a
one-session incremental: one grouped request for the new session and no backfill, gap or
extension job (the bench stops otherwise).

Timed: ``flows.nightly.nightly(as_of=<last completed session>, provider="synthetic")`` (the
real parent flow: market data, catch-up, nightly-risk, reports in all four formats), after a
trivial flow has started the Prefect API. Stage seconds come from the run ledger (each child
flow's ``started_at`` .. ``finished_at``), the stage breakdowns from the children's ledger
timings. Peak RSS is psutil-sampled every 0.2 s over this process and its children (the
ephemeral Prefect API and any report processes).

Usage: ``.venv/bin/python -m bench.nightly [--portfolios 10000] [--positions 50]
[--symbols 3000] [--days 400]``
"""

import argparse
import datetime as dt
import importlib
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.cluster import RssSampler
from bench.common import scratch_database
from bench.copy_reference import RESULT_TABLES, measure_raw_copy
from bench.nightly_risk import (
    GIB,
    conninfo,
    mib,
    prefect_startup,
    release_free_memory,
    store_books,
    store_prices,
    store_reference,
    trading_days,
    universe_symbols,
    vacuum_analyze,
    verdict,
)
from sigmasight import db as sdb
from sigmasight.domain import DEFAULT_FACTORS
from sigmasight.market_data import ActionJob
from sigmasight.prefect_env import apply_prefect_defaults
from sigmasight.runs import market_data as market_run
from sigmasight.settings import get_settings

TARGET_WALL_S = 120.0
TARGET_WRITE_RATIO = 2.0
#: Stages of the risk run's ledger timings that make up its write stage (those present).
WRITE_STAGES = ("build_rows_s", "write_s")
CHILD_FLOWS = ("market-data", "risk-history", "nightly-risk", "reports")


def load1() -> float:
    return os.getloadavg()[0]


def setup(n_symbols: int, n_days: int, n_portfolios: int, n_positions: int) -> dt.date:
    """History up to the session before the last completed one; returns that last session."""
    days = trading_days(n_days + 1)
    history, as_of = days[:-1], days[-1]
    t0 = time.perf_counter()
    symbols = universe_symbols(n_symbols)
    spot = store_prices(symbols, history)
    t1 = time.perf_counter()
    stocks, options = store_books(
        store_reference(), symbols, spot, history[-1], n_portfolios, n_positions
    )
    t2 = time.perf_counter()
    settings = get_settings()
    actions = market_run.fetch_and_store_actions(
        settings,
        [ActionJob("market", history[0], history[-1], tuple(symbols))],
        provider="synthetic",
        run_id=uuid.uuid4(),
        universe=symbols,
        last_stored={},
    )
    profiles = market_run.refresh_profiles(settings, symbols, provider="synthetic")
    vacuum_analyze()
    print(
        f"   prices: {len(symbols):,} symbols x {len(history)} sessions ({history[0]} .. "
        f"{history[-1]}) in {t1 - t0:.0f} s; books: {n_portfolios:,} portfolios, "
        f"{stocks + options:,} positions ({options} options) in {t2 - t1:.0f} s; "
        f"{actions.inserted} corporate actions, {profiles:,} profiles; "
        f"{time.perf_counter() - t2:.0f} s"
    )
    return as_of


def check_incremental(as_of: dt.date) -> str:
    """The night's market-data plan: one grouped request for ``as_of`` and nothing else."""
    settings = get_settings()
    plan = market_run.plan_market_data(
        settings,
        as_of,
        provider="synthetic",
        backfill_years=settings.backfill_years,
        extend_history=False,
    )
    other = [j for j in plan.jobs if not (j.kind == "grouped" and j.start == j.end == as_of)]
    if other or not plan.jobs:
        reasons: dict[str, int] = {}
        for job in other:
            reasons[job.reason] = reasons.get(job.reason, 0) + 1
        raise SystemExit(f"the night would not be a one-session incremental: {reasons or 'no job'}")
    wanted = sum(len(j.symbols) for j in plan.jobs)
    return (
        f"{len(plan.jobs)} grouped price request for {as_of} covering {wanted:,} symbols; "
        f"{len(plan.action_jobs)} corporate-action request(s)"
    )


def ledger_rows(since: dt.datetime) -> list[dict[str, Any]]:
    """The run ledger's rows started since ``since``, oldest first."""
    with sdb.session_scope() as session:
        rows = session.execute(
            text(
                "SELECT flow, status, started_at, finished_at, counts, timings FROM flow_run "
                "WHERE started_at >= :since ORDER BY started_at"
            ),
            {"since": since},
        ).all()
    return [dict(row._mapping) for row in rows]


def seconds_of(row: dict[str, Any]) -> float:
    finished = row["finished_at"]
    return (finished - row["started_at"]).total_seconds() if finished is not None else float("nan")


def main() -> None:
    """Set up, run the nightly flow once, print stages, total, RSS and the COPY ratio."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--portfolios", type=int, default=10_000)
    parser.add_argument("--positions", type=int, default=50)
    parser.add_argument("--symbols", type=int, default=3_000)
    parser.add_argument("--days", type=int, default=400)
    args = parser.parse_args()
    if args.symbols <= len(DEFAULT_FACTORS) or not 0 < args.positions < args.symbols:
        parser.error("need more symbols than the 7 factor ETFs, and 0 < positions < symbols")
    if args.portfolios < 1 or args.days < 2:
        parser.error("--portfolios must be positive and --days at least 2")

    reports_dir = Path(tempfile.mkdtemp(prefix="bench-nightly-reports-"))
    os.environ["SIGMASIGHT_REPORTS_DIR"] = str(reports_dir)
    get_settings.cache_clear()
    apply_prefect_defaults(get_settings())
    importlib.import_module("flows")
    print(
        f"nightly benchmark: {args.portfolios:,} portfolios x {args.positions} positions, "
        f"{args.symbols:,} symbols x {args.days} sessions, {os.cpu_count()} CPUs, "
        f"load1 {load1():.2f}"
    )
    with scratch_database() as url:
        print(f"\n1. setup (not timed), scratch database {url.database}")
        as_of = setup(args.symbols, args.days, args.portfolios, args.positions)
        print(f"   the night's market-data plan: {check_incremental(as_of)}")
        first, _, api = prefect_startup()
        print(f"   Prefect API {api} started in {first:.0f} s; reports to {reports_dir}")
        release_free_memory()

        from flows.nightly import nightly

        with sdb.session_scope() as session:
            since = session.execute(text("SELECT now()")).scalar_one()
        load_before = load1()
        with RssSampler({"bench": os.getpid()}) as sampler:
            t0 = time.perf_counter()
            result = nightly(as_of=as_of, provider="synthetic")
            wall = time.perf_counter() - t0
        load_after = load1()
        if not isinstance(result, dict):
            raise SystemExit(f"the nightly flow did not complete: {result}")
        copy = measure_raw_copy(conninfo(), as_of.isoformat())
        report(result, ledger_rows(since), wall, sampler, copy, (load_before, load_after))
        print_sizes(args.portfolios)


def print_sizes(n_portfolios: int) -> None:
    """Each result table's size on disk (one date: the night's), per portfolio."""
    with sdb.session_scope() as session:
        sizes = {
            table: (
                int(session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()),
                int(
                    session.execute(
                        text("SELECT pg_total_relation_size(:t)"), {"t": table}
                    ).scalar_one()
                ),
            )
            for table in RESULT_TABLES
        }
        database = int(
            session.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
        )
    total = sum(size for _, size in sizes.values())
    print(f"\n4. storage of the night's results (database {mib(database)} in all)")
    for table, (rows, size) in sizes.items():
        print(
            f"   {table:<20}{rows:>12,} rows {mib(size):>10}  {size / n_portfolios:>8,.0f} B/portfolio"
        )
    print(
        f"   {'all result tables':<20}{'':>12}      {mib(total):>10}  {total / n_portfolios:>8,.0f} B/portfolio"
    )


def report(
    result: dict[str, Any],
    ledger: list[dict[str, Any]],
    wall: float,
    sampler: RssSampler,
    copy: Any,
    loads: tuple[float, float],
) -> None:
    print(
        f"\n2. the timed nightly for {result['as_of']} (load1 {loads[0]:.2f} before, {loads[1]:.2f} after)"
    )
    by_flow = {row["flow"]: row for row in ledger}
    for flow in CHILD_FLOWS:
        row = by_flow.get(flow)
        if row is None:
            continue
        stages = {k: round(float(v), 1) for k, v in sorted(row["timings"].items())}
        print(f"   {flow:<14}{seconds_of(row):8.1f} s  {row['status']:<10} stages {stages}")
    market = result["market_data"]
    print(
        f"   market data: {market.get('requests')} price request(s), {market.get('inserted'):,}"
        f" bars inserted, {market.get('updated')} updated, coverage {market.get('coverage')}"
    )
    reports = result["reports"]
    if isinstance(reports, dict):
        shown = {k: v for k, v in reports.items() if k not in ("as_of", "run_id", "timings")}
        print(f"   reports: {shown}")
    parent = by_flow.get("nightly")
    children = sum(seconds_of(by_flow[f]) for f in CHILD_FLOWS if f in by_flow)
    ledger_total = seconds_of(parent) if parent is not None else float("nan")
    print(
        f"   nightly (parent) {ledger_total:.1f} s in the ledger; children {children:.1f} s;"
        f" wall of the call {wall:.1f} s"
    )
    peak = sampler.peaks["bench"]
    print("\n3. targets")
    print(
        f"   whole nightly <= {TARGET_WALL_S:.0f} s: {wall:.1f} s  {verdict(wall <= TARGET_WALL_S)}"
    )
    print(
        f"   peak RSS: {peak.largest / GIB:.2f} GiB (largest process), {mib(peak.total)} for this"
        " process and its children together (Prefect API, report processes)"
    )
    risk = by_flow.get("nightly-risk")
    timings = risk["timings"] if risk is not None else {}
    present = [s for s in WRITE_STAGES if s in timings]
    write = sum(float(timings[s]) for s in present)
    ratio = write / copy.seconds if copy.seconds > 0 else float("nan")
    print(
        f"   risk write stage ({' + '.join(present) or 'none recorded'}, summed over chunks) "
        f"{write:.2f} s vs a raw binary COPY of the same {copy.rows:,} rows "
        f"({mib(copy.bytes)}) {copy.seconds:.2f} s ({copy.rows_per_s:,.0f} rows/s): "
        f"{ratio:.2f}x  {verdict(ratio <= TARGET_WRITE_RATIO)} (<= {TARGET_WRITE_RATIO:.0f}x)"
    )
    for table, (rows, seconds) in copy.per_table.items():
        print(f"      {table:<20}{rows:>12,} rows  COPY {seconds:6.2f} s")


if __name__ == "__main__":
    main()
