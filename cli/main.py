"""``sigmasight``: the command-line contract of FORMATS.md section 1, plus demo and db tools.

Every command exits 0 on success, 2 with a one-line error on bad input (nothing written),
and 1 when something outside the input failed (database down, disk full).
"""

import argparse
import datetime as dt
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import OperationalError

from sigmasight.db import (
    DatabaseConfigError,
    EmbeddedPostgresError,
    database_url,
    embedded_data_dir,
    get_engine,
    ping,
    stop_embedded,
)
from sigmasight.domain import InputError
from sigmasight.logs import configure_logging
from sigmasight.prefect_env import apply_prefect_defaults
from sigmasight.settings import SettingsFileError, get_settings

log = logging.getLogger("sigmasight.cli")

Handler = Callable[[argparse.Namespace], int]


def _as_of(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _ports(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ui-port", type=_port, default=4200, help="Prefect UI and API port (default 4200)"
    )
    parser.add_argument(
        "--api-port", type=_port, default=8001, help="SigmaSight API port (default 8001)"
    )


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if not 1 <= number <= 30:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number from 1 to 30")
    return number


# ---- db ---------------------------------------------------------------------------------
def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """Apply the migrations."""
    from sigmasight import migrate

    engine = get_engine()
    before = migrate.current_revision(engine)
    migrate.upgrade(engine)
    after = migrate.current_revision(engine)
    print(f"database at revision {after}" + ("" if before != after else " (already up to date)"))
    return 0


def cmd_db_status(args: argparse.Namespace) -> int:
    """Print where the database is, its version, migration state and table counts."""
    from sigmasight import migrate
    from sigmasight.db import session_scope
    from sigmasight.repositories.prices import price_summary
    from sigmasight.repositories.reference import table_counts

    settings = get_settings()
    url = database_url(settings)
    mode = "DATABASE_URL" if settings.database_url else "embedded"
    print(f"database:  {url.render_as_string(hide_password=True)} ({mode})")
    if settings.database_url is None:
        print(f"data dir:  {embedded_data_dir(settings)}")
    engine = get_engine()
    print(f"server:    PostgreSQL {ping(engine)}")
    current, head = migrate.current_revision(engine), migrate.head_revision()
    state = "up to date" if current == head else "run `sigmasight db upgrade`"
    print(f"revision:  {current or 'none'} (head {head}; {state})")
    if current is None:
        return 0
    with session_scope() as session:
        counts = table_counts(session)
        rows, symbols, first, last = price_summary(session)
    print("tables:    " + ", ".join(f"{name} {n}" for name, n in counts.items()))
    print(f"prices:    {rows} bars, {symbols} symbols, {first or '-'} .. {last or '-'}")
    return 0


def cmd_db_stop(args: argparse.Namespace) -> int:
    """Stop the embedded server."""
    settings = get_settings()
    if settings.database_url is not None:
        raise InputError("DATABASE_URL is set: the database is external, nothing to stop")
    stopped = stop_embedded(settings)
    print("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running")
    return 0


# ---- seed and import ----------------------------------------------------------------------
def _default_as_of(args: argparse.Namespace) -> dt.date:
    from sigmasight.trading_calendar import last_completed_session

    as_of: dt.date | None = getattr(args, "as_of", None)
    return as_of or last_completed_session()


def cmd_seed_demo(args: argparse.Namespace) -> int:
    """Seed the demo users, portfolios, factors and stress scenarios."""
    from sigmasight.runs.seed import seed_demo

    result = seed_demo(_default_as_of(args))
    changed = result.counts.changed
    print(
        f"demo seeded for {result.as_of}: {result.portfolios} portfolios, {result.positions} positions"
        + (f"; {changed} rows written" if changed else "; nothing changed")
    )
    return 0


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


# ---- flows ----------------------------------------------------------------------------------
def _report_state(state: Any, label: str) -> int:
    """Print a flow's outcome; non-zero exit when it did not complete."""
    if state.is_completed():
        result = state.result()
        if state.name == "Skipped":
            print(f"{label}: skipped: {state.message}")
        else:
            print(f"{label}: done: " + json.dumps(result, default=str))
        return 0
    print(f"sigmasight: error: {label} {state.name.lower()}: {state.message}", file=sys.stderr)
    return 1


def _require_current_schema() -> None:
    from sigmasight import migrate

    current, head = migrate.current_revision(get_engine()), migrate.head_revision()
    if current != head:
        raise InputError(
            f"the database is at migration {current or 'none'}, this code needs {head}: "
            "run `sigmasight db upgrade` first"
        )


def cmd_run_market_data(args: argparse.Namespace) -> int:
    """Run the market-data flow once, now."""
    from flows.market_data import pull_market_data
    from sigmasight.providers.registry import resolve_price_provider

    # Fail on a missing key or an old schema before Prefect spends seconds starting.
    resolve_price_provider(get_settings(), args.provider)
    _require_current_schema()
    state = pull_market_data(
        as_of=args.as_of,
        provider=args.provider,
        backfill_years=args.backfill_years,
        return_state=True,
    )
    return _report_state(state, "market-data")


def cmd_run_risk(args: argparse.Namespace) -> int:
    """Run the nightly-risk flow for a date on what is in the database."""
    from flows.nightly_risk import nightly_risk

    _require_current_schema()
    state = nightly_risk(as_of=args.as_of, return_state=True)
    return _report_state(state, "nightly-risk")


def cmd_run_reports(args: argparse.Namespace) -> int:
    """Run the reports flow for a date on the stored results; print where the files are."""
    from flows.reports import generate_reports
    from sigmasight.runs.reports import plan_reports, report_locations

    _require_current_schema()
    # A wrong --portfolio or a date without results fails before Prefect spends seconds starting.
    plan_reports(args.as_of, args.portfolio, 1)
    state = generate_reports(as_of=args.as_of, portfolio=args.portfolio, return_state=True)
    code = _report_state(state, "reports")
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


def cmd_export_risk(args: argparse.Namespace) -> int:
    """Write stored risk documents as JSON."""
    from sigmasight.runs.risk import export_documents

    _require_current_schema()
    documents = export_documents(args.as_of, args.portfolio)
    if not documents:
        raise InputError(
            f"no risk results for {args.as_of}: run `sigmasight run risk --as-of {args.as_of}` first"
        )
    dumped = [document.as_json() for document in documents]
    payload: Any = dumped[0] if args.portfolio else dumped
    text = json.dumps(payload, indent=2, allow_nan=False) + "\n"
    if args.output in (None, "-"):
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text)
        print(f"wrote {len(documents)} document(s) to {args.output}", file=sys.stderr)
    return 0


