"""``sigmasight``: the command-line contract of FORMATS.md section 1, plus demo and db tools.

Every command exits 0 on success, 2 with a one-line error on bad input (nothing written),
and 1 when something outside the input failed (database down, disk full).

Each command group lives in its own module (``cli/db.py``, ``cli/run.py``, ...) with its
handlers and a ``register_<command>`` function; this module assembles the parser and maps
errors to exit codes.
"""

import argparse
import sys
from collections.abc import Sequence

from pydantic import ValidationError
from sqlalchemy.exc import OperationalError

from cli import common
from cli.api import register_api, register_serve
from cli.backup import register_backup, register_restore, register_s3
from cli.common import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, Handler, print_error
from cli.db import register_db
from cli.demo import register_demo, register_seed
from cli.export import register_export, register_summary
from cli.imports import register_import
from cli.limits import register_limits
from cli.run import register_run
from sigmasight.db import DatabaseConfigError, EmbeddedPostgresError
from sigmasight.domain import InputError
from sigmasight.logs import configure_logging
from sigmasight.prefect_env import apply_prefect_defaults
from sigmasight.settings import SettingsFileError, get_settings


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to document the CLI)."""
    parser = argparse.ArgumentParser(
        prog="sigmasight",
        description="SigmaSight portfolio-risk batch system. The database comes from DATABASE_URL; "
        "when unset, an embedded PostgreSQL under SIGMASIGHT_STATE_DIR (default .sigmasight/) is used.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail to stderr")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # The order here is the order `sigmasight --help` lists the commands in.
    register_demo(commands)
    register_serve(commands)
    register_db(commands)
    register_seed(commands)
    register_import(commands)
    register_run(commands)
    register_export(commands)
    register_limits(commands)
    register_summary(commands)
    register_api(commands)
    register_backup(commands)
    register_restore(commands)
    register_s3(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        configure_logging(level="DEBUG" if args.verbose else None)
        common.SHOW_TRACEBACKS = bool(args.verbose)
        apply_prefect_defaults(get_settings())
        handler: Handler = args.handler
        return handler(args)
    except (InputError, DatabaseConfigError, SettingsFileError) as exc:
        print_error(str(exc))
        return EXIT_BAD_INPUT
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        print_error(f"bad setting: {problems}")
        return EXIT_BAD_INPUT
    except EmbeddedPostgresError as exc:
        print_error(str(exc))
        return EXIT_FAILED
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "unknown reason"
        if "statement timeout" in reason.lower():
            print_error(
                f"the database cancelled a statement: {reason} (it ran past "
                f"{get_settings().db_statement_timeout_s:g} s; SIGMASIGHT_DB_STATEMENT_TIMEOUT_S)"
            )
            return EXIT_FAILED
        if "timeout" in reason.lower():
            reason += (
                f" (no answer within {get_settings().db_connect_timeout_s} s; "
                "SIGMASIGHT_DB_CONNECT_TIMEOUT_S)"
            )
        print_error(f"cannot reach the database: {reason}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("sigmasight: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
