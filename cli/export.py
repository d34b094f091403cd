"""Stored results out: ``export risk``, ``export history`` and ``summary``.

``export risk`` writes the JSON documents, ``export history`` one portfolio's snapshot series
as CSV (FORMATS section 7).
"""

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from cli.common import (
    Subparsers,
    add_as_of,
    add_command,
    add_group,
    default_as_of,
    require_current_schema,
)
from sigmasight.domain import InputError
from sigmasight.settings import get_settings


def cmd_export_risk(args: argparse.Namespace) -> int:
    """Write stored risk documents as JSON."""
    from sigmasight.runs.risk import export_documents

    args.as_of = default_as_of(args)
    output = None if args.output in (None, "-") else Path(args.output)
    if output is not None and not output.parent.is_dir():
        raise InputError(f"-o {args.output}: the folder {output.parent} does not exist")
    require_current_schema()
    documents = export_documents(get_settings(), args.as_of, args.portfolio)
    if not documents:
        raise InputError(
            f"no risk results for {args.as_of}: run `sigmasight run risk --as-of {args.as_of}` first"
        )
    dumped = [document.as_json() for document in documents]
    payload: Any = dumped[0] if args.portfolio else dumped
    text = json.dumps(payload, indent=2, allow_nan=False) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
        print(f"wrote {len(documents)} document(s) to {args.output}", file=sys.stderr)
    return 0


def _iso_date(value: str) -> dt.date:
    """An argparse type: a date as YYYY-MM-DD."""
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def cmd_export_history(args: argparse.Namespace) -> int:
    """Write one portfolio's stored snapshot series as CSV (FORMATS section 7)."""
    from sigmasight.history import history_csv
    from sigmasight.runs.risk import export_history

    if args.date_from is not None and args.date_to is not None and args.date_from > args.date_to:
        raise InputError(f"--from {args.date_from} is after --to {args.date_to}")
    output = None if args.output in (None, "-") else Path(args.output)
    if output is not None and not output.parent.is_dir():
        raise InputError(f"-o {args.output}: the folder {output.parent} does not exist")
    require_current_schema()
    points = export_history(args.portfolio, args.date_from, args.date_to)
    text = history_csv(points)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
        print(f"wrote {len(points)} session(s) to {args.output}", file=sys.stderr)
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    """Print the portfolios with their current risk headline."""
    from sigmasight.db import session_scope
    from sigmasight.repositories.api_reads import list_owned_portfolios

    with session_scope() as session:
        rows = list_owned_portfolios(session, None)
    if not rows:
        print("no portfolios yet: `sigmasight seed demo` or `sigmasight import portfolios FILE`")
        return 0

    def cell(value: float | None, spec: str) -> str:
        return format(value, spec) if value is not None else "-"

    print(
        f"\n{'portfolio':<18} {'positions':>9} {'as of':>10} {'NAV':>14} {'VaR95 1d':>12} "
        f"{'beta SPY':>8} {'status':>10}"
    )
    for row in rows:
        var95 = (
            row.hist_var_95 * row.nav
            if row.hist_var_95 is not None and row.nav is not None
            else None
        )
        print(
            f"{row.external_id:<18} {row.positions:>9} {row.as_of or '-'!s:>10} {cell(row.nav, ',.0f'):>14} "
            f"{cell(var95, ',.0f'):>12} {cell(row.beta_spy, '.2f'):>8} {row.status or 'no run':>10}"
        )
    return 0


def register_export(commands: Subparsers) -> None:
    """Add ``export`` and what it exports."""
    export = add_group(commands, "export", "export stored results", "export_command", "WHAT")
    export_risk = add_command(
        export, "risk", cmd_export_risk, "write sigmasight.risk/1 documents as JSON"
    )
    add_as_of(export_risk, "valuation session (default: last completed NYSE session)")
    export_risk.add_argument(
        "--portfolio", metavar="ID", help="one portfolio's external id (writes an object)"
    )
    export_risk.add_argument(
        "-o", "--output", metavar="FILE", help="output file (default: standard output)"
    )
    export_history = add_command(
        export,
        "history",
        cmd_export_history,
        "write one portfolio's actual history (one CSV row per computed session)",
    )
    export_history.add_argument(
        "--portfolio", metavar="ID", required=True, help="the portfolio's external id"
    )
    export_history.add_argument(
        "--from", dest="date_from", type=_iso_date, metavar="D1", help="first date (inclusive)"
    )
    export_history.add_argument(
        "--to", dest="date_to", type=_iso_date, metavar="D2", help="last date (inclusive)"
    )
    export_history.add_argument(
        "-o", "--output", metavar="FILE", help="output CSV file (default: standard output)"
    )


def register_summary(commands: Subparsers) -> None:
    """Add ``summary``."""
    add_command(
        commands, "summary", cmd_summary, "list the portfolios with their current NAV, VaR and beta"
    )
