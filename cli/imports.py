"""``sigmasight import``: prices, rates, portfolio bundles, positions, trades, cash flows, actions."""

import argparse
from pathlib import Path

from cli.common import Subparsers, add_as_of, add_command, add_group


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


def cmd_import_positions(args: argparse.Namespace) -> int:
    """Import a positions CSV as the book of one portfolio on one date."""
    from sigmasight.runs.imports import import_positions_file

    result = import_positions_file(args.file, portfolio=args.portfolio, as_of=args.as_of)
    return _print_import(
        f"{args.file} (book of {args.portfolio} on {args.as_of}, cash {result.details['cash']})",
        result,
    )


def cmd_import_trades(args: argparse.Namespace) -> int:
    """Import a trades CSV."""
    from sigmasight.runs.imports import import_trades_file

    return _print_import(str(args.file), import_trades_file(args.file))


def cmd_import_cashflows(args: argparse.Namespace) -> int:
    """Import an external cash flows CSV."""
    from sigmasight.runs.imports import import_cashflows_file

    return _print_import(str(args.file), import_cashflows_file(args.file))


def cmd_import_actions(args: argparse.Namespace) -> int:
    """Import a corporate actions CSV."""
    from sigmasight.runs.imports import import_actions_file

    result = import_actions_file(args.file)
    code = _print_import(str(args.file), result)
    for note in result.details.get("restated", []):
        print(f"  {note}")
    return code


OPTION_COLUMNS_HELP = (
    "An option row has an OCC ticker (O:SPY251219C00600000) or the columns underlying, "
    "option_type (call/put), strike and expiry (stored under the OCC ticker they make); "
    "multiplier defaults to 100 and implied_vol is a fraction. asset_type (stock, etf, "
    "mutual_fund, option, index, other) only marks option rows; it is not stored."
)


def register_import(commands: Subparsers) -> None:
    """Add ``import`` and what it imports."""
    imports = add_group(
        commands,
        "import",
        "import prices, rates, portfolios, positions, trades, cash flows or corporate actions",
        "import_command",
        "WHAT",
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
    positions = add_command(
        imports,
        "positions",
        cmd_import_positions,
        "make a broker-style positions CSV the book of one portfolio on one date "
        "(books of other dates stay)",
    )
    positions.epilog = (
        "Header symbol,quantity plus optional asset_type,underlying,option_type,strike,expiry,"
        "multiplier,implied_vol,cost_basis (average cost per unit, as a price). The row "
        "CASH,<amount> (amount in the quantity column) sets the cash; without a CASH row the "
        "cash is 0, because the file is the whole book of its date. " + OPTION_COLUMNS_HELP
    )
    positions.add_argument("file", type=Path, metavar="FILE.csv")
    positions.add_argument(
        "--portfolio", required=True, metavar="ID", help="the existing portfolio's id"
    )
    add_as_of(positions, "the book date D (the book is in effect from D on)", required=True)
    trades = add_command(
        imports,
        "trades",
        cmd_import_trades,
        "upsert trades from a CSV; re-importing the same file changes nothing",
    )
    trades.epilog = (
        "Header portfolio,trade_date,symbol,quantity,price plus optional fees,trade_id and the "
        "option columns asset_type,underlying,option_type,strike,expiry,multiplier,implied_vol. "
        "Quantity is signed (buy +, sell -; options in contracts), price per share. A trade "
        "needs a book of its portfolio dated on or before it; trade_id, when given, is the "
        "key, otherwise (portfolio, trade_date, symbol, quantity, price) is. " + OPTION_COLUMNS_HELP
    )
    trades.add_argument("file", type=Path, metavar="FILE.csv")
    cashflows = add_command(
        imports,
        "cashflows",
        cmd_import_cashflows,
        "upsert external cash flows (deposits +, withdrawals -) from a CSV",
    )
    cashflows.epilog = (
        "Header portfolio,date,amount. One flow per portfolio and date: importing a date "
        "again replaces its amount (0 cancels it). Dividends and fees are not external flows."
    )
    cashflows.add_argument("file", type=Path, metavar="FILE.csv")
    actions = add_command(
        imports,
        "actions",
        cmd_import_actions,
        "upsert corporate actions (splits, cash dividends) from a CSV; re-importing changes nothing",
    )
    actions.epilog = (
        "Header symbol,ex_date,type,value. type split: value = new shares per old share "
        "(4-for-1: 4, 1-for-10 reverse: 0.1); type cash_dividend: value = the amount per share "
        "in the security's currency. The ex-date must be an NYSE session; a dividend must be "
        "below the symbol's last stored close before its ex-date; a stored action (same "
        "symbol, ex_date and type) keeps its value, so a file giving another one is refused. "
        "An action whose ex-date lies before stored prices of its symbol changes stored risk "
        "figures: the command names the dates to re-run (`sigmasight run risk --from D1 --to D2`)."
    )
    actions.add_argument("file", type=Path, metavar="FILE.csv")
