"""Shared HTTP behaviour of the vendor clients: rate limits, retries, classification, redaction.

The vendor is a real local HTTP server (pytest-httpserver). The helpers at the top are also
used by the Polygon, FMP and FRED tests.
"""

import datetime as dt
import json
import logging
import socket
import time
import traceback
from collections.abc import Iterator

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from sigmasight.providers.base import (
    ProviderAuthError,
    ProviderBadResponse,
    ProviderRateLimited,
    ProviderTransientError,
    empty_bars,
)
from sigmasight.providers.http import (
    Limiter,
    TokenBucket,
    VendorHttp,
    bar_frame,
    key_fingerprint,
    shared_bucket,
)

KEY = "SECRETKEY123abc"


def assert_key_absent(error: BaseException) -> None:
    """The key is in neither the message nor anything the traceback would print."""
    rendered = "".join(traceback.format_exception(error))
    assert KEY not in str(error)
    assert KEY not in repr(error)
    assert KEY not in rendered
    assert error.__cause__ is None


def assert_logs_clean(caplog: pytest.LogCaptureFixture) -> None:
    """No log record of ours (or of httpx/httpcore) holds the key.

    The fake vendor's own access log ("werkzeug") naturally shows the query it received.
    """
    ours = [r for r in caplog.records if not r.name.startswith("werkzeug")]
    for record in ours:
        assert KEY not in record.getMessage(), record.name
    assert all(KEY not in line for line in caplog.text.splitlines() if "werkzeug" not in line)


