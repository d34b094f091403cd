"""API test fixtures: a populated template database (built once), cloned per test.

``api_db`` gives each test its own copy of the populated database (``CREATE DATABASE ...
TEMPLATE``, about 0.3 s), with DATABASE_URL, SECRET_KEY and the state folder set for it.
``client`` is a FastAPI TestClient on a fresh app (so rate limits and caches start empty).
"""

import os
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import URL

from sigmasight import db as sdb
from sigmasight.api.main import create_app
from sigmasight.objectstore import embedded_client
from sigmasight.settings import get_settings
from tests.conftest import TestServer
from tests.integration.api.world import WORLD_BUCKET, WORLD_GOOD_BACKUP, World, populate
from tests.s3 import moto_server, s3_environment

SECRET = "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"


def _point_at(monkeypatch: pytest.MonkeyPatch, url: URL) -> None:
    monkeypatch.setenv("DATABASE_URL", url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    sdb.reset_engine()


@pytest.fixture(scope="session")
def api_world(
    pg_server: TestServer, template_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[World, str]]:
    name = f"sigmasight_api_world_{os.getpid()}"
    sdb.drop_database(pg_server.admin, name)
    sdb.create_database(pg_server.admin, name, owner=pg_server.owner, template=template_db)
    folder = tmp_path_factory.mktemp("api_world")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SIGMASIGHT_STATE_DIR", str(folder / "state"))
        _point_at(mp, pg_server.app.set(database=name))
        world = populate(folder)
        sdb.reset_engine()  # a template must have no open connections
    get_settings.cache_clear()
    yield world, name
    sdb.drop_database(pg_server.admin, name)


@pytest.fixture
def world(api_world: tuple[World, str]) -> World:
    return api_world[0]


@pytest.fixture(scope="session")
def api_s3() -> Iterator[str]:
    """A moto S3 over HTTP holding the dump of the world's good backup (``/health`` HEADs it)."""
    with moto_server() as endpoint:
        client = embedded_client(endpoint)
        client.create_bucket(Bucket=WORLD_BUCKET)
        client.put_object(Bucket=WORLD_BUCKET, Key=WORLD_GOOD_BACKUP, Body=b"dump")
        yield endpoint


@pytest.fixture
def api_db(
    pg_server: TestServer,
    api_world: tuple[World, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path,
    api_s3: str,
) -> Iterator[URL]:
    """A private copy of the populated database; the environment points at it."""
    world, template = api_world
    name = f"sigmasight_api_{os.getpid()}_{os.urandom(4).hex()}"
    sdb.create_database(pg_server.admin, name, owner=pg_server.owner, template=template)
    url = pg_server.app.set(database=name)
    monkeypatch.setenv("SECRET_KEY", SECRET)
    monkeypatch.setenv("SIGMASIGHT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("SIGMASIGHT_REPORTS_DIR", str(world.reports_dir))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    for variable, value in s3_environment(api_s3, WORLD_BUCKET, tmp_path).items():
        monkeypatch.setenv(variable, value)
    _point_at(monkeypatch, url)
    yield url
    sdb.reset_engine()
    get_settings.cache_clear()
    sdb.drop_database(pg_server.admin, name)


@pytest.fixture
def make_client(api_db: URL) -> Iterator[Callable[..., TestClient]]:
    """Build a TestClient on a fresh app, after any environment changes the test made."""
    clients: list[TestClient] = []

    def build(**kwargs) -> TestClient:
        get_settings.cache_clear()
        client = TestClient(create_app(), **kwargs)
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client) -> TestClient:
    built: TestClient = make_client()
    return built


def login(client: TestClient, email: str, password: str) -> dict[str, str]:
    """Authorization headers for ``email``."""
    response = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def hnw(client: TestClient, world: World) -> dict[str, str]:
    return login(client, world.hnw_email, world.password)


@pytest.fixture
def individual(client: TestClient, world: World) -> dict[str, str]:
    return login(client, world.individual_email, world.password)
