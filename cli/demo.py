"""``sigmasight demo`` (the main job on embedded defaults) and ``sigmasight seed demo``."""

import argparse
import os
from typing import Any

from cli.api import serve_until_stopped
from cli.common import (
    Subparsers,
    add_as_of,
    add_command,
    add_group,
    add_ports,
    default_as_of,
    one_line_failures,
    report_state,
)
from cli.db import cmd_db_upgrade
from cli.export import cmd_summary
from sigmasight.settings import get_settings


def cmd_seed_demo(args: argparse.Namespace) -> int:
    """Seed the demo users, portfolios, factors and stress scenarios (and, asked, history)."""
    from sigmasight.runs.seed import seed_demo

    result = seed_demo(default_as_of(args), history=bool(getattr(args, "history", False)))
    changed = result.counts.changed
    events = (
        f" (books of {result.book_date}, {result.trades} trades, {result.cash_flows} cash flows)"
        if result.trades or result.cash_flows
        else ""
    )
    print(
        f"demo seeded for {result.as_of}: {result.portfolios} portfolios, {result.positions} positions"
        + events
        + (f"; {changed} rows written" if changed else "; nothing changed")
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The main job on embedded defaults: migrate, seed, history, nightly, summary, then serve."""
    args.as_of = default_as_of(args)
    args.history = True
    cmd_db_upgrade(args)
    cmd_seed_demo(args)
    served = None
    if args.serve:
        from cli.serve import ServedMode

        served = ServedMode(ui_port=args.ui_port, api_port=args.api_port)
        # This process runs the first nightly: its reports artifact links to that API too.
        os.environ.setdefault("SIGMASIGHT_API_PUBLIC_URL", served.sigmasight_api_url)
        get_settings.cache_clear()
        print(
            f"starting the Prefect server on {served.ui_url} (its first start takes about half a minute) ..."
        )
        served.start_prefect()
    try:
        from flows.backup import backup_database
        from flows.nightly import nightly

        one_line_failures()
        from sigmasight.objectstore import object_store

        # Object storage first: the reports step copies its files to S3 only when a bucket is
        # configured or the embedded S3 already runs, so the first demo's reports land too.
        store = object_store(get_settings())
        print(f"object storage: {store.describe()}")
        code = _history(args)
        if code:
            return code
        print(f"running the nightly pipeline for {args.as_of} (market data, risk, reports) ...")
        state = nightly(as_of=args.as_of, provider=args.provider, return_state=True)
        if not state.is_completed():
            return report_state(state, "nightly")
        for line in _nightly_lines(state.result()):
            print(f"  {line}")
        print("backing the database up to S3 ...")
        backup = backup_database(return_state=True)
        if not backup.is_completed():
            return report_state(backup, "backup")
        done = backup.result()
        if isinstance(done, dict):
            print(
                f"  {done.get('key')} ({done.get('size_bytes', 0) / 1e6:,.1f} MB, sha256 {str(done.get('sha256'))[:12]}...)"
            )
        else:  # another backup was running: this one skipped, and says why
            print(f"  {backup.message}")
        cmd_summary(args)
        print(
            f"\nreports:   {get_settings().reports_dir}/<portfolio>/{args.as_of}/ "
            "(report.html, report.md, positions.csv, report.json)"
        )
        if served is None:
            return 0
        return serve_until_stopped(served)
    finally:
        if served is not None:
            served.stop()


def _history(args: argparse.Namespace) -> int:
    """Prices back to the history's first return window, then its sessions before the as-of.

    The nightly run of the as-of that follows finds the previous session computed, so its
    documents carry P&L and TWR, and the reports, API and chart a 60-session series.
    """
    from flows.market_data import pull_market_data
    from flows.risk_history import risk_history
    from sigmasight.demo import DEMO_HISTORY_SESSIONS, demo_backfill_years, demo_history_range

    settings = get_settings()
    years = max(
        settings.backfill_years, demo_backfill_years(args.as_of, settings.risk_lookback_sessions)
    )
    print(f"pulling {years} years of market data up to {args.as_of} ...")
    market = pull_market_data(
        as_of=args.as_of, provider=args.provider, backfill_years=years, return_state=True
    )
    if not market.is_completed():
        return report_state(market, "market-data")
    print(f"  {_market_line(market.result())}")
    first, last = demo_history_range(args.as_of)
    print(
        f"computing the demo history: the {DEMO_HISTORY_SESSIONS - 1} sessions "
        f"{first}..{last} (risk-history) ..."
    )
    history = risk_history(from_date=first, to_date=last, return_state=True)
    if not history.is_completed():
        return report_state(history, "risk-history")
    done = history.result()
    if isinstance(done, dict):
        statuses = ", ".join(
            f"{done[s]} {s}" for s in ("ok", "warnings", "incomplete", "error") if done.get(s)
        )
        print(
            f"  history:     {done.get('sessions', 0)} sessions x "
            f"{done.get('portfolios', 0)} portfolios: {statuses}"
        )
    else:  # another history run held the guard: this one skipped, and says why
        print(f"  {history.message}")
    return 0


def _market_line(market: Any) -> str:
    """One line on a market-data run's result."""
    if not isinstance(market, dict):
        return str(market)
    providers = market.get("providers", {})
    return (
        f"market data: {market.get('inserted', 0):,} new bars from {providers.get('prices', '?')} in "
        f"{market.get('requests', 0)} requests, coverage {100 * float(market.get('coverage', 0)):.0f}%"
    )


def _nightly_lines(result: Any) -> list[str]:
    """A person-sized account of a nightly run's result."""
    if not isinstance(result, dict):
        return [str(result)]
    market, risk, reports = (result.get(k) or {} for k in ("market_data", "risk", "reports"))
    statuses = {k: v for k, v in risk.items() if k in ("ok", "warnings", "incomplete", "error")}
    return [
        _market_line(market),
        f"risk:        {risk.get('portfolios', 0)} portfolios "
        + ", ".join(f"{n} {s}" for s, n in statuses.items()),
        f"reports:     {reports.get('files', 0)} files for {reports.get('portfolios', 0)} portfolios",
    ]


def register_demo(commands: Subparsers) -> None:
    """Add ``demo``."""
    demo = add_command(
        commands,
        "demo",
        cmd_demo,
        "the main job on embedded defaults: migrate, seed the demo with 60 sessions of history, "
        "market data, risk history, nightly, summary",
    )
    add_as_of(demo, "valuation date (default: last completed NYSE session)")
    demo.add_argument(
        "--provider",
        choices=("polygon", "fmp", "synthetic"),
        default="synthetic",
        help="price provider for the demo (default: synthetic, offline)",
    )
    demo.add_argument(
        "--no-serve",
        dest="serve",
        action="store_false",
        help="stop after the summary instead of serving the Prefect UI and the API",
    )
    add_ports(demo)


def register_seed(commands: Subparsers) -> None:
    """Add ``seed`` and what it seeds."""
    seed = add_group(commands, "seed", "load demo data", "seed_command", "WHAT")
    seed_demo = add_command(
        seed, "demo", cmd_seed_demo, "seed 3 demo users and portfolios (idempotent)"
    )
    add_as_of(seed_demo, "valuation date (default: last completed NYSE session)")
    seed_demo.add_argument(
        "--history",
        action="store_true",
        help="date the books 60 sessions before the as-of and add the demo's trades and "
        "cash flows in between (what `sigmasight demo` seeds)",
    )
