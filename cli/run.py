"""``sigmasight run``: one flow once, now (market data, risk, reports)."""

import argparse

from cli.common import (
    Subparsers,
    _positive_int,
    add_as_of,
    add_command,
    add_group,
    as_of_date,
    one_line_failures,
    report_state,
    require_current_schema,
)
from sigmasight.settings import get_settings


def cmd_run_market_data(args: argparse.Namespace) -> int:
    """Run the market-data flow once, now."""
    from flows.market_data import pull_market_data

    one_line_failures()
    from sigmasight.providers.registry import resolve_price_provider

    # Fail on a missing key or an old schema before Prefect spends seconds starting.
    resolve_price_provider(get_settings(), args.provider)
    require_current_schema()
    state = pull_market_data(
        as_of=args.as_of,
        provider=args.provider,
        backfill_years=args.backfill_years,
        return_state=True,
    )
    return report_state(state, "market-data")


def cmd_run_risk(args: argparse.Namespace) -> int:
    """Run the nightly-risk flow for a date, or risk-history for a range, on the database."""
    ranged = args.date_from is not None or args.date_to is not None
    if ranged == (args.as_of is not None) or (ranged and None in (args.date_from, args.date_to)):
        args.parser.error("give either --as-of D, or both --from D1 and --to D2")
    if ranged:
        from sigmasight.runs.risk import history_range_problem

        problem = history_range_problem(args.date_from, args.date_to)
        if problem is not None:
            args.parser.error(problem)
    one_line_failures()
    require_current_schema()
    if ranged:
        from flows.risk_history import risk_history

        state = risk_history(from_date=args.date_from, to_date=args.date_to, return_state=True)
        return report_state(state, "risk-history")
    from flows.nightly_risk import nightly_risk

    state = nightly_risk(as_of=args.as_of, return_state=True)
    return report_state(state, "nightly-risk")


def cmd_run_reports(args: argparse.Namespace) -> int:
    """Run the reports flow for a date on the stored results; print where the files are."""
    from flows.reports import generate_reports

    one_line_failures()
    from sigmasight.runs.reports import plan_reports, report_locations

    require_current_schema()
    # A wrong --portfolio or a date without results fails before Prefect spends seconds starting.
    plan_reports(args.as_of, args.portfolio, 1)
    state = generate_reports(as_of=args.as_of, portfolio=args.portfolio, return_state=True)
    code = report_state(state, "reports")
    if code != 0 or state.name == "Skipped":
        return code
    locations = report_locations(args.as_of, args.portfolio)
    if args.portfolio:
        for _, files, keys in locations:
            for kind, path in files.items():
                print(f"  {path}" + (f"  (s3: {keys[kind]})" if kind in keys else ""))
        return code
    root = get_settings().reports_dir
    print(f"reports for {args.as_of}: {len(locations)} portfolio(s) under {root}")
    for external_id, files, _ in locations[:20]:
        print(f"  {external_id:<18} {files.get('html', next(iter(files.values()), '-'))}")
    if len(locations) > 20:
        print(f"  ... and {len(locations) - 20} more: {root}/<portfolio>/{args.as_of}/")
    return code


def register_run(commands: Subparsers) -> None:
    """Add ``run`` and its flows."""
    run = add_group(commands, "run", "run a flow once, now", "run_command", "FLOW")
    market = add_command(
        run, "market-data", cmd_run_market_data, "pull prices, DGS10 and profiles for the universe"
    )
    add_as_of(market, "session to fetch up to (default: last completed)")
    market.add_argument(
        "--provider",
        choices=("polygon", "fmp", "synthetic"),
        help="price provider (default: polygon if POLYGON_API_KEY, else fmp if FMP_API_KEY, else synthetic)",
    )
    market.add_argument(
        "--backfill-years",
        type=_positive_int,
        help="history for new symbols; given explicitly, also extends shorter histories (default 2)",
    )

    risk = add_command(
        run,
        "risk",
        cmd_run_risk,
        "compute every portfolio's risk for a date, or for every session of a range "
        "(no market-data pull)",
    )
    add_as_of(risk, "valuation session (YYYY-MM-DD)")
    risk.add_argument(
        "--from",
        dest="date_from",
        type=as_of_date,
        metavar="D1",
        help="first date of a history run: every NYSE session from D1 to D2, each exactly as "
        "--as-of would compute it (at most 10 years)",
    )
    risk.add_argument(
        "--to", dest="date_to", type=as_of_date, metavar="D2", help="last date of a history run"
    )
    risk.set_defaults(parser=risk)

    reports = add_command(
        run,
        "reports",
        cmd_run_reports,
        "write JSON, Markdown, CSV and HTML reports from the stored results of a date",
    )
    add_as_of(reports, "valuation session (YYYY-MM-DD)", required=True)
    reports.add_argument(
        "--portfolio", metavar="ID", help="one portfolio's external id (default all)"
    )
