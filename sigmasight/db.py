"""Engines and sessions: the only module that opens database connections.

``DATABASE_URL`` (any of ``postgres://``, ``postgresql://`` or ``postgresql+psycopg://``)
names the database. When it is unset, the embedded PostgreSQL under the state folder is
started (or reused) and its application database is used.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import Connection, Engine, create_engine, make_url, pool, text
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session, sessionmaker

from sigmasight.embedded_pg import (
    APP_DATABASE,
    APP_ROLE,
    EmbeddedPostgres,
    EmbeddedServer,
)
from sigmasight.embedded_pg import EmbeddedPostgresError as EmbeddedPostgresError  # re-export
from sigmasight.settings import Settings, get_settings

log = logging.getLogger(__name__)


class DatabaseConfigError(ValueError):
    """``DATABASE_URL`` is not a PostgreSQL URL we can use."""


def normalize_url(raw: str) -> URL:
    """Parse a PostgreSQL URL and select the psycopg 3 driver.

    The error names the variable but never echoes the URL, which may hold a password.
    """
    try:
        url = make_url(raw)
    except Exception:
        raise DatabaseConfigError("DATABASE_URL is not a valid URL") from None
    if url.get_backend_name() not in {"postgres", "postgresql"}:
        raise DatabaseConfigError(
            f"DATABASE_URL must be a PostgreSQL URL, got scheme {url.drivername!r}"
        )
    return url.set(drivername="postgresql+psycopg")


def libpq_conninfo(url: URL) -> str:
    """The libpq form of ``url`` (for psycopg and the PostgreSQL client tools)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def embedded_server(settings: Settings | None = None) -> EmbeddedServer:
    """Start (or reuse) the embedded server and make sure the application database exists."""
    settings = settings or get_settings()
    server = EmbeddedPostgres(settings.state_dir, port=settings.pg_port).ensure_running()
    _bootstrap_app_database(server)
    return server


def embedded_data_dir(settings: Settings | None = None) -> Path:
    """Where the embedded cluster keeps its data (it may be a root fallback location)."""
    settings = settings or get_settings()
    return EmbeddedPostgres(settings.state_dir).data_dir


def stop_embedded(settings: Settings | None = None) -> bool:
    """Stop the embedded server; False when it was not running."""
    settings = settings or get_settings()
    return EmbeddedPostgres(settings.state_dir).stop()


PREFECT_DATABASE = "prefect"


def prefect_database_url(settings: Settings | None = None) -> URL | None:
    """Where a served Prefect server keeps its own state.

    On the embedded server, a separate ``prefect`` database owned by the application role
    (Prefect's SQLite answers "database is locked" under load). With ``DATABASE_URL`` set,
    None: point ``PREFECT_API_DATABASE_CONNECTION_URL`` at a database of your choice.
    """
    settings = settings or get_settings()
    if settings.database_url is not None:
        return None
    server = embedded_server(settings)
    with psycopg.connect(libpq_conninfo(server.admin_url()), autocommit=True) as conn:
        _ensure_app_owned_database(conn, PREFECT_DATABASE)
    return server.app_url(PREFECT_DATABASE).set(drivername="postgresql+asyncpg")


def _bootstrap_app_database(server: EmbeddedServer) -> None:
    with psycopg.connect(libpq_conninfo(server.admin_url()), autocommit=True) as conn:
        role_exists = conn.execute(
            "SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_ROLE,)
        ).fetchone()
        if role_exists is None:
            # CREATEDB lets the app role clone test databases and restore-verify backups;
            # it is still not a superuser, like a managed-PostgreSQL owner role.
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(
                    sql.Identifier(APP_ROLE), sql.Literal(server.app_password)
                )
            )
        _ensure_app_owned_database(conn, APP_DATABASE)


def _ensure_app_owned_database(conn: "psycopg.Connection[Any]", name: str) -> None:
    """Create database ``name`` owned by the application role unless it exists."""
    exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    if exists is None:
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(APP_ROLE)
            )
        )


def database_url(settings: Settings | None = None) -> URL:
    """The URL SigmaSight uses: ``DATABASE_URL``, else the embedded server's app database."""
    settings = settings or get_settings()
    if settings.database_url is not None:
        return normalize_url(settings.database_url.get_secret_value())
    return embedded_server(settings).app_url()


