"""What the command groups share: exit codes, error lines, argument types and flow outcomes.

The argument types keep their underscored names: argparse prints a type's ``__name__`` when
it raises ``ValueError`` (``invalid _port value: ...``), so renaming them would change output.
"""

import argparse
import datetime as dt
import json
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeAlias

from sigmasight.db import get_engine
from sigmasight.domain import InputError

EXIT_OK = 0
EXIT_FAILED = 1  # something outside the input failed: database down, disk full, a failed flow
EXIT_BAD_INPUT = 2  # bad input or configuration; nothing was written
EXIT_INTERRUPTED = 130  # Ctrl-C

Handler = Callable[[argparse.Namespace], int]
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def print_error(message: str) -> None:
    """Print ``sigmasight: error: <message>`` on standard error."""
    print(f"sigmasight: error: {message}", file=sys.stderr)


# ---- parser building ------------------------------------------------------------------------
def add_command(
    group: Subparsers, name: str, handler: Handler, help_: str
) -> argparse.ArgumentParser:
    """Add the sub-command ``name`` running ``handler``; ``help_`` is also its description."""
    sub = group.add_parser(name, help=help_, description=help_)
    sub.set_defaults(handler=handler)
    return sub


def add_group(commands: Subparsers, name: str, help_: str, dest: str, metavar: str) -> Subparsers:
    """Add the command ``name`` whose sub-commands (``metavar``) go in ``dest``."""
    return commands.add_parser(name, help=help_).add_subparsers(
        dest=dest, required=True, metavar=metavar
    )


def add_as_of(parser: argparse.ArgumentParser, help_: str, *, required: bool = False) -> None:
    """The ``--as-of YYYY-MM-DD`` option, checked against the NYSE calendar's range."""
    parser.add_argument("--as-of", type=as_of_date, required=required, help=help_)


def add_ports(parser: argparse.ArgumentParser) -> None:
    """The served mode's ``--ui-port`` and ``--api-port``."""
    parser.add_argument(
        "--ui-port", type=_port, default=4200, help="Prefect UI and API port (default 4200)"
    )
    parser.add_argument(
        "--api-port", type=_port, default=8001, help="SigmaSight API port (default 8001)"
    )


def as_of_date(value: str) -> dt.date:
    """An argparse type: a date the NYSE calendar covers, not after the last completed session."""
    from sigmasight.trading_calendar import as_of_problem

    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None
    problem = as_of_problem(day)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return day


def _port(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port (1-65535)")
    return int(value)


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if not 1 <= number <= 30:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number from 1 to 30")
    return number


# ---- running ----------------------------------------------------------------------------------
def default_as_of(args: argparse.Namespace) -> dt.date:
    """``args.as_of`` when given, else the last completed NYSE session."""
    from sigmasight.trading_calendar import last_completed_session

    as_of: dt.date | None = getattr(args, "as_of", None)
    return as_of or last_completed_session()


def require_current_schema() -> None:
    """Refuse to run on a database that is not at the head migration."""
    from sigmasight import migrate

    current, head = migrate.current_revision(get_engine()), migrate.head_revision()
    if current != head:
        raise InputError(
            f"the database is at migration {current or 'none'}, this code needs {head}: "
            "run `sigmasight db upgrade` first"
        )


def report_state(state: Any, label: str) -> int:
    """Print a flow's outcome; non-zero exit when it did not complete."""
    if state.is_completed():
        result = state.result()
        if state.name == "Skipped":
            print(f"{label}: skipped: {state.message}")
        else:
            print(f"{label}: done: " + json.dumps(result, default=str))
        return EXIT_OK
    print_error(f"{label} {state.name.lower()}: {state.message}")
    return EXIT_FAILED


#: Set by ``main`` from ``--verbose``: tracebacks of in-flow failures stay on the console.
SHOW_TRACEBACKS = False


class _WithoutTraceback(logging.Formatter):
    """A console formatter without tracebacks: the CLI ends with the one-line error."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        """The inner formatter's line, with the record's traceback left out (not removed)."""
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        try:
            return self.inner.format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved


def one_line_failures() -> None:
    """After Prefect set up its console logging: print failures as single lines.

    A failed task or flow otherwise prints its traceback twice (dozens of lines) before the
    CLI's one-line error; ``--verbose`` keeps them. Only console handlers change: the Prefect
    API still receives the full traceback for the UI.
    """
    if SHOW_TRACEBACKS:
        return
    from prefect.logging.handlers import PrefectConsoleHandler

    for handler in logging.getLogger().handlers:
        # Prefect's console and the CLI's own stderr handler; nothing else (say, a test's
        # log capture) is touched.
        ours = isinstance(handler, PrefectConsoleHandler) or getattr(handler, "_sigmasight", False)
        if ours and not isinstance(handler.formatter, _WithoutTraceback):
            handler.setFormatter(_WithoutTraceback(handler.formatter or logging.Formatter()))
