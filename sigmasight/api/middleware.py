"""One ASGI middleware for every response: security headers, metrics, body limit, JSON 5xx.

It is plain ASGI rather than Starlette's ``BaseHTTPMiddleware``, which costs a task and a
stream per request. Unhandled errors are turned into the JSON error shape here, inside
the middleware, so a 500 gets the security headers too; a database that cannot be reached
is a 503 with ``Retry-After`` rather than a 500. A request body over the configured size is
refused with 413 before any of it is parsed (by ``Content-Length``, or while it streams).
Metrics label unknown HTTP methods as ``OTHER`` so made-up methods cannot grow them.
"""

import logging
import time
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sigmasight.api.errors import error_body
from sigmasight.api.metrics import ApiMetrics

log = logging.getLogger(__name__)

#: JSON and everything else: nothing may load, nothing may frame it.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
#: The browser pages: our stylesheet only, forms post to us, no scripts.
PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
#: A served report: self-contained (inline CSS, embedded images), sandboxed, no scripts.
REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'; sandbox"
)

SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    ("permissions-policy", "camera=(), microphone=(), geolocation=(), payment=()"),
)


#: Methods recorded by name in the metrics; anything else is ``OTHER``.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: Seconds a client should wait before retrying while the database is unreachable.
DATABASE_RETRY_AFTER_S = 30


def _database_down(exc: BaseException) -> bool:
    """True for errors that mean "the database cannot be reached now", not a bad query."""
    if isinstance(exc, PoolTimeout):
        return True
    if isinstance(exc, DBAPIError):
        import psycopg

        return exc.connection_invalidated or isinstance(
            exc.orig, psycopg.OperationalError | psycopg.InterfaceError
        )
    return False


class ApiMiddleware:
    """Adds the security headers and records each request's route, status and duration."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics, max_body_bytes: int = 64 * 1024) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        response_started = False
        https = scope.get("scheme") == "https"

        refused = False  # a 413 went out mid-body: whatever the app answers is dropped

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if refused:
                return
            if message["type"] == "http.response.start":
                response_started = True
                status = int(message["status"])
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    headers.setdefault(name, value)
                headers.setdefault("content-security-policy", API_CSP)
                headers.setdefault("cache-control", "no-store")
                if https:
                    headers.setdefault("strict-transport-security", "max-age=31536000")
            await send(message)

        limit = self.max_body_bytes
        received = 0

        async def limited_receive() -> Message:
            # Past the limit, answer 413 at once and tell the app the client went away:
            # frameworks turn an exception raised while reading the body into a 400.
            nonlocal received, refused, status
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit and not response_started:
                    await _send_error(
                        send_with_headers, 413, "payload_too_large", _too_large(limit)
                    )
                    status, refused = 413, True
                    return {"type": "http.disconnect"}
            return message

        self.metrics.in_progress.inc()
        try:
            if _declared_length(scope) > limit:
                status = 413
                await _send_error(send_with_headers, 413, "payload_too_large", _too_large(limit))
            else:
                await self.app(scope, limited_receive, send_with_headers)
        except Exception as exc:
            if refused:  # the app failed on the cut-off body; the 413 already went out
                return
            if _database_down(exc):
                log.error(
                    "database unreachable on %s %s: %s",
                    scope.get("method"),
                    scope.get("path"),
                    type(exc).__name__,
                )
                status = 503
                if not response_started:
                    await _send_error(
                        send_with_headers,
                        503,
                        "database_unavailable",
                        "the database cannot be reached; retry later",
                        retry_after=DATABASE_RETRY_AFTER_S,
                    )
            else:
                log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
                status = 500
                if not response_started:
                    await _send_500(send_with_headers)
        finally:
            self.metrics.in_progress.dec()
            route: Any = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = str(scope.get("method", ""))
            self.metrics.observe(
                method if method in KNOWN_METHODS else "OTHER",
                template,
                status,
                time.perf_counter() - started,
            )


def _declared_length(scope: Scope) -> int:
    """The request's Content-Length (0 when absent or unreadable: the stream is counted)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


def _too_large(limit: int) -> str:
    return f"the request body is larger than {limit} bytes (SIGMASIGHT_API_MAX_BODY_BYTES)"


async def _send_error(
    send: Send, status: int, code: str, message: str, *, retry_after: int | None = None
) -> None:
    body = error_body(code, message)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    if status == 413:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_500(send: Send) -> None:
    body = error_body("internal_error", "the server failed to answer; the error is logged")
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
