"""One JSON error shape for every 4xx and 5xx: ``{"error": {"code", "message"[, "details"]}}``."""

import json
import math
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from sigmasight.api.schemas import ErrorResponse

DEFAULT_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "unavailable",
}


ERROR_DESCRIPTIONS = {
    401: "missing, expired or invalid token",
    404: "no such resource for this user",
    422: "invalid parameters",
    429: "too many attempts: wait Retry-After seconds",
}


class ApiError(StarletteHTTPException):
    """An HTTP error with a stable machine-readable ``code``."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status_code=status_code, detail=message, headers=dict(headers or {}))
        self.code = code


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> bytes:
    """The serialized error document."""
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return json.dumps({"error": error}, separators=(",", ":")).encode()


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    details: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A JSON error response."""
    return Response(
        error_body(code, message, details),
        status_code=status,
        media_type="application/json",
        headers=dict(headers or {}),
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = getattr(exc, "code", None) or DEFAULT_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else DEFAULT_CODES.get(exc.status_code, "")
    if exc.status_code == 404 and message == "Not Found":
        message = f"no route for {request.method} {request.url.path}"
    elif exc.status_code == 405 and message == "Method Not Allowed":
        message = f"{request.method} is not allowed on {request.url.path}"
    return error_response(exc.status_code, code, message, headers=exc.headers)


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        return f"{parts[0]} " + ".".join(parts[1:]) if len(parts) > 1 else parts[0]
    return ".".join(parts)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"location": _location(e.get("loc", ())), "message": str(e.get("msg", "invalid"))}
        for e in exc.errors()
    ]
    first = details[0] if details else {"location": "request", "message": "invalid"}
    more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
    return error_response(
        422,
        "validation_error",
        f"{first['location']}: {first['message']}{more}",
        details=details,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Route FastAPI's and Starlette's errors through :func:`error_response`."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)


def problem_schema(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the shared error shape."""
    return {
        status: {"model": ErrorResponse, "description": description}
        for status, description in ERROR_DESCRIPTIONS.items()
        if status in (statuses or ERROR_DESCRIPTIONS)
    }


def rate_limited(wait_s: float, what: str, limit: int) -> ApiError:
    """The 429 for a client over a per-minute ``limit`` of ``what``, with Retry-After."""
    seconds = max(1, math.ceil(wait_s))
    return ApiError(
        429,
        "rate_limited",
        f"too many {what}: at most {limit} per minute; try again in {seconds} s",
        headers={"Retry-After": str(seconds)},
    )