# ---- demo ---------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    """The main job on embedded defaults: migrate, seed, nightly pipeline, summary, then serve."""
    args.as_of = _default_as_of(args)
    cmd_db_upgrade(args)
    cmd_seed_demo(args)
    served = None
    if args.serve:
        from cli.serve import ServedMode

        served = ServedMode(ui_port=args.ui_port, api_port=args.api_port)
        print(
            f"starting the Prefect server on {served.ui_url} (its first start takes about half a minute) ..."
        )
        served.start_prefect()
    try:
        from flows.backup import backup_database
        from flows.nightly import nightly

        print(f"running the nightly pipeline for {args.as_of} (market data, risk, reports) ...")
        state = nightly(as_of=args.as_of, provider=args.provider, return_state=True)
        if not state.is_completed():
            return _report_state(state, "nightly")
        for line in _nightly_lines(state.result()):
            print(f"  {line}")
        print("backing the database up to S3 ...")
        backup = backup_database(return_state=True)
        if not backup.is_completed():
            return _report_state(backup, "backup")
        done = backup.result()
        print(
            f"  {done.get('key')} ({done.get('size_bytes', 0) / 1e6:,.1f} MB, sha256 {str(done.get('sha256'))[:12]}...)"
        )
        cmd_summary(args)
        print(
            f"\nreports:   {get_settings().reports_dir}/<portfolio>/{args.as_of}/ "
            "(report.html, report.md, positions.csv, report.json)"
        )
        if served is None:
            return 0
        return _serve(served)
    finally:
        if served is not None:
            served.stop()


def _nightly_lines(result: Any) -> list[str]:
    """A person-sized account of a nightly run's result."""
    if not isinstance(result, dict):
        return [str(result)]
    market, risk, reports = (result.get(k) or {} for k in ("market_data", "risk", "reports"))
    providers = market.get("providers", {})
    statuses = {k: v for k, v in risk.items() if k in ("ok", "warnings", "incomplete", "error")}
    return [
        f"market data: {market.get('inserted', 0):,} new bars from {providers.get('prices', '?')} in "
        f"{market.get('requests', 0)} requests, coverage {100 * float(market.get('coverage', 0)):.0f}%",
        f"risk:        {risk.get('portfolios', 0)} portfolios "
        + ", ".join(f"{n} {s}" for s, n in statuses.items()),
        f"reports:     {reports.get('files', 0)} files for {reports.get('portfolios', 0)} portfolios",
    ]


