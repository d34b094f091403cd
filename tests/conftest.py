"""Shared fixtures.

The database tests run against a real PostgreSQL: the embedded server (started once per test
session in a temporary folder) unless SIGMASIGHT_TEST_DATABASE_URL names a server whose role
may create databases. Each test that asks for ``db_url`` gets a fresh database cloned from a
migrated template in about 0.3 s. Nothing is skipped when PostgreSQL is missing: the fixture
errors, and so does the test.
"""

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import URL, Engine, create_engine, pool

from sigmasight import db as sdb
from sigmasight import migrate
from sigmasight.embedded_pg import APP_ROLE, EmbeddedPostgres
from sigmasight.prefect_env import apply_prefect_defaults
from sigmasight.settings import get_settings

TEMPLATE = "sigmasight_test_template"

# The test session is an entry point like the CLI: Prefect's defaults before Prefect loads.
apply_prefect_defaults(get_settings())
get_settings.cache_clear()


@pytest.fixture(scope="session", autouse=True)
def private_output_dirs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Reports and other files the flows write go to a temporary folder, not the project."""
    previous = os.environ.get("SIGMASIGHT_REPORTS_DIR")
    os.environ["SIGMASIGHT_REPORTS_DIR"] = str(tmp_path_factory.mktemp("reports"))
    get_settings.cache_clear()
    yield
    if previous is None:
        os.environ.pop("SIGMASIGHT_REPORTS_DIR", None)
    else:
        os.environ["SIGMASIGHT_REPORTS_DIR"] = previous
    get_settings.cache_clear()


_counter = itertools.count()


@dataclass(frozen=True)
class TestServer:
    """Where the test databases live: an admin URL and the role that owns them."""

    __test__ = False
    admin: URL
    app: URL
    owner: str | None


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestServer]:
    external = os.environ.get("SIGMASIGHT_TEST_DATABASE_URL")
    if external:
        url = sdb.normalize_url(external)
        yield TestServer(admin=url.set(database="postgres"), app=url, owner=None)
        return
    state = tmp_path_factory.mktemp("state")
    server = EmbeddedPostgres(state)
    settings = get_settings().model_copy(update={"state_dir": state, "database_url": None})
    running = sdb.embedded_server(settings)
    yield TestServer(admin=running.admin_url(), app=running.app_url(), owner=APP_ROLE)
    server.destroy()


@pytest.fixture(scope="session")
def template_db(pg_server: TestServer) -> str:
    sdb.drop_database(pg_server.admin, TEMPLATE)
    sdb.create_database(pg_server.admin, TEMPLATE, owner=pg_server.owner)
    engine = create_engine(pg_server.app.set(database=TEMPLATE), poolclass=pool.NullPool)
    migrate.upgrade(engine)
    engine.dispose()
    return TEMPLATE


def _use_database(monkeypatch: pytest.MonkeyPatch, url: URL) -> None:
    monkeypatch.setenv("DATABASE_URL", url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    sdb.reset_engine()


@pytest.fixture
def db_url(
    pg_server: TestServer, template_db: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[URL]:
    """A fresh, migrated database; DATABASE_URL points at it for the test's duration."""
    name = f"sigmasight_test_{os.getpid()}_{next(_counter)}"
    sdb.create_database(pg_server.admin, name, owner=pg_server.owner, template=template_db)
    url = pg_server.app.set(database=name)
    _use_database(monkeypatch, url)
    yield url
    sdb.reset_engine()
    get_settings.cache_clear()
    sdb.drop_database(pg_server.admin, name)


@pytest.fixture
def empty_db_url(pg_server: TestServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[URL]:
    """A fresh database with no schema at all (for migration tests)."""
    name = f"sigmasight_empty_{os.getpid()}_{next(_counter)}"
    sdb.create_database(pg_server.admin, name, owner=pg_server.owner)
    url = pg_server.app.set(database=name)
    _use_database(monkeypatch, url)
    yield url
    sdb.reset_engine()
    get_settings.cache_clear()
    sdb.drop_database(pg_server.admin, name)


@pytest.fixture
def engine(db_url: URL) -> Engine:
    return sdb.get_engine()


@pytest.fixture
def fixtures_dir() -> Path:
    return Path(__file__).parent / "fixtures"
