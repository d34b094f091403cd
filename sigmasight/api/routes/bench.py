"""Debug-only routes for ``bench/api.py``, mounted only with ``SIGMASIGHT_API_BENCH_ROUTES=true``.

``PUT /_bench/memory`` stores a body; ``GET /_bench/memory`` returns it from memory: the
reference the risk-document endpoint's throughput is compared with, on the same server.
"""

from fastapi import APIRouter, Request, Response

from sigmasight.api.errors import ApiError

router = APIRouter(prefix="/_bench", include_in_schema=False)

MAX_BODY = 16 << 20


@router.put("/memory", status_code=204)
async def store(request: Request) -> Response:
    """Keep the request body in memory."""
    body = await request.body()
    if len(body) > MAX_BODY:
        raise ApiError(413, "payload_too_large", f"at most {MAX_BODY} bytes")
    request.app.state.bench_body = body
    return Response(status_code=204)


@router.get("/memory")
async def serve(request: Request) -> Response:
    """The stored body, as JSON, straight from memory."""
    body: bytes | None = getattr(request.app.state, "bench_body", None)
    if body is None:
        raise ApiError(404, "not_found", "PUT a body to /_bench/memory first")
    return Response(body, media_type="application/json")
