"""The browser view in a real headless Chromium (Debian's package), driven over DevTools.

A real uvicorn server runs the app in a thread on a free port. Chromium opens /login, the
form is filled and submitted in the page, the portfolio list appears, and the first report
link opens the report, which is screenshotted; the PNG must not be blank. Set
SIGMASIGHT_TEST_SCREENSHOTS=<folder> to keep the screenshots. Without Chromium the test
fails (it never skips).
"""

import json
import os
import shutil
import socket
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from sigmasight.api.main import create_app
from sigmasight.settings import get_settings
from tests.chromium import DevTools, open_chromium
from tests.integration.api.test_browser_view import set_current_limits


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def live_server(api_db) -> Iterator[str]:
    get_settings.cache_clear()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        assert thread.is_alive(), "uvicorn stopped"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)


@pytest.fixture
def chromium(tmp_path) -> Iterator[DevTools]:
    with open_chromium(tmp_path / "chromium-profile") as devtools:
        yield devtools


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB(A) PNG into rows of pixel bytes (no third-party imaging)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    width = height = channels = 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and colour in (2, 6), (depth, colour)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up = previous[x]
            corner = previous[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[x] = (line[x] + pred) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, [bytes(r) for r in rows]


def assert_not_blank(data: bytes) -> None:
    width, height, rows = png_pixels(data)
    assert width >= 800 and height >= 600
    channels = len(rows[0]) // width
    counts: dict[bytes, int] = {}
    for row in rows[::4]:
        for x in range(0, width, 4):
            pixel = row[x * channels : x * channels + 3]
            counts[pixel] = counts.get(pixel, 0) + 1
    total = sum(counts.values())
    background = max(counts.values())
    assert len(counts) > 20, f"only {len(counts)} colours: a blank page?"
    assert total - background > total * 0.01, (
        "fewer than 1 % of the pixels differ from the background"
    )


def keep(path: Path) -> None:
    folder = os.environ.get("SIGMASIGHT_TEST_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(folder) / path.name)


def test_log_in_through_the_form_and_screenshot_a_report(live_server, chromium, world, tmp_path):
    chromium.navigate(f"{live_server}/login")
    assert chromium.evaluate("document.title") == "Sign in · SigmaSight"
    chromium.evaluate(
        f"document.querySelector('#email').value = {json.dumps(world.hnw_email)};"
        f"document.querySelector('#password').value = {json.dumps(world.password)};"
        "document.querySelector('#submit').click(); true"
    )
    chromium.wait_for("Page.loadEventFired")
    assert chromium.evaluate("location.pathname") == "/"
    text = chromium.evaluate("document.body.innerText")
    assert "Your portfolios" in text and "DEMO_HNW" in text and "HNW_EXTRA_B" in text
    assert "DEMO_INDIVIDUAL" not in text
    # The token cookie is HttpOnly: the page's own scripts cannot read it.
    assert "auth_token" not in chromium.evaluate("document.cookie")
    index_png = chromium.screenshot(tmp_path / "api-portfolios.png")
    assert_not_blank(index_png)
    keep(tmp_path / "api-portfolios.png")

    href = chromium.evaluate("document.querySelector('a[href^=\"/reports/\"]').href")
    assert href.endswith(f"/reports/DEMO_HNW/{world.as_of}/report.html")
    chromium.navigate(href)
    assert "Demo High Net Worth Investor Portfolio" in chromium.evaluate("document.body.innerText")
    report_png = chromium.screenshot(tmp_path / "api-report.png")
    assert_not_blank(report_png)
    keep(tmp_path / "api-report.png")


def test_the_portfolio_list_shows_breaches_first_in_chromium(
    live_server, chromium, world, tmp_path
):
    set_current_limits(
        "DEMO_HNW",
        [
            {"limit": "hist_var_95_fraction", "value": 0.041, "bound": 0.03, "status": "new"},
            {"limit": "beta_spy_150d", "value": None, "bound": [0.5, 1.5], "status": "unknown"},
            {"limit": "gross_leverage", "value": 1.1, "bound": 2.5, "status": "ok"},
        ],
    )
    chromium.call("Log.enable")
    chromium.navigate(f"{live_server}/login")
    chromium.evaluate(
        f"document.querySelector('#email').value = {json.dumps(world.hnw_email)};"
        f"document.querySelector('#password').value = {json.dumps(world.password)};"
        "document.querySelector('#submit').click(); true"
    )
    chromium.wait_for("Page.loadEventFired")
    assert chromium.evaluate("location.pathname") == "/"
    errors = [
        e
        for e in chromium.seen
        if e.get("method") == "Log.entryAdded"
        and e["params"]["entry"]["level"] == "error"
        # the browser asks for /favicon.ico on its own; the app has none
        and not e["params"]["entry"].get("url", "").endswith("/favicon.ico")
    ]
    assert errors == []  # no CSP violation from the page's own markup
    banner_top, table_top = chromium.evaluate(
        "[document.getElementById('breaches').getBoundingClientRect().top,"
        " document.querySelector('main > table').getBoundingClientRect().top]"
    )
    assert 0 < banner_top < table_top
    text = chromium.evaluate("document.getElementById('breaches').innerText")
    assert "New breach" in text and "Unknown: figure not computed" in text
    assert "Within limit" not in text
    shot = tmp_path / "api-portfolios-breaches.png"
    assert_not_blank(chromium.screenshot(shot))
    keep(shot)
