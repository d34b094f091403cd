"""Prometheus metrics: requests by route template and status, run timestamps, DB pool usage.

Each app has its own registry (several apps may live in one test process). The run and
backup timestamps are read from the database when Prometheus scrapes, so they are right
whichever process ran the flows.
"""

import logging
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy.pool import QueuePool

from sigmasight.db import get_engine, get_sessionmaker
from sigmasight.repositories import api_reads
from sigmasight.trading_calendar import last_completed_session, sessions

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Loopback reads take about a millisecond; the analyze endpoint can take seconds.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class DatabaseCollector:
    """Pool usage, newest flow-run finish per flow and status, newest backups."""

    def describe(self) -> list[Metric]:
        """Nothing up front: registering must not query the database."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Read the figures at scrape time."""
        yield from self._pool()
        up = GaugeMetricFamily(
            "sigmasight_database_up", "1 when the last scrape reached the database"
        )
        try:
            with get_sessionmaker()() as session:
                runs = api_reads.flow_run_timestamps(session)
                backups_found = api_reads.newest_backups(session)
                risk = api_reads.last_successful_run(session, "nightly-risk")
        except Exception as exc:  # a scrape must answer even when the database is down
            log.warning("metrics: database unreachable (%s)", type(exc).__name__)
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield up
        finished = GaugeMetricFamily(
            "sigmasight_flow_run_last_finished_timestamp_seconds",
            "Unix time the newest run of a flow with this final status finished",
            labels=["flow", "status"],
        )
        for flow, status, when in runs:
            finished.add_metric([flow, status], when.timestamp())
        yield finished
        if risk is not None and risk.as_of_date is not None:
            behind = GaugeMetricFamily(
                "sigmasight_nightly_risk_sessions_behind",
                "NYSE sessions completed since the newest successful nightly-risk date "
                "(0 when it covers the last completed session; weekends and holidays add none)",
            )
            last = last_completed_session()
            behind.add_metric([], float(max(0, len(sessions(risk.as_of_date, last)) - 1)))
            yield behind
        backups = GaugeMetricFamily(
            "sigmasight_backup_last_timestamp_seconds",
            "Unix time of the newest backup (kind=any), the newest good one (kind=good) and the "
            "newest one proven by a restore (kind=verified)",
            labels=["kind"],
        )
        for kind, backup in (
            ("any", backups_found.any),
            ("good", backups_found.good),
            ("verified", backups_found.verified),
        ):
            if backup is not None:
                backups.add_metric([kind], backup.created_at.timestamp())
        yield backups

    def _pool(self) -> Iterator[Metric]:
        if not get_engine.cache_info().currsize:
            return  # no engine yet: nothing connected, nothing to report
        pool = get_engine().pool
        if not isinstance(pool, QueuePool):
            return
        gauge = GaugeMetricFamily(
            "sigmasight_db_pool_connections",
            "Connections of the API's SQLAlchemy pool by state",
            labels=["state"],
        )
        gauge.add_metric(["checked_out"], float(pool.checkedout()))
        gauge.add_metric(["checked_in"], float(pool.checkedin()))
        gauge.add_metric(["overflow"], float(max(pool.overflow(), 0)))
        yield gauge
        size = GaugeMetricFamily("sigmasight_db_pool_size", "Configured pool size")
        size.add_metric([], float(pool.size()))
        yield size


class ApiMetrics:
    """The app's registry and its request instruments."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "sigmasight_http_requests",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "sigmasight_http_request_duration_seconds",
            "Time from request to the end of the response, by method, route template and status",
            ["method", "route", "status"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.in_progress = Gauge(
            "sigmasight_http_requests_in_progress",
            "Requests being served",
            registry=self.registry,
        )
        self.login_refused = Counter(
            "sigmasight_login_rate_limited",
            "Login attempts refused by the rate limiter",
            registry=self.registry,
        )
        self.registry.register(DatabaseCollector())

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one finished request."""
        labels = (method, route, str(status))
        self.requests.labels(*labels).inc()
        self.duration.labels(*labels).observe(seconds)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
