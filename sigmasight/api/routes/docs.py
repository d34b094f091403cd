"""``GET /docs``: Swagger UI with a Content-Security-Policy of its own.

FastAPI's page loads Swagger UI's script and stylesheet from a CDN and starts it with one
inline script. The policy allows exactly that CDN and the inline script's hash (no
``'unsafe-inline'`` for scripts). Offline, the CDN is unreachable and the page stays blank;
``/openapi.json`` is served either way.
"""

import base64
import hashlib
import re
from functools import lru_cache

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)

CDN = "https://cdn.jsdelivr.net"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


@lru_cache(maxsize=4)
def _docs_page(openapi_url: str, title: str) -> tuple[bytes, str]:
    page = get_swagger_ui_html(openapi_url=openapi_url, title=title)
    body = bytes(page.body)
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(body.decode())
    )
    csp = (
        f"default-src 'none'; script-src {CDN} {hashes}; style-src {CDN} 'unsafe-inline'; "
        f"img-src 'self' data: https://fastapi.tiangolo.com; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )
    return body, csp


@router.get("/docs", response_class=HTMLResponse)
def docs(request: Request) -> HTMLResponse:
    """Interactive API documentation (Swagger UI from the CDN)."""
    body, csp = _docs_page(
        request.app.openapi_url or "/openapi.json", f"{request.app.title} - docs"
    )
    return HTMLResponse(body, headers={"Content-Security-Policy": csp})
