"""Shared by the benchmarks: a migrated scratch database, dropped afterwards."""

import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import URL, create_engine, pool

from sigmasight import db as sdb
from sigmasight import migrate
from sigmasight.settings import get_settings

# The benchmarks' Prefect API servers run offline: no analytics call that fails and logs.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")


@contextmanager
def scratch_database() -> Iterator[URL]:
    """A migrated scratch database on the embedded server (or DATABASE_URL's), dropped after."""
    settings = get_settings()
    if settings.database_url is not None:
        base = sdb.normalize_url(settings.database_url.get_secret_value())
        admin, owner = base.set(database="postgres"), None
    else:
        server = sdb.embedded_server(settings)
        admin, base, owner = server.admin_url(), server.app_url(), "sigmasight"
    name = f"sigmasight_bench_{os.getpid()}"
    sdb.create_database(admin, name, owner=owner)
    url = base.set(database=name)
    try:
        engine = create_engine(url, poolclass=pool.NullPool)
        migrate.upgrade(engine)
        engine.dispose()
        os.environ["DATABASE_URL"] = url.render_as_string(hide_password=False)
        get_settings.cache_clear()
        sdb.reset_engine()
        yield url
    finally:
        sdb.reset_engine()
        sdb.drop_database(admin, name)
