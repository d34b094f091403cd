"""``sigmasight import``: prices, rates and portfolio bundles."""

import argparse
from pathlib import Path

from cli.common import Subparsers, add_command, add_group


def _print_import(label: str, result: "object") -> int:
    from sigmasight.runs.imports import ImportResult

    assert isinstance(result, ImportResult)
    if result.unchanged:
        print(
            f"{label}: {result.rows} rows validated; the database already held them (nothing changed)"
        )
    else:
        print(
            f"{label}: {result.rows} rows validated; {result.inserted} inserted, "
            f"{result.updated} updated (run {result.run_id})"
        )
    return 0


def cmd_import_prices(args: argparse.Namespace) -> int:
    """Import a prices CSV."""
    from sigmasight.runs.imports import import_prices_file

    return _print_import(str(args.file), import_prices_file(args.file))


def cmd_import_rates(args: argparse.Namespace) -> int:
    """Import a FRED-style rates CSV."""
    from sigmasight.runs.imports import import_rates_file

    return _print_import(str(args.file), import_rates_file(args.file, series=args.series))


def cmd_import_portfolios(args: argparse.Namespace) -> int:
    """Import a portfolio bundle JSON."""
    from sigmasight.runs.imports import import_bundle_file

    return _print_import(str(args.file), import_bundle_file(args.file))


def register_import(commands: Subparsers) -> None:
    """Add ``import`` and what it imports."""
    imports = add_group(
        commands, "import", "import prices, rates or portfolios", "import_command", "WHAT"
    )
    prices = add_command(
        imports, "prices", cmd_import_prices, "upsert daily prices from a long or wide CSV"
    )
    prices.add_argument("file", type=Path, metavar="FILE.csv")
    rates = add_command(
        imports,
        "rates",
        cmd_import_rates,
        "upsert a FRED-style rate series CSV (date,value in percent)",
    )
    rates.add_argument("file", type=Path, metavar="FILE.csv")
    rates.add_argument("--series", required=True, help="series id, e.g. DGS10")
    bundle = add_command(
        imports, "portfolios", cmd_import_portfolios, "upsert a portfolio bundle JSON"
    )
    bundle.add_argument("file", type=Path, metavar="FILE.json")