def _serve(served: "Any") -> int:
    served.start_deployments()
    api = served.start_api()
    print(f"\nPrefect UI:     {served.ui_url}   (deployments served; schedules active)")
    if api:
        print(f"SigmaSight API: {served.sigmasight_api_url}   (docs at /docs)")
    print(f"logs:           {served.log_dir}")
    print("Ctrl-C stops everything.")
    return int(served.wait())


def cmd_serve(args: argparse.Namespace) -> int:
    """Start the Prefect server and UI, serve the deployments, start the API; Ctrl-C stops all."""
    from cli.serve import ServedMode

    _require_current_schema()
    served = ServedMode(ui_port=args.ui_port, api_port=args.api_port)
    print(f"starting the Prefect server on {served.ui_url} ...")
    try:
        served.start_prefect()
        return _serve(served)
    finally:
        served.stop()


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


# ---- api ----------------------------------------------------------------------------------
def _port(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port (1-65535)")
    return int(value)


def cmd_api(args: argparse.Namespace) -> int:
    """Serve the read API with uvicorn until Ctrl-C."""
    from sigmasight.api.auth import ApiConfigError
    from sigmasight.api.main import serve

    settings = get_settings()
    try:
        serve(args.host or settings.api_host, args.port or settings.api_port, settings)
    except ApiConfigError as exc:
        raise InputError(str(exc)) from None
    return 0


# ---- backups -------------------------------------------------------------------------------
def _backup_failure(exc: Exception) -> int:
    """One line for a failed backup, restore or S3 call (exit 1); never a URL's password."""
    print(f"sigmasight: error: {exc}", file=sys.stderr)
    return 1


def cmd_backup(args: argparse.Namespace) -> int:
    """``backup`` (run the backup flow now), ``backup list`` or ``backup verify``."""
    from botocore.exceptions import BotoCoreError, ClientError

    from sigmasight.backup.errors import BackupError
    from sigmasight.objectstore import ObjectStoreError

    try:
        if args.action == "list":
            return _backup_list(args.all)
        _require_current_schema()
        if args.action == "verify":
            from flows.backup_verify import verify_backup

            return _report_state(verify_backup(key=args.key, return_state=True), "backup-verify")
        if args.key:
            raise InputError("--key goes with `sigmasight backup verify`")
        from flows.backup import backup_database

        return _report_state(backup_database(return_state=True), "backup")
    except (BackupError, ObjectStoreError, BotoCoreError, ClientError) as exc:
        return _backup_failure(exc)


def _backup_list(include_deleted: bool) -> int:
    from sigmasight.objectstore import object_store
    from sigmasight.runs.backup import list_all

    settings = get_settings()
    store = object_store(settings)
    rows = list_all(settings, store=store, include_deleted=include_deleted)
    print(f"backups in {store.describe()}:")
    if not rows:
        print("  none yet: `sigmasight backup` takes one")
        return 0
    width = max(len(row.key) for row in rows)
    print(
        f"{'key':<{width}}  {'taken (UTC)':<16}  {'size':>10}  {'status':<10}  "
        f"{'verified (UTC)':<16}  in bucket"
    )
    for row in rows:
        size = f"{row.size_bytes / 2**20:,.1f} MiB" if row.size_bytes is not None else "-"
        taken = f"{row.taken_at:%Y-%m-%d %H:%M}" if row.taken_at else "-"
        verified = (
            f"{row.verified_at.astimezone(dt.UTC):%Y-%m-%d %H:%M}" if row.verified_at else "-"
        )
        print(
            f"{row.key:<{width}}  {taken:<16}  {size:>10}  {row.status:<10}  {verified:<16}  "
            + ("yes" if row.stored else "no")
        )
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """Restore a backup into a database after checking its sha256 against the manifest."""
    from botocore.exceptions import BotoCoreError, ClientError

    from sigmasight.backup.errors import BackupError
    from sigmasight.backup.pgtools import parse_target_url, safe_url
    from sigmasight.objectstore import ObjectStoreError
    from sigmasight.runs.backup import restore_backup

    target = parse_target_url(args.target)
    print(f"restoring {args.key} into {safe_url(target)} ...", file=sys.stderr)
    try:
        outcome = restore_backup(get_settings(), args.key, target, overwrite=args.yes)
    except (BackupError, ObjectStoreError, BotoCoreError, ClientError) as exc:
        return _backup_failure(exc)
    print(
        f"restored {outcome.key} into {outcome.target}: {outcome.tables} tables, "
        f"{outcome.rows:,} rows; checksum and row counts match the manifest ({outcome.seconds:.1f} s)"
    )
    return 0


def cmd_s3(args: argparse.Namespace) -> int:
    """Where object storage is; ``stop`` stops the embedded S3 server."""
    from sigmasight.objectstore import EMBEDDED_BUCKET, running_embedded_s3, stop_embedded_s3

    settings = get_settings()
    if args.action == "stop":
        if settings.aws_s3_bucket:
            raise InputError("AWS_S3_BUCKET is set: object storage is external, nothing to stop")
        stopped = stop_embedded_s3(settings)
        print(
            "embedded S3 stopped (its objects are gone)"
            if stopped
            else "embedded S3 was not running"
        )
        return 0
    if settings.aws_s3_bucket:
        print(f"S3 bucket {settings.aws_s3_bucket} (AWS_S3_BUCKET; boto3's credential chain)")
        return 0
    server = running_embedded_s3(settings)
    if server is None:
        print("embedded S3 not running (the first backup or report starts it)")
    else:
        print(
            f"embedded S3 (moto) at {server.endpoint}, pid {server.pid}, bucket {EMBEDDED_BUCKET}; "
            "objects live as long as this process"
        )
    return 0


def _register_backup_commands(
    commands: "argparse._SubParsersAction[argparse.ArgumentParser]",
) -> None:
    backup = commands.add_parser(
        "backup",
        help="back the database up to S3 now; `list` the backups; `verify` one",
        description="Without ACTION: run the backup flow now (streamed pg_dump to S3 with a "
        "sha256 and a manifest, then retention). `list`: the backups and their status. "
        "`verify`: restore the newest completed backup (or --key) into a scratch database "
        "and compare it with its manifest.",
    )
    backup.add_argument(
        "action",
        nargs="?",
        choices=("list", "verify"),
        metavar="ACTION",
        help="list | verify (none: take a backup now)",
    )
    backup.add_argument("--all", action="store_true", help="list: include deleted backups")
    backup.add_argument("--key", help="verify: this backup instead of the newest")
    backup.set_defaults(handler=cmd_backup)

    restore = commands.add_parser(
        "restore",
        help="restore a backup into a database",
        description="Download a backup, check its sha256 against its manifest, pg_restore it "
        "into --target in one transaction and compare row counts with the manifest.",
    )
    restore.add_argument(
        "key", metavar="KEY", help="the backup's S3 key (`sigmasight backup list`)"
    )
    restore.add_argument(
        "--target",
        required=True,
        metavar="DATABASE_URL",
        help="database to restore into (must exist; password via the URL, PGPASSWORD or ~/.pgpass)",
    )
    restore.add_argument(
        "--yes",
        action="store_true",
        help="overwrite a non-empty target (its objects in the backup)",
    )
    restore.set_defaults(handler=cmd_restore)

    s3 = commands.add_parser("s3", help="object storage: status, stop the embedded S3")
    s3.add_argument(
        "action",
        nargs="?",
        choices=("status", "stop"),
        default="status",
        help="status (default) | stop",
    )
    s3.set_defaults(handler=cmd_s3)


# ---- parser --------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to document the CLI)."""
    parser = argparse.ArgumentParser(
        prog="sigmasight",
        description="SigmaSight portfolio-risk batch system. The database comes from DATABASE_URL; "
        "when unset, an embedded PostgreSQL under SIGMASIGHT_STATE_DIR (default .sigmasight/) is used.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail to stderr")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        group: "argparse._SubParsersAction[argparse.ArgumentParser]",
        name: str,
        handler: Handler,
        help_: str,
    ) -> argparse.ArgumentParser:
        sub = group.add_parser(name, help=help_, description=help_)
        sub.set_defaults(handler=handler)
        return sub

    demo = add(
        commands,
        "demo",
        cmd_demo,
        "the main job on embedded defaults: migrate, seed the demo, market data, risk, summary",
    )
    demo.add_argument(
        "--as-of", type=_as_of, help="valuation date (default: last completed NYSE session)"
    )
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
    _ports(demo)
    serve = add(
        commands,
        "serve",
        cmd_serve,
        "Prefect server and UI, the deployments and the API, until Ctrl-C",
    )
    _ports(serve)

    db = commands.add_parser("db", help="database: upgrade, status, stop").add_subparsers(
        dest="db_command", required=True, metavar="ACTION"
    )
    add(db, "upgrade", cmd_db_upgrade, "apply the Alembic migrations (head)")
    add(db, "status", cmd_db_status, "show the database, its migration state and row counts")
    add(db, "stop", cmd_db_stop, "stop the embedded PostgreSQL server")

    seed = commands.add_parser("seed", help="load demo data").add_subparsers(
        dest="seed_command", required=True, metavar="WHAT"
    )
    seed_demo = add(seed, "demo", cmd_seed_demo, "seed 3 demo users and portfolios (idempotent)")
    seed_demo.add_argument(
        "--as-of", type=_as_of, help="valuation date (default: last completed NYSE session)"
    )

    imports = commands.add_parser(
        "import", help="import prices, rates or portfolios"
    ).add_subparsers(dest="import_command", required=True, metavar="WHAT")
    prices = add(
        imports, "prices", cmd_import_prices, "upsert daily prices from a long or wide CSV"
    )
    prices.add_argument("file", type=Path, metavar="FILE.csv")
    rates = add(
        imports,
        "rates",
        cmd_import_rates,
        "upsert a FRED-style rate series CSV (date,value in percent)",
    )
    rates.add_argument("file", type=Path, metavar="FILE.csv")
    rates.add_argument("--series", required=True, help="series id, e.g. DGS10")
    bundle = add(imports, "portfolios", cmd_import_portfolios, "upsert a portfolio bundle JSON")
    bundle.add_argument("file", type=Path, metavar="FILE.json")

    run = commands.add_parser("run", help="run a flow once, now").add_subparsers(
        dest="run_command", required=True, metavar="FLOW"
    )
    market = add(
        run, "market-data", cmd_run_market_data, "pull prices, DGS10 and profiles for the universe"
    )
    market.add_argument(
        "--as-of", type=_as_of, help="session to fetch up to (default: last completed)"
    )
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

    risk = add(
        run, "risk", cmd_run_risk, "compute every portfolio's risk for a date (no market-data pull)"
    )
    risk.add_argument("--as-of", type=_as_of, required=True, help="valuation session (YYYY-MM-DD)")

    reports = add(
        run,
        "reports",
        cmd_run_reports,
        "write JSON, Markdown, CSV and HTML reports from the stored results of a date",
    )
    reports.add_argument(
        "--as-of", type=_as_of, required=True, help="valuation session (YYYY-MM-DD)"
    )
    reports.add_argument(
        "--portfolio", metavar="ID", help="one portfolio's external id (default all)"
    )

    export = commands.add_parser("export", help="export stored results").add_subparsers(
        dest="export_command", required=True, metavar="WHAT"
    )
    export_risk = add(export, "risk", cmd_export_risk, "write sigmasight.risk/1 documents as JSON")
    export_risk.add_argument(
        "--as-of", type=_as_of, required=True, help="valuation session (YYYY-MM-DD)"
    )
    export_risk.add_argument(
        "--portfolio", metavar="ID", help="one portfolio's external id (writes an object)"
    )
    export_risk.add_argument(
        "-o", "--output", metavar="FILE", help="output file (default: standard output)"
    )

    add(
        commands, "summary", cmd_summary, "list the portfolios with their current NAV, VaR and beta"
    )
    api = add(commands, "api", cmd_api, "serve the read API (FastAPI on uvicorn; docs at /docs)")
    api.add_argument("--host", help="address to bind (default 127.0.0.1, SIGMASIGHT_API_HOST)")
    api.add_argument(
        "--port", type=_port, help="port to listen on (default 8001, SIGMASIGHT_API_PORT)"
    )
    _register_backup_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        configure_logging(level="DEBUG" if args.verbose else None)
        apply_prefect_defaults(get_settings())
        handler: Handler = args.handler
        return handler(args)
    except (InputError, DatabaseConfigError, SettingsFileError) as exc:
        print(f"sigmasight: error: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        print(f"sigmasight: error: bad setting: {problems}", file=sys.stderr)
        return 2
    except EmbeddedPostgresError as exc:
        print(f"sigmasight: error: {exc}", file=sys.stderr)
        return 1
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "unknown reason"
        print(f"sigmasight: error: cannot reach the database: {reason}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("sigmasight: interrupted", file=sys.stderr)
        return 130