class FakeClock:
    """Monotonic time that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class AcmeHttp(VendorHttp):
    """A vendor with no quirks, to test the shared behaviour on its own."""

    name = "acme"
    key_param = "token"


@pytest.fixture(autouse=True)
def _no_key_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    assert_logs_clean(caplog)


@pytest.fixture
def slept() -> list[float]:
    return []


def acme(server: HTTPServer, slept: list[float], **kwargs: object) -> AcmeHttp:
    options: dict[str, object] = {"timeout": 5.0, "max_attempts": 3, "sleep": slept.append}
    options.update(kwargs)
    return AcmeHttp(api_key=KEY, base_url=server.url_for(""), **options)  # type: ignore[arg-type]


# -- token bucket -------------------------------------------------------------------------


def test_five_per_minute_allows_a_burst_then_spaces_requests_12_s_apart() -> None:
    clock = FakeClock()
    bucket = TokenBucket(5 / 60, 5, clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(8):
        bucket.acquire()
        starts.append(clock.now - 1000.0)
    assert starts[:5] == [0.0] * 5
    assert starts[5:] == pytest.approx([12.0, 24.0, 36.0])
    assert clock.slept == pytest.approx([12.0, 12.0, 12.0])


def test_bucket_refills_while_idle_but_never_above_capacity() -> None:
    clock = FakeClock()
    bucket = TokenBucket(5 / 60, 5, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        bucket.acquire()
    clock.now += 3600.0  # an hour idle refills 5 tokens, not 300
    waits = [bucket.reserve() for _ in range(6)]
    assert waits[:5] == [0.0] * 5
    assert waits[5] == pytest.approx(12.0)


def test_limiter_combines_per_minute_and_per_second_limits() -> None:
    clock = FakeClock()
    limiter = Limiter(
        [TokenBucket(120 / 60, 120, clock=clock), TokenBucket(2.0, 1, clock=clock)],
        sleep=clock.sleep,
    )
    for _ in range(5):
        limiter.acquire()
    assert clock.slept == pytest.approx([0.5, 0.5, 0.5, 0.5])


def test_bucket_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="rate_per_s"):
        TokenBucket(0.0, 1)
    with pytest.raises(ValueError, match="capacity"):
        TokenBucket(1.0, 0.5)


def test_shared_bucket_is_one_object_per_key_and_limits() -> None:
    key = f"acme:{key_fingerprint('shared-test-key')}"
    first = shared_bucket(key, per_minute=5.0, per_second=None)
    assert shared_bucket(key, per_minute=5.0, per_second=None) is first
    assert shared_bucket(key + "x", per_minute=5.0, per_second=None) is not first
    both = shared_bucket(key, per_minute=120.0, per_second=2.0)
    assert [b.rate_per_s for b in both.buckets] == [2.0, 2.0]
    assert [b.capacity for b in both.buckets] == [120.0, 1.0]
    assert shared_bucket(key, per_minute=None, per_second=None).reserve() == 0.0
    assert "shared-test-key" not in key


def test_clients_with_the_same_key_share_the_limiter(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/ping").respond_with_json({"ok": True})
    waits: list[float] = []
    limiter_key = f"acme:{key_fingerprint(KEY)}:share-test"
    clients = [
        acme(
            httpserver,
            waits,
            limiter=shared_bucket(limiter_key, per_minute=5.0, per_second=None),
        )
        for _ in range(2)
    ]
    for i in range(6):
        assert clients[i % 2].get_json("/ping") == {"ok": True}
    for client in clients:
        client.close()
    assert len(waits) == 1
    assert waits[0] == pytest.approx(12.0, abs=1.0)


# -- retries and classification -----------------------------------------------------------


def test_429_then_success_honours_retry_after(httpserver: HTTPServer, slept: list[float]) -> None:
    httpserver.expect_ordered_request("/data").respond_with_json(
        {"error": "slow down"}, status=429, headers={"Retry-After": "7"}
    )
    httpserver.expect_ordered_request("/data").respond_with_json([1, 2])
    with acme(httpserver, slept) as client:
        assert client.get_json("/data") == [1, 2]
    assert slept == [7.0]


def test_429_without_retry_after_backs_off_exponentially_then_gives_up(
    httpserver: HTTPServer, slept: list[float]
) -> None:
    httpserver.expect_request("/data").respond_with_data("", status=429)
    with (
        acme(httpserver, slept, max_attempts=4, backoff_s=2.0) as client,
        pytest.raises(ProviderRateLimited) as info,
    ):
        client.get_json("/data")
    assert slept == [2.0, 4.0, 8.0]
    assert len(httpserver.log) == 4
    assert_key_absent(info.value)


def test_retry_after_beyond_the_cap_fails_at_once(
    httpserver: HTTPServer, slept: list[float]
) -> None:
    httpserver.expect_request("/data").respond_with_data(
        "quota", status=429, headers={"Retry-After": "3600"}
    )
    with (
        acme(httpserver, slept, max_wait_s=60.0) as client,
        pytest.raises(ProviderRateLimited, match="3600"),
    ):
        client.get_json("/data")
    assert slept == []
    assert len(httpserver.log) == 1


def test_5xx_then_success_with_jittered_backoff(
    httpserver: HTTPServer, slept: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    httpserver.expect_ordered_request("/data").respond_with_data(
        "<html>502 Bad Gateway</html>", status=502, content_type="text/html"
    )
    httpserver.expect_ordered_request("/data").respond_with_data(
        "<html>503</html>", status=503, content_type="text/html"
    )
    httpserver.expect_ordered_request("/data").respond_with_json({"ok": True})
    with acme(httpserver, slept, backoff_s=1.0) as client:
        assert client.get_json("/data", {"q": "x"}) == {"ok": True}
    assert len(slept) == 2
    assert 0.0 <= slept[0] <= 1.0
    assert 0.0 <= slept[1] <= 2.0
    retries = [r for r in caplog.records if r.name == "sigmasight.providers.http"]
    assert [r.levelno for r in retries] == [logging.WARNING, logging.WARNING]
    assert "HTTP 502" in retries[0].getMessage()
    assert "token=***" in retries[0].getMessage()
    assert all(request.args["token"] == KEY for request, _ in httpserver.log)


def test_5xx_every_time_raises_transient_after_max_attempts(
    httpserver: HTTPServer, slept: list[float]
) -> None:
    httpserver.expect_request("/data").respond_with_data("oops", status=500)
    with (
        acme(httpserver, slept, max_attempts=3, max_wait_s=0.5) as client,
        pytest.raises(ProviderTransientError, match="HTTP 500") as info,
    ):
        client.get_json("/data")
    assert len(httpserver.log) == 3
    assert len(slept) == 2
    assert all(0.0 <= s <= 0.5 for s in slept)
    assert_key_absent(info.value)


def test_malformed_json_on_200_is_a_bad_response_and_not_retried(
    httpserver: HTTPServer, slept: list[float]
) -> None:
    httpserver.expect_request("/data").respond_with_data(
        '{"results": [', content_type="application/json"
    )
    with (
        acme(httpserver, slept) as client,
        pytest.raises(ProviderBadResponse, match="malformed JSON") as info,
    ):
        client.get_json("/data")
    assert len(httpserver.log) == 1
    assert slept == []
    assert_key_absent(info.value)


def test_other_4xx_is_a_bad_response_with_the_vendor_message(
    httpserver: HTTPServer, slept: list[float]
) -> None:
    httpserver.expect_request("/data").respond_with_json(
        {"status": "ERROR", "request_id": "r1", "error": "from date after to date"}, status=400
    )
    with (
        acme(httpserver, slept) as client,
        pytest.raises(ProviderBadResponse, match="from date after to date"),
    ):
        client.get_json("/data")
    assert len(httpserver.log) == 1


def test_connection_refused_is_retried_then_transient(slept: list[float]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = AcmeHttp(
        api_key=KEY,
        base_url=f"http://127.0.0.1:{port}",
        timeout=1.0,
        max_attempts=3,
        sleep=slept.append,
    )
    with client, pytest.raises(ProviderTransientError, match="ConnectError") as info:
        client.get_json("/data", {"series": "X"})
    assert len(slept) == 2
    assert "token=***" in str(info.value)
    assert_key_absent(info.value)


@pytest.fixture(scope="module")
def _threaded_server() -> Iterator[HTTPServer]:
    # Threaded so the retry is served while the first (timed-out) request still sleeps.
    server = HTTPServer(threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def threaded_server(_threaded_server: HTTPServer) -> HTTPServer:
    _threaded_server.clear()
    return _threaded_server


def test_timeout_is_retried_then_succeeds(threaded_server: HTTPServer, slept: list[float]) -> None:
    calls: list[float] = []

    def slow_first(request: Request) -> Response:
        calls.append(time.monotonic())
        if len(calls) == 1:
            time.sleep(0.3)
        return Response(json.dumps({"ok": True}), content_type="application/json")

    threaded_server.expect_request("/slow").respond_with_handler(slow_first)
    client = acme(threaded_server, slept, timeout=0.1)
    with client:
        assert client.get_json("/slow") == {"ok": True}
    assert len(calls) == 2
    assert len(slept) == 1


def test_timeout_every_time_is_transient_without_the_key(
    threaded_server: HTTPServer, slept: list[float]
) -> None:
    def slow(request: Request) -> Response:
        time.sleep(0.2)
        return Response("{}", content_type="application/json")

    threaded_server.expect_request("/slow").respond_with_handler(slow)
    with (
        acme(threaded_server, slept, timeout=0.05, max_attempts=2) as client,
        pytest.raises(ProviderTransientError, match="ReadTimeout") as info,
    ):
        client.get_json("/slow")
    assert len(slept) == 1
    assert_key_absent(info.value)


def test_httpx_request_log_line_is_redacted(
    httpserver: HTTPServer, slept: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="httpx")
    httpserver.expect_request("/data").respond_with_json([])
    with acme(httpserver, slept) as client:
        client.get_json("/data")
    lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert lines
    assert all("token=***" in line for line in lines)


def test_empty_key_is_refused() -> None:
    with pytest.raises(ProviderAuthError, match="no API key"):
        AcmeHttp(api_key="", base_url="http://127.0.0.1:9", timeout=1.0)


def test_transport_is_injectable() -> None:
    seen: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return httpx.Response(200, json={"ok": True})

    with AcmeHttp(
        api_key=KEY,
        base_url="https://acme.test",
        timeout=1.0,
        transport=httpx.MockTransport(handler),
    ) as client:
        assert client.get_json("https://acme.test/page?cursor=abc") == {"ok": True}
    assert seen[0].params["cursor"] == "abc"
    assert seen[0].params["token"] == KEY


# -- bar frames ---------------------------------------------------------------------------


def test_bar_frame_sorts_dedupes_and_keeps_none_statuses() -> None:
    day1, day2 = dt.date(2024, 1, 2), dt.date(2024, 1, 3)
    frame = bar_frame(
        {
            "symbol": ["B", "A", "A", "A"],
            "date": [day1, day2, day1, day2],
            "open": [1.0, 2.0, 3.0, 4.0],
            "high": [1.0, 2.0, 3.0, 4.0],
            "low": [1.0, 2.0, 3.0, 4.0],
            "close": [1.0, 2.0, 3.0, 4.0],
            "adj_close": [1.0, 2.0, 3.0, 4.0],
            "volume": [10, 20, 30, 40.5],
            "vendor_status": [None, "DELAYED", None, None],
        }
    )
    assert list(frame["symbol"]) == ["A", "A", "B"]
    assert list(frame["date"]) == [day1, day2, day1]
    assert list(frame["close"]) == [3.0, 4.0, 1.0]  # the later duplicate wins
    assert frame["vendor_status"].tolist() == [None, None, None]
    assert frame["volume"].dtype == "float64"
    empty = bar_frame({name: [] for name in empty_bars().columns})
    assert empty.empty
    assert list(empty.columns) == list(empty_bars().columns)
