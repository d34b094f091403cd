"""FredClient against a local server speaking the payloads of providers.md section 3."""

import datetime as dt
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from sigmasight.providers.base import (
    ProviderAuthError,
    ProviderBadResponse,
    ProviderRateLimited,
    RateProvider,
)
from sigmasight.providers.fred import FredClient
from tests.unit.test_provider_http import KEY, assert_key_absent, assert_logs_clean

PATH = "/fred/series/observations"
QUERY = {
    "series_id": "DGS10",
    "file_type": "json",
    "observation_start": "2024-12-20",
    "observation_end": "2024-12-30",
    "sort_order": "asc",
    "api_key": KEY,
}
START, END = dt.date(2024, 12, 20), dt.date(2024, 12, 30)


def observation(day: str, value: str) -> dict[str, str]:
    return {
        "realtime_start": "2025-01-03",
        "realtime_end": "2025-01-03",
        "date": day,
        "value": value,
    }


# providers.md section 3 (shape per FRED docs; DGS10 values illustrative).
DGS10: dict[str, Any] = {
    "realtime_start": "2025-01-03",
    "realtime_end": "2025-01-03",
    "observation_start": "2024-12-20",
    "observation_end": "9999-12-31",
    "units": "lin",
    "output_type": 1,
    "file_type": "json",
    "order_by": "observation_date",
    "sort_order": "asc",
    "count": 7,
    "offset": 0,
    "limit": 100000,
    "observations": [
        observation("2024-12-20", "4.52"),
        observation("2024-12-23", "4.59"),
        observation("2024-12-24", "4.59"),
        observation("2024-12-25", "."),
        observation("2024-12-26", "4.58"),
        observation("2024-12-27", "4.62"),
        observation("2024-12-30", "4.55"),
    ],
}
EXPECTED = [
    (dt.date(2024, 12, 20), 4.52),
    (dt.date(2024, 12, 23), 4.59),
    (dt.date(2024, 12, 24), 4.59),
    (dt.date(2024, 12, 26), 4.58),
    (dt.date(2024, 12, 27), 4.62),
    (dt.date(2024, 12, 30), 4.55),
]
NOT_SET = {
    "error_code": 400,
    "error_message": "Bad Request.  Variable api_key is not set. Read "
    "https://fred.stlouisfed.org/docs/api/api_key.html for more information.",
}
NOT_REGISTERED = {
    "error_code": 400,
    "error_message": "Bad Request.  The value for variable api_key is not registered. Read "
    "https://fred.stlouisfed.org/docs/api/api_key.html for more information.",
}
NO_SERIES = {"error_code": 400, "error_message": "Bad Request.  The series does not exist."}
TOO_MANY = {"error_code": 429, "error_message": "Too Many Requests.  Exceeded Rate Limit"}


@pytest.fixture(autouse=True)
def _no_key_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    assert_logs_clean(caplog)


@pytest.fixture
def slept() -> list[float]:
    return []


@pytest.fixture
def client(httpserver: HTTPServer, slept: list[float]) -> Iterator[FredClient]:
    with FredClient(
        api_key=KEY,
        base_url=httpserver.url_for(""),
        timeout=5.0,
        per_minute=None,
        per_second=None,
        max_attempts=3,
        sleep=slept.append,
    ) as fred:
        yield fred


def test_client_is_a_rate_provider(client: FredClient) -> None:
    provider: RateProvider = client
    assert provider.name == "fred"


def test_missing_values_are_skipped(httpserver: HTTPServer, client: FredClient) -> None:
    httpserver.expect_request(PATH, query_string=QUERY).respond_with_json(DGS10)
    assert client.observations("DGS10", START, END) == EXPECTED
    assert len(httpserver.log) == 1


def test_limit_offset_pagination_when_count_exceeds_the_page(
    httpserver: HTTPServer, client: FredClient
) -> None:
    page_1 = {
        **DGS10,
        "count": 7,
        "limit": 4,
        "offset": 0,
        "observations": DGS10["observations"][:4],
    }
    page_2 = {
        **DGS10,
        "count": 7,
        "limit": 4,
        "offset": 4,
        "observations": DGS10["observations"][4:],
    }
    httpserver.expect_ordered_request(PATH, query_string=QUERY).respond_with_json(page_1)
    httpserver.expect_ordered_request(
        PATH, query_string={**QUERY, "offset": "4", "limit": "4"}
    ).respond_with_json(page_2)
    assert client.observations("DGS10", START, END) == EXPECTED
    httpserver.check_assertions()
    assert len(httpserver.log) == 2


