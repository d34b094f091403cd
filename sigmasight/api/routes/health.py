"""``GET /health`` and ``GET /metrics`` (both public, for load balancers and Prometheus)."""

import datetime as dt
import logging
import threading
import time
from dataclasses import replace

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session

from sigmasight.api.deps import SettingsDep
from sigmasight.api.metrics import CONTENT_TYPE, ApiMetrics
from sigmasight.api.schemas import HealthCheck, HealthResponse
from sigmasight.backup.s3stream import object_exists
from sigmasight.db import get_sessionmaker
from sigmasight.objectstore import object_store, running_embedded_s3
from sigmasight.repositories import api_reads
from sigmasight.settings import Settings
from sigmasight.trading_calendar import last_completed_session, sessions

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"])

RISK_FLOW = "nightly-risk"
#: Seconds a HEAD of the newest good backup's dump is trusted (load balancers poll often).
OBJECT_CHECK_TTL_S = 60.0


class ObjectCheck:
    """Whether a backup's dump is still in its bucket, asked at most every ``ttl_s``.

    A ledger row saying "verified" proves nothing once the object is gone (a bucket policy,
    an operator, or the embedded S3 restarted empty), so ``/health`` looks.
    """

    def __init__(self, ttl_s: float = OBJECT_CHECK_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._seen: dict[tuple[str, str], tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    def problem(self, settings: Settings, bucket: str, key: str) -> str | None:
        """None when ``bucket/key`` exists, else what is wrong (cached for ``ttl_s``)."""
        now = time.monotonic()
        with self._lock:
            cached = self._seen.get((bucket, key))
        if cached is not None and now - cached[0] < self.ttl_s:
            return cached[1]
        try:
            if not settings.aws_s3_bucket and running_embedded_s3(settings) is None:
                # The API never starts the embedded S3; a stopped one holds nothing (moto
                # keeps objects in memory), so its backups are gone.
                result: str | None = (
                    f"the embedded S3 is not running: the dump {key} cannot be there"
                )
            else:
                store = object_store(settings)
                found = object_exists(replace(store, bucket=bucket), key)
                result = None if found else f"the dump {key} is missing from s3://{bucket}"
        except Exception as exc:  # an unreachable store is a finding, not a crash
            result = f"cannot check the dump {key} in s3://{bucket} ({type(exc).__name__})"
        with self._lock:
            self._seen = {k: v for k, v in self._seen.items() if now - v[0] < self.ttl_s}
            self._seen[(bucket, key)] = (now, result)
        return result


def _age(finished: dt.datetime | None, now: dt.datetime) -> float | None:
    return None if finished is None else round((now - finished).total_seconds(), 1)


def check_nightly_risk(session: Session, settings: Settings, now: dt.datetime) -> HealthCheck:
    """The newest successful nightly-risk run must cover a recent session."""
    last = api_reads.last_flow_run(session, RISK_FLOW)
    success = api_reads.last_successful_run(session, RISK_FLOW)
    last_status = last.status if last is not None else None
    if success is None or success.as_of_date is None:
        return HealthCheck(
            status="failing",
            detail="no successful nightly-risk run recorded",
            last_status=last_status,
        )
    expected = last_completed_session(now)
    behind = max(0, len(sessions(success.as_of_date, expected)) - 1)
    ok = behind <= settings.health_max_sessions_behind
    detail = (
        f"last successful run covers {success.as_of_date}"
        + ("" if behind == 0 else f", {behind} session(s) behind {expected}")
        + ("" if ok else f" (allowed: {settings.health_max_sessions_behind})")
    )
    return HealthCheck(
        status="ok" if ok else "failing",
        detail=detail,
        as_of=success.as_of_date,
        finished_at=success.finished_at,
        age_seconds=_age(success.finished_at, now),
        last_status=last_status,
    )


def check_backup(
    session: Session, settings: Settings, now: dt.datetime, objects: ObjectCheck
) -> HealthCheck:
    """A good (completed or verified) backup within the allowed age; the newest not failed."""
    found = api_reads.newest_backups(session)
    newest, good = found.any, found.good
    last_status = newest.status if newest is not None else None
    if not settings.health_require_backup:
        return HealthCheck(
            status="disabled",
            detail="not checked (SIGMASIGHT_HEALTH_REQUIRE_BACKUP=false)",
            last_status=last_status,
        )
    if good is None:
        return HealthCheck(
            status="failing", detail="no completed backup recorded", last_status=last_status
        )
    age = _age(good.created_at, now) or 0.0
    limit_s = settings.health_max_backup_age_hours * 3600
    problems = []
    if age > limit_s:
        problems.append(
            f"newest good backup is {age / 3600:.1f} h old "
            f"(allowed: {settings.health_max_backup_age_hours:g} h)"
        )
    if newest is not None and newest.status == "failed":
        problems.append("the newest backup failed" + (f": {newest.error}" if newest.error else ""))
    missing = objects.problem(settings, good.bucket, good.key)
    if missing is not None:
        problems.append(missing)
    return HealthCheck(
        status="failing" if problems else "ok",
        detail="; ".join(problems) or f"newest good backup {good.key} ({good.status})",
        finished_at=good.created_at,
        age_seconds=age,
        last_status=last_status,
    )


@router.get(
    "/health",
    response_model=HealthResponse,
    responses={503: {"model": HealthResponse, "description": "a check is failing"}},
    summary="Database, last nightly run and backups",
)
def health(request: Request, response: Response, settings: SettingsDep) -> HealthResponse:
    """Whether the system is fine: 200 when it is, 503 naming the failing parts.

    Healthy means the database answers, a nightly-risk run succeeded for a recent session
    and a good backup is recent enough and its dump is still in the bucket (a HEAD request,
    trusted for a minute).
    """
    now = dt.datetime.now(dt.UTC)
    checks: dict[str, HealthCheck] = {}
    try:
        with get_sessionmaker()() as session:
            version = api_reads.server_version(session)
            checks["database"] = HealthCheck(status="ok", detail=f"PostgreSQL {version}")
            checks["nightly_risk"] = check_nightly_risk(session, settings, now)
            checks["backup"] = check_backup(
                session, settings, now, request.app.state.backup_objects
            )
    except Exception as exc:  # the health check reports a broken database, it never raises
        log.warning("health: database check failed: %s", exc)
        reason = f"{type(exc).__name__}; see the server log"
        # Reached but a query failed (say, an unmigrated schema): the remaining checks fail.
        # Not reached: only the database is failing; what depends on it is unknown.
        rest = "failing" if "database" in checks else "unknown"
        checks.setdefault(
            "database", HealthCheck(status="failing", detail=f"unreachable ({reason})")
        )
        for name in ("nightly_risk", "backup"):
            checks.setdefault(
                name, HealthCheck(status=rest, detail=f"not checked: database error ({reason})")
            )
    failing = [name for name, check in checks.items() if check.status == "failing"]
    response.status_code = 503 if failing else 200
    return HealthResponse(
        status="unhealthy" if failing else "healthy", failing=failing, checks=checks
    )


@router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics",
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "text exposition format"}},
)
def metrics(request: Request) -> Response:
    """Request counts and durations by route template and status, run timestamps, DB pool."""
    registry: ApiMetrics = request.app.state.metrics
    return Response(registry.render(), media_type=CONTENT_TYPE)
