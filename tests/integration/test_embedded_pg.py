"""The embedded PostgreSQL on its own state folder: start, reuse, restart, roles, secrets.

This module starts its own server (not the session one of conftest.py), twice in all: once
at the start and once after the explicit stop.
"""

import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError

from sigmasight import db as sdb
from sigmasight.embedded_pg import APP_ROLE, EmbeddedPostgres
from sigmasight.settings import Settings, get_settings


@dataclass(frozen=True)
class Embedded:
    state: Path
    server: EmbeddedPostgres
    settings: Settings


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Embedded]:
    state = tmp_path_factory.mktemp("embedded_state")
    server = EmbeddedPostgres(state)
    try:
        server.ensure_running()
        settings = get_settings().model_copy(update={"state_dir": state, "database_url": None})
        yield Embedded(state, server, settings)
    finally:
        server.destroy()
    assert not server.data_dir.exists() and not (state / "pg").exists()


def postmaster_pid(server: EmbeddedPostgres) -> int:
    return int((server.data_dir / "postmaster.pid").read_text().splitlines()[0])


def scalar(url: URL, sql: str):
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar_one()
    finally:
        engine.dispose()


def test_a_second_object_reuses_the_running_server(embedded):
    first = embedded.server.ensure_running()
    pid = postmaster_pid(embedded.server)
    again = EmbeddedPostgres(embedded.state).ensure_running()
    assert again.port == first.port
    assert postmaster_pid(embedded.server) == pid
    assert again.app_password == first.app_password
    assert embedded.server.is_running()
    assert scalar(again.admin_url(), "SELECT pg_backend_pid() <> 0") is True


def test_app_role_is_no_superuser_and_needs_its_password(embedded):
    running = sdb.embedded_server(embedded.settings)
    app = running.app_url()
    assert app.username == APP_ROLE and app.host == "127.0.0.1"
    assert scalar(app, "SELECT current_user") == APP_ROLE
    assert scalar(app, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user") is False
    assert scalar(running.admin_url(), "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    with pytest.raises(OperationalError, match="password authentication failed"):
        scalar(app.set(password="wrong-password"), "SELECT 1")


def test_credentials_file_is_private(embedded):
    path = embedded.state / "pg" / "credentials.json"
    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_data_survives_stop_and_start(embedded):
    app = sdb.embedded_server(embedded.settings).app_url()
    engine = create_engine(app, poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE survivor (id int PRIMARY KEY, note text)"))
            conn.execute(text("INSERT INTO survivor VALUES (1, 'still here')"))
    finally:
        engine.dispose()
    old_pid = postmaster_pid(embedded.server)

    assert embedded.server.stop() is True
    assert not embedded.server.is_running()
    assert embedded.server.stop() is False

    restarted = EmbeddedPostgres(embedded.state).ensure_running()
    assert embedded.server.is_running()
    assert postmaster_pid(embedded.server) != old_pid
    url = sdb.embedded_server(embedded.settings).app_url()
    assert url.port == restarted.port
    assert scalar(url, "SELECT note FROM survivor WHERE id = 1") == "still here"
