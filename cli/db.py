"""``sigmasight db``: upgrade, status, stop."""

import argparse

from cli.common import Subparsers, add_command, add_group
from sigmasight.db import database_url, embedded_data_dir, get_engine, ping, stop_embedded
from sigmasight.domain import InputError
from sigmasight.settings import get_settings


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


def register_db(commands: Subparsers) -> None:
    """Add ``db`` and its actions."""
    db = add_group(commands, "db", "database: upgrade, status, stop", "db_command", "ACTION")
    add_command(db, "upgrade", cmd_db_upgrade, "apply the Alembic migrations (head)")
    add_command(
        db, "status", cmd_db_status, "show the database, its migration state and row counts"
    )
    add_command(db, "stop", cmd_db_stop, "stop the embedded PostgreSQL server")
