"""The FastAPI application factory (``create_app``) and ``serve`` for ``sigmasight api``."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI

from sigmasight.api.auth import RateLimiter, resolve_signing_key
from sigmasight.api.cache import DocumentCache
from sigmasight.api.deps import ActiveUsers
from sigmasight.api.errors import install_error_handlers
from sigmasight.api.metrics import ApiMetrics
from sigmasight.api.middleware import ApiMiddleware
from sigmasight.api.routes import analyze, auth, bench, docs, health, portfolios, reports, runs, web
from sigmasight.api.routes.health import ObjectCheck
from sigmasight.db import get_engine, ping
from sigmasight.settings import Settings, get_settings

log = logging.getLogger(__name__)

API_VERSION = "1.0.0"
DESCRIPTION = """\
A read API over SigmaSight's stored results: portfolios, the `sigmasight.risk/1` document,
factor exposures, correlations, stress tests, history, reports and flow runs, plus an
analyze endpoint that answers questions from the same figures.

Authenticate with `POST /api/v1/auth/login` and send `Authorization: Bearer <token>`.
A user sees only their own portfolios. Errors are `{"error": {"code", "message"}}`.
"""


def _warm_up() -> None:
    # Connect once at start-up (this also starts the embedded PostgreSQL when DATABASE_URL
    # is unset), so the first request does not pay for it.
    version = ping(get_engine())
    log.info("API connected to PostgreSQL %s", version)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    try:
        await anyio.to_thread.run_sync(_warm_up)
    except Exception as exc:  # serve anyway: /health reports the database as failing
        log.error("the database is not reachable at start-up (%s); /health will say so", exc)
    yield


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; raises ``ApiConfigError`` when the configuration cannot work."""
    settings = settings or get_settings()
    app = FastAPI(
        title="SigmaSight API",
        version=API_VERSION,
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=_lifespan,
    )
    metrics = ApiMetrics()
    app.state.settings = settings
    app.state.signing_key = resolve_signing_key(settings)
    app.state.metrics = metrics
    app.state.documents = DocumentCache(settings.api_cache_ttl_s)
    app.state.login_limiter = RateLimiter(settings.login_rate_limit)
    app.state.analyze_limiter = RateLimiter(settings.analyze_rate_limit)
    app.state.active_users = ActiveUsers(settings.api_cache_ttl_s)
    app.state.backup_objects = ObjectCheck()
    install_error_handlers(app)
    app.add_middleware(ApiMiddleware, metrics=metrics, max_body_bytes=settings.api_max_body_bytes)
    for module in (health, docs, auth, portfolios, reports, analyze, runs, web):
        app.include_router(module.router)
    if settings.api_bench_routes:
        log.warning("debug-only /_bench routes are enabled (SIGMASIGHT_API_BENCH_ROUTES)")
        app.include_router(bench.router)
    return app


def serve(host: str, port: int, settings: Settings | None = None) -> None:
    """Run the API with uvicorn until interrupted (logging stays as configured)."""
    import uvicorn

    app = create_app(settings)
    trusted = [p.strip() for p in app.state.settings.api_trusted_proxies.split(",") if p.strip()]
    log.info("SigmaSight API on http://%s:%d (docs at /docs)", host, port)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,
        # Forwarded headers only from configured proxies: otherwise a made-up
        # X-Forwarded-For would pick the address the login rate limit is keyed on.
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or None,
        server_header=False,
    )