@lru_cache
def get_engine() -> Engine:
    """The process-wide engine (pool pre-ping on, psycopg 3, connect and statement timeouts)."""
    settings = get_settings()
    return create_engine(
        database_url(settings),
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=10,
        connect_args=connect_args(settings),
    )


def connect_args(settings: Settings) -> dict[str, Any]:
    """The connection options every engine uses, from the settings.

    Give up connecting after ``db_connect_timeout_s``, have the server cancel a statement after
    ``db_statement_timeout_s``, and notice a vanished server (TCP keepalives).
    """
    args: dict[str, Any] = {
        "connect_timeout": settings.db_connect_timeout_s,
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
    }
    if settings.db_statement_timeout_s > 0:
        millis = int(settings.db_statement_timeout_s * 1000)
        args["options"] = f"-c statement_timeout={millis}"
    return args


@lru_cache
def get_sessionmaker() -> sessionmaker[Session]:
    """Session factory bound to :func:`get_engine`."""
    return sessionmaker(get_engine(), expire_on_commit=False)


def reset_engine() -> None:
    """Dispose the cached engine (after the settings changed, e.g. in tests)."""
    if get_engine.cache_info().currsize:
        get_engine().dispose()
    get_engine.cache_clear()
    get_sessionmaker.cache_clear()


@contextmanager
def session_scope() -> Iterator[Session]:
    """Open a session; commit on success, roll back on error."""
    with get_sessionmaker().begin() as session:
        yield session


@contextmanager
def session_for(url: URL) -> Iterator[Session]:
    """A short-lived session on another database (a scratch or restore target), no pool."""
    engine = create_engine(url, poolclass=pool.NullPool, connect_args=connect_args(get_settings()))
    try:
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()


@contextmanager
def autocommit_connection() -> Iterator[Connection]:
    """A connection outside any transaction (VACUUM cannot run inside one)."""
    with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        yield conn


@contextmanager
def advisory_lock(name: str) -> Iterator[bool]:
    """Try to take the session-level advisory lock ``name``; yields whether it was taken.

    The lock lives on a connection of its own for the whole ``with`` block, so it is held
    exactly as long as the holder runs: when the process dies, PostgreSQL drops the
    connection and the lock with it. Never waits.
    """
    with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        key = conn.execute(text("SELECT hashtextextended(:n, 0)"), {"n": name}).scalar_one()
        taken = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        try:
            yield taken
        finally:
            if taken:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})


def lock_is_held(name: str) -> bool:
    """Whether some live session holds the advisory lock ``name`` (this one excluded)."""
    with advisory_lock(name) as taken:
        return not taken


def raw_connection(session: Session) -> "psycopg.Connection[Any]":
    """The psycopg connection under ``session`` (for COPY), inside the session's transaction.

    The transaction is opened here if it is not yet: psycopg's ``conn.transaction()`` on an
    idle connection would otherwise run (and commit) on its own instead of as a savepoint.
    """
    driver = session.connection().connection.driver_connection
    if not isinstance(driver, psycopg.Connection):
        raise TypeError("SigmaSight needs the psycopg 3 driver")
    if driver.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        session.execute(text("SELECT 1"))
    return driver


def create_database(
    admin_url: URL, name: str, *, owner: str | None = None, template: str | None = None
) -> None:
    """``CREATE DATABASE name [OWNER owner] [TEMPLATE template]`` through ``admin_url``."""
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if owner:
        statement += sql.SQL(" OWNER {}").format(sql.Identifier(owner))
    if template:
        statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    with psycopg.connect(libpq_conninfo(admin_url), autocommit=True) as conn:
        conn.execute(statement)


def drop_database(admin_url: URL, name: str) -> None:
    """Drop ``name`` if it exists, disconnecting its sessions first."""
    with psycopg.connect(libpq_conninfo(admin_url), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def ping(engine: Engine | None = None) -> str:
    """Return the server version string; raises when the database is unreachable."""
    engine = engine or get_engine()
    with engine.connect() as conn:
        return str(conn.exec_driver_sql("SHOW server_version").scalar_one())