def test_a_short_page_before_count_is_a_bad_response(
    httpserver: HTTPServer, client: FredClient
) -> None:
    httpserver.expect_ordered_request(PATH).respond_with_json({**DGS10, "count": 9})
    httpserver.expect_ordered_request(PATH).respond_with_json(
        {**DGS10, "count": 9, "observations": []}
    )
    with pytest.raises(ProviderBadResponse, match="7 of 9"):
        client.observations("DGS10", START, END)


@pytest.mark.parametrize("body", [NOT_SET, NOT_REGISTERED], ids=["not-set", "not-registered"])
def test_400_api_key_error_is_an_auth_error(
    httpserver: HTTPServer, client: FredClient, slept: list[float], body: dict[str, Any]
) -> None:
    # FRED labels JSON error bodies text/xml.
    httpserver.expect_request(PATH).respond_with_data(
        json.dumps(body), status=400, content_type="text/xml; charset=UTF-8"
    )
    with pytest.raises(ProviderAuthError, match="api_key is not") as info:
        client.observations("DGS10", START, END)
    assert len(httpserver.log) == 1
    assert slept == []
    assert "api_key=***" in str(info.value)
    assert_key_absent(info.value)


def test_other_400_is_a_bad_response_with_the_message(
    httpserver: HTTPServer, client: FredClient, slept: list[float]
) -> None:
    httpserver.expect_request(PATH).respond_with_data(
        json.dumps(NO_SERIES), status=400, content_type="text/xml; charset=UTF-8"
    )
    with pytest.raises(ProviderBadResponse, match="The series does not exist") as info:
        client.observations("NOPE", START, END)
    assert len(httpserver.log) == 1
    assert slept == []
    assert_key_absent(info.value)


def test_xml_error_body_is_read_too(httpserver: HTTPServer, client: FredClient) -> None:
    xml = (
        '<?xml version="1.0" encoding="utf-8" ?>\n'
        '<error code="400" message="Bad Request.  The series does not exist."/>'
    )
    httpserver.expect_request(PATH).respond_with_data(xml, status=400, content_type="text/xml")
    with pytest.raises(ProviderBadResponse, match="The series does not exist"):
        client.observations("NOPE", START, END)


def test_429_then_success(httpserver: HTTPServer, client: FredClient, slept: list[float]) -> None:
    httpserver.expect_ordered_request(PATH).respond_with_json(TOO_MANY, status=429)
    httpserver.expect_ordered_request(PATH).respond_with_json(DGS10)
    assert client.observations("DGS10", START, END) == EXPECTED
    assert slept == [1.0]


def test_429_every_time_raises_rate_limited(
    httpserver: HTTPServer, client: FredClient, slept: list[float]
) -> None:
    httpserver.expect_request(PATH).respond_with_json(TOO_MANY, status=429)
    with pytest.raises(ProviderRateLimited, match="Exceeded Rate Limit") as info:
        client.observations("DGS10", START, END)
    assert len(httpserver.log) == 3
    assert_key_absent(info.value)


def test_5xx_then_success(httpserver: HTTPServer, client: FredClient, slept: list[float]) -> None:
    httpserver.expect_ordered_request(PATH).respond_with_json(
        {"error_code": 500, "error_message": "Internal Server Error"}, status=500
    )
    httpserver.expect_ordered_request(PATH).respond_with_json(DGS10)
    assert client.observations("DGS10", START, END) == EXPECTED
    assert len(slept) == 1


def test_malformed_json_is_a_bad_response(httpserver: HTTPServer, client: FredClient) -> None:
    httpserver.expect_request(PATH).respond_with_data(
        '{"count": 7, "observations": [', content_type="application/json"
    )
    with pytest.raises(ProviderBadResponse, match="malformed JSON") as info:
        client.observations("DGS10", START, END)
    assert_key_absent(info.value)


def test_default_limits_space_requests_half_a_second_apart(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH).respond_with_json(DGS10)
    waits: list[float] = []
    with FredClient(
        api_key=KEY + "-spacing", base_url=httpserver.url_for(""), sleep=waits.append
    ) as fred:
        for _ in range(3):
            fred.observations("DGS10", START, END)
    # Injected sleep does not advance time, so the debt accumulates: 0.5 s, then 1.0 s.
    assert waits == pytest.approx([0.5, 1.0], abs=0.1)
