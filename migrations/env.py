"""Alembic environment: migrates the database sigmasight.db resolves (or the URL passed in)."""

from alembic import context
from sqlalchemy import Connection, create_engine, pool

from models import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Use a connection handed over in ``config.attributes``, else open one."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from sigmasight.db import database_url

    engine = create_engine(database_url(), poolclass=pool.NullPool)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
run_migrations_online()
