"""PolygonClient against a local server speaking the payloads of providers.md section 1."""

import datetime as dt
import logging
import math
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from sigmasight.providers.base import (
    BAR_COLUMNS,
    GroupedPriceProvider,
    ProviderAuthError,
    ProviderBadResponse,
    ProviderEntitlementError,
    ProviderRateLimited,
)
from sigmasight.providers.polygon import PolygonClient
from tests.unit.test_provider_http import KEY, assert_key_absent, assert_logs_clean

AAPL_PATH = "/v2/aggs/ticker/AAPL/range/1/day/2020-01-01/2020-01-10"
AAPL_QUERY = {"adjusted": "false", "sort": "asc", "limit": "50000", "apiKey": KEY}
CURSOR_PATH = "/v2/aggs/ticker/AAPL/range/1/day/1578114000000/2020-01-10"

# providers.md 1.1, official OpenAPI example (next_url pointed at the local server).
AAPL_PAGE_1: dict[str, Any] = {
    "adjusted": True,
    "next_url": "https://api.massive.com" + CURSOR_PATH + "?cursor=bGltaXQ9MiZzb3J0PWFzYw",
    "queryCount": 2,
    "request_id": "6a7e466379af0a71039d60cc78e72282",
    "results": [
        {
            "c": 75.0875,
            "h": 75.15,
            "l": 73.7975,
            "n": 1,
            "o": 74.06,
            "t": 1577941200000,
            "v": 135647456,
            "vw": 74.6099,
        },
        {
            "c": 74.3575,
            "h": 75.145,
            "l": 74.125,
            "n": 1,
            "o": 74.2875,
            "t": 1578027600000,
            "v": 146535512,
            "vw": 74.7026,
        },
    ],
    "resultsCount": 2,
    "status": "OK",
    "ticker": "AAPL",
}
# The cursor page (realistic illustration: the next two sessions, 2020-01-06 and 01-07).
AAPL_PAGE_2: dict[str, Any] = {
    "adjusted": True,
    "queryCount": 2,
    "request_id": "7b8f577480bf1b82140e71dd89f83393",
    "results": [
        {"c": 74.95, "h": 74.99, "l": 73.1875, "o": 73.4475, "t": 1578286800000, "v": 118387.5},
        {"c": 74.5975, "h": 75.225, "l": 74.37, "o": 74.96, "t": 1578373200000, "v": 108872000},
    ],
    "resultsCount": 2,
    "status": "OK",
    "ticker": "AAPL",
}
# providers.md 1.2, official OpenAPI example.
GROUPED_2020_10_14: dict[str, Any] = {
    "adjusted": True,
    "queryCount": 3,
    "request_id": "...",
    "results": [
        {
            "T": "KIMpL",
            "c": 25.9102,
            "h": 26.25,
            "l": 25.91,
            "n": 74,
            "o": 26.07,
            "t": 1602705600000,
            "v": 4369,
            "vw": 26.0407,
        },
        {
            "T": "TANH",
            "c": 23.4,
            "h": 24.763,
            "l": 22.65,
            "n": 1096,
            "o": 24.5,
            "t": 1602705600000,
            "v": 25933.6,
            "vw": 23.493,
        },
        {
            "T": "VSAT",
            "c": 34.24,
            "h": 35.47,
            "l": 34.21,
            "n": 4966,
            "o": 34.9,
            "t": 1602705600000,
            "v": 312583,
            "vw": 34.4736,
        },
    ],
    "resultsCount": 3,
    "status": "OK",
}
# providers.md 1.3, official options example.
OPTION_TICKER = "O:RDFN211119C00025000"
OPTION_BARS: dict[str, Any] = {
    "adjusted": True,
    "count": 2,
    "queryCount": 2,
    "request_id": "5585acde-5085-42d6-95b2-2e388a28370a",
    "results": [
        {
            "c": 26.2,
            "h": 26.2,
            "l": 26.2,
            "n": 1,
            "o": 26.2,
            "t": 1632369600000,
            "v": 2,
            "vw": 26.2,
        },
        {
            "c": 28.3,
            "h": 28.3,
            "l": 28.3,
            "n": 1,
            "o": 28.3,
            "t": 1632456000000,
            "v": 2,
            "vw": 28.3,
        },
    ],
    "resultsCount": 2,
    "status": "OK",
    "ticker": OPTION_TICKER,
}
# providers.md 1.1, the official client mock for 2005-04-01 (bar at 00:00 EST, float volume).
AAPL_2005_MOCK: dict[str, Any] = {
    "ticker": "AAPL",
    "queryCount": 2,
    "resultsCount": 2,
    "adjusted": True,
    "results": [
        {"v": 642646396.0, "vw": 1.469, "o": 1.5032, "c": 1.4604, "h": 1.5064, "l": 1.4489,
         "t": 1112331600000, "n": 82132},
        {"v": 578172308.0, "vw": 1.4589, "o": 1.4639, "c": 1.4539, "h": 1.4754, "l": 1.4343,
         "t": 1112587200000, "n": 65543},
    ],
    "status": "OK",
    "request_id": "12afda77aab3b1936c5fb6ef4241ae42",
    "count": 2,
}  # fmt: skip
# providers.md 1.1, observed free-tier response.
NVDA_DELAYED: dict[str, Any] = {
    "ticker": "NVDA",
    "queryCount": 1,
    "resultsCount": 1,
    "adjusted": True,
    "results": [
        {"v": 2.1265e8, "vw": 138.2, "o": 136.41, "c": 138.85, "h": 139.35, "l": 135.96,
         "t": 1735794000000, "n": 2174552},
    ],
    "status": "DELAYED",
    "request_id": "02e6f74733a5d2bbfa37c6c4e3a1e0a1",
    "count": 1,
}  # fmt: skip
RATE_LIMIT_BODY = {
    "status": "ERROR",
    "request_id": "c2d7a1",
    "error": "You've exceeded the maximum requests per minute, please wait or upgrade your "
    "subscription to continue. https://polygon.io/pricing",
}


@pytest.fixture(autouse=True)
def _no_key_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    assert_logs_clean(caplog)


@pytest.fixture
def slept() -> list[float]:
    return []


@pytest.fixture
def client(httpserver: HTTPServer, slept: list[float]) -> Iterator[PolygonClient]:
    with PolygonClient(
        api_key=KEY,
        base_url=httpserver.url_for(""),
        timeout=5.0,
        per_minute=None,
        max_attempts=3,
        sleep=slept.append,
    ) as polygon:
        yield polygon


def test_client_is_a_grouped_price_provider(client: PolygonClient) -> None:
    provider: GroupedPriceProvider = client
    assert provider.name == "polygon"


def test_daily_bars_follow_next_url_and_resend_the_key(
    httpserver: HTTPServer, client: PolygonClient
) -> None:
    page_1 = dict(AAPL_PAGE_1)
    page_1["next_url"] = httpserver.url_for(CURSOR_PATH) + "?cursor=bGltaXQ9MiZzb3J0PWFzYw"
    httpserver.expect_ordered_request(AAPL_PATH, query_string=AAPL_QUERY).respond_with_json(page_1)
    httpserver.expect_ordered_request(
        CURSOR_PATH, query_string={"cursor": "bGltaXQ9MiZzb3J0PWFzYw", "apiKey": KEY}
    ).respond_with_json(AAPL_PAGE_2)

    bars = client.daily_bars("AAPL", dt.date(2020, 1, 1), dt.date(2020, 1, 10))

    httpserver.check_assertions()
    assert len(httpserver.log) == 2
    assert httpserver.log[1][0].args["apiKey"] == KEY
    assert tuple(bars.columns) == BAR_COLUMNS
    assert list(bars["date"]) == [
        dt.date(2020, 1, 2),
        dt.date(2020, 1, 3),
        dt.date(2020, 1, 6),
        dt.date(2020, 1, 7),
    ]
    assert set(bars["symbol"]) == {"AAPL"}
    first = bars.iloc[0]
    assert (first["open"], first["high"], first["low"], first["close"]) == (
        74.06,
        75.15,
        73.7975,
        75.0875,
    )
    assert list(bars["adj_close"]) == list(bars["close"])  # as traded, both
    assert bars["volume"].dtype == "float64"
    assert bars["volume"].iloc[2] == 118387.5
    assert bars["vendor_status"].tolist() == [None] * 4


def test_next_url_on_a_foreign_host_never_gets_the_key(
    httpserver: HTTPServer, client: PolygonClient
) -> None:
    page_1 = dict(AAPL_PAGE_1)
    page_1["next_url"] = "https://evil.example/v2/aggs?cursor=x"
    httpserver.expect_request(AAPL_PATH).respond_with_json(page_1)
    with pytest.raises(ProviderBadResponse, match="unexpected host") as info:
        client.daily_bars("AAPL", dt.date(2020, 1, 1), dt.date(2020, 1, 10))
    assert_key_absent(info.value)


def test_delayed_status_is_accepted_and_recorded(
    httpserver: HTTPServer, client: PolygonClient
) -> None:
    httpserver.expect_request(
        "/v2/aggs/ticker/NVDA/range/1/day/2025-01-02/2025-01-02"
    ).respond_with_json(NVDA_DELAYED)
    bars = client.daily_bars("NVDA", dt.date(2025, 1, 2), dt.date(2025, 1, 2))
    assert list(bars["date"]) == [dt.date(2025, 1, 2)]
    assert bars["vendor_status"].tolist() == ["DELAYED"]
    assert bars["close"].iloc[0] == 138.85


@pytest.mark.parametrize("results", ["omitted", None, []])
def test_no_results_is_an_empty_frame(
    httpserver: HTTPServer, client: PolygonClient, results: object
) -> None:
    payload: dict[str, Any] = {
        "ticker": "AAPL",
        "queryCount": 0,
        "resultsCount": 0,
        "adjusted": True,
        "status": "OK",
        "request_id": "b4a7c1",
    }
    if results != "omitted":
        payload["results"] = results
    httpserver.expect_request(
        "/v2/aggs/ticker/AAPL/range/1/day/2024-12-25/2024-12-25"
    ).respond_with_json(payload)
    bars = client.daily_bars("AAPL", dt.date(2024, 12, 25), dt.date(2024, 12, 25))
    assert bars.empty
    assert tuple(bars.columns) == BAR_COLUMNS


def test_midnight_eastern_timestamps_map_to_the_new_york_date(
    httpserver: HTTPServer, client: PolygonClient
) -> None:
    httpserver.expect_request(
        "/v2/aggs/ticker/AAPL/range/1/day/2005-04-01/2005-04-04"
    ).respond_with_json(AAPL_2005_MOCK)
    bars = client.daily_bars("AAPL", dt.date(2005, 4, 1), dt.date(2005, 4, 4))
    # 1112331600000 = 2005-04-01T05:00Z = 00:00 EST; 1112587200000 = 2005-04-04 00:00 EDT
    # (the day after the switch to daylight time): UTC dates would be right by luck only.
    assert list(bars["date"]) == [dt.date(2005, 4, 1), dt.date(2005, 4, 4)]
    assert bars["volume"].iloc[0] == 642646396.0


def test_grouped_daily_maps_every_ticker_to_the_close_date(
    httpserver: HTTPServer, client: PolygonClient
) -> None:
    httpserver.expect_request(
        "/v2/aggs/grouped/locale/us/market/stocks/2020-10-14",
        query_string={"adjusted": "false", "include_otc": "false", "apiKey": KEY},
    ).respond_with_json(GROUPED_2020_10_14)
    bars = client.grouped_daily(dt.date(2020, 10, 14))
    # t = 1602705600000 = 2020-10-14 16:00 ET (20:00Z): the NY date is the 14th.
    assert list(bars["symbol"]) == ["KIMpL", "TANH", "VSAT"]
    assert set(bars["date"]) == {dt.date(2020, 10, 14)}
    assert bars.set_index("symbol")["volume"].to_dict() == {
        "KIMpL": 4369.0,
        "TANH": 25933.6,
        "VSAT": 312583.0,
    }
    assert bars.set_index("symbol").loc["VSAT", "close"] == 34.24


def test_grouped_daily_on_a_holiday_is_empty(httpserver: HTTPServer, client: PolygonClient) -> None:
    httpserver.expect_request(
        "/v2/aggs/grouped/locale/us/market/stocks/2024-12-25"
    ).respond_with_json(
        {"adjusted": True, "queryCount": 0, "resultsCount": 0, "status": "OK", "request_id": "x"}
    )
    assert client.grouped_daily(dt.date(2024, 12, 25)).empty


def test_option_ticker_uses_the_same_endpoint(
    httpserver: HTTPServer, client: PolygonClient
) -> None:
    path = f"/v2/aggs/ticker/{OPTION_TICKER}/range/1/day/2021-09-01/2021-09-30"
    httpserver.expect_request(path, query_string=AAPL_QUERY).respond_with_json(OPTION_BARS)
    bars = client.daily_bars(OPTION_TICKER, dt.date(2021, 9, 1), dt.date(2021, 9, 30))
    # 1632369600000 = 2021-09-23 04:00Z = 00:00 EDT.
    assert list(bars["date"]) == [dt.date(2021, 9, 23), dt.date(2021, 9, 24)]
    assert set(bars["symbol"]) == {OPTION_TICKER}
    assert list(bars["close"]) == [26.2, 28.3]


def test_429_then_success_honours_retry_after(
    httpserver: HTTPServer, client: PolygonClient, slept: list[float]
) -> None:
    httpserver.expect_ordered_request(AAPL_PATH).respond_with_json(
        RATE_LIMIT_BODY, status=429, headers={"Retry-After": "12"}
    )
    httpserver.expect_ordered_request(AAPL_PATH).respond_with_json(
        {**AAPL_PAGE_1, "next_url": None}
    )
    bars = client.daily_bars("AAPL", dt.date(2020, 1, 1), dt.date(2020, 1, 10))
    assert len(bars) == 2
    assert slept == [12.0]


def test_429_every_time_raises_rate_limited(
    httpserver: HTTPServer, client: PolygonClient, slept: list[float]
) -> None:
    httpserver.expect_request(AAPL_PATH).respond_with_json(RATE_LIMIT_BODY, status=429)
    with pytest.raises(ProviderRateLimited, match="maximum requests per minute") as info:
        client.daily_bars("AAPL", dt.date(2020, 1, 1), dt.date(2020, 1, 10))
    assert len(httpserver.log) == 3
    assert slept == [1.0, 2.0]
    assert_key_absent(info.value)


def test_5xx_then_success(
    httpserver: HTTPServer, client: PolygonClient, slept: list[float]
) -> None:
    httpserver.expect_ordered_request(AAPL_PATH).respond_with_data(
        "<html><body><h1>504 Gateway Time-out</h1></body></html>",
        status=504,
        content_type="text/html",
    )
    httpserver.expect_ordered_request(AAPL_PATH).respond_with_json(
        {**AAPL_PAGE_1, "next_url": None}
    )
    bars = client.daily_bars("AAPL", dt.date(2020, 1, 1), dt.date(2020, 1, 10))
    assert len(bars) == 2
    assert len(slept) == 1
    assert 0.0 <= slept[0] <= 1.0


@pytest.mark.parametrize("message", ["Unknown API Key", "API Key was not provided"])
def test_401_is_an_auth_error_with_the_vendor_message(
    httpserver: HTTPServer, client: PolygonClient, slept: list[float], message: str
) -> None:
    httpserver.expect_request(AAPL_PATH).respond_with_json(
        {"status": "ERROR", "request_id": "a1b2", "error": message}, status=401
    )
    with pytest.raises(ProviderAuthError, match=message) as info:
        client.daily_bars("AAPL", dt.date(2020, 1, 1), dt.date(2020, 1, 10))
    assert len(httpserver.log) == 1
    assert slept == []
    assert "apiKey=***" in str(info.value)
    assert_key_absent(info.value)


def test_403_not_authorized_is_an_entitlement_error(
    httpserver: HTTPServer, client: PolygonClient, slept: list[float]
) -> None:
    httpserver.expect_request(AAPL_PATH).respond_with_json(
        {
            "status": "NOT_AUTHORIZED",
            "request_id": "e5f6",
            "message": "You are not entitled to this data. Please upgrade your plan at "
            "https://polygon.io/pricing",
        },
        status=403,
    )
    with pytest.raises(ProviderEntitlementError, match="not entitled") as info:
        client.daily_bars("AAPL", dt.date(2020, 1, 1), dt.date(2020, 1, 10))
    assert len(httpserver.log) == 1
    assert slept == []
    assert_key_absent(info.value)


def test_error_status_inside_a_200_is_not_data(
    httpserver: HTTPServer, client: PolygonClient
) -> None:
    httpserver.expect_request(AAPL_PATH).respond_with_json(
        {"status": "NOT_FOUND", "request_id": "q1", "message": "Data not found."}
    )
    with pytest.raises(ProviderBadResponse, match="NOT_FOUND") as info:
        client.daily_bars("AAPL", dt.date(2020, 1, 1), dt.date(2020, 1, 10))
    assert_key_absent(info.value)


def test_malformed_json_is_a_bad_response(httpserver: HTTPServer, client: PolygonClient) -> None:
    httpserver.expect_request(AAPL_PATH).respond_with_data(
        '{"status": "OK", "results": [{"c": 1', content_type="application/json"
    )
    with pytest.raises(ProviderBadResponse, match="malformed JSON") as info:
        client.daily_bars("AAPL", dt.date(2020, 1, 1), dt.date(2020, 1, 10))
    assert_key_absent(info.value)


def test_bar_missing_a_required_field_is_a_bad_response(
    httpserver: HTTPServer, client: PolygonClient
) -> None:
    payload = {**AAPL_PAGE_1, "next_url": None, "results": [{"o": 1.0, "t": 1577941200000}]}
    httpserver.expect_request(AAPL_PATH).respond_with_json(payload)
    with pytest.raises(ProviderBadResponse, match="bad bar"):
        client.daily_bars("AAPL", dt.date(2020, 1, 1), dt.date(2020, 1, 10))


def test_default_limit_is_five_per_minute_shared_by_clients_with_one_key(
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_request(AAPL_PATH).respond_with_json({**AAPL_PAGE_1, "next_url": None})
    waits: list[float] = []
    key = KEY + "-limit"
    clients = [
        PolygonClient(api_key=key, base_url=httpserver.url_for(""), sleep=waits.append)
        for _ in range(2)
    ]
    for i in range(6):
        clients[i % 2].daily_bars("AAPL", dt.date(2020, 1, 1), dt.date(2020, 1, 10))
    for polygon in clients:
        polygon.close()
    assert len(waits) == 1
    assert math.isclose(waits[0], 12.0, abs_tol=1.0)


# ------------------------------------------------------------------ splits and dividends

SPLITS_PATH = "/v3/reference/splits"
DIVIDENDS_PATH = "/v3/reference/dividends"
ACTIONS_FROM, ACTIONS_TO = dt.date(2020, 1, 1), dt.date(2024, 12, 31)


def split(ticker: str, day: str, split_from: float, split_to: float) -> dict[str, Any]:
    """A result of /v3/reference/splits (providers.md, Corporate actions)."""
    return {
        "execution_date": day,
        "id": f"E{ticker}{day}",
        "split_from": split_from,
        "split_to": split_to,
        "ticker": ticker,
    }


def dividend(ticker: str, day: str, amount: float, kind: str = "CD") -> dict[str, Any]:
    """A result of /v3/reference/dividends (providers.md, Corporate actions)."""
    return {
        "cash_amount": amount,
        "currency": "USD",
        "declaration_date": "2024-05-02",
        "dividend_type": kind,
        "ex_dividend_date": day,
        "frequency": 4 if kind == "CD" else 0,
        "id": f"E{ticker}{day}{kind}{amount}",
        "pay_date": "2024-05-16",
        "record_date": "2024-05-13",
        "ticker": ticker,
    }


def reference_page(results: list[dict[str, Any]] | None, next_url: str | None) -> dict[str, Any]:
    page: dict[str, Any] = {"status": "OK", "request_id": "r" + str(len(results or []))}
    if results is not None:
        page["results"] = results
    if next_url is not None:
        page["next_url"] = next_url
    return page


def test_actions_follow_next_url_through_an_empty_page_and_a_429(
    httpserver: HTTPServer, client: PolygonClient, slept: list[float]
) -> None:
    window = {"execution_date.gte": "2020-01-01", "execution_date.lte": "2024-12-31"}
    httpserver.expect_ordered_request(
        SPLITS_PATH,
        query_string={"ticker": "AAPL", **window, "limit": "1000", "apiKey": KEY},
    ).respond_with_json(
        reference_page(
            [split("AAPL", "2020-08-31", 1, 4)], httpserver.url_for(SPLITS_PATH) + "?cursor=s2"
        )
    )
    # A cursor page without results, still pointing on.
    httpserver.expect_ordered_request(
        SPLITS_PATH, query_string={"cursor": "s2", "apiKey": KEY}
    ).respond_with_json(reference_page([], httpserver.url_for(SPLITS_PATH) + "?cursor=s3"))
    httpserver.expect_ordered_request(
        SPLITS_PATH, query_string={"cursor": "s3", "apiKey": KEY}
    ).respond_with_json(reference_page([split("AAPL", "2023-03-01", 10, 1)], None))
    dividend_window = {"ex_dividend_date.gte": "2020-01-01", "ex_dividend_date.lte": "2024-12-31"}
    httpserver.expect_ordered_request(
        DIVIDENDS_PATH,
        query_string={"ticker": "AAPL", **dividend_window, "limit": "1000", "apiKey": KEY},
    ).respond_with_json(
        reference_page(
            [dividend("AAPL", "2024-02-09", 0.24), dividend("AAPL", "2024-05-10", 0.25)],
            httpserver.url_for(DIVIDENDS_PATH) + "?cursor=d2",
        )
    )
    httpserver.expect_ordered_request(
        DIVIDENDS_PATH, query_string={"cursor": "d2", "apiKey": KEY}
    ).respond_with_json(RATE_LIMIT_BODY, status=429, headers={"Retry-After": "7"})
    httpserver.expect_ordered_request(
        DIVIDENDS_PATH, query_string={"cursor": "d2", "apiKey": KEY}
    ).respond_with_json(
        reference_page(
            [
                dividend("AAPL", "2024-08-12", 0.25),
                dividend("AAPL", "2024-08-12", 1.0, kind="SC"),  # a special on the same day
                dividend("AAPL", "2024-08-12", 0.25),  # the same record again
            ],
            None,
        )
    )

    actions = client.corporate_actions("AAPL", ACTIONS_FROM, ACTIONS_TO)

    httpserver.check_assertions()
    assert len(httpserver.log) == 6
    assert slept == [7.0]
    assert [(a.symbol, a.ex_date, a.kind, a.value) for a in actions] == [
        ("AAPL", dt.date(2020, 8, 31), "split", Decimal(4)),
        ("AAPL", dt.date(2023, 3, 1), "split", Decimal("0.1")),
        ("AAPL", dt.date(2024, 2, 9), "cash_dividend", Decimal("0.24")),
        ("AAPL", dt.date(2024, 5, 10), "cash_dividend", Decimal("0.25")),
        ("AAPL", dt.date(2024, 8, 12), "cash_dividend", Decimal("1.25")),
    ]


def test_market_actions_ask_without_a_ticker(httpserver: HTTPServer, client: PolygonClient) -> None:
    day = "2025-11-21"
    httpserver.expect_request(
        SPLITS_PATH,
        query_string={
            "execution_date.gte": day,
            "execution_date.lte": day,
            "limit": "1000",
            "apiKey": KEY,
        },
    ).respond_with_json(reference_page(None, None))  # no results key at all
    httpserver.expect_request(
        DIVIDENDS_PATH,
        query_string={
            "ex_dividend_date.gte": day,
            "ex_dividend_date.lte": day,
            "limit": "1000",
            "apiKey": KEY,
        },
    ).respond_with_json(
        reference_page([dividend("MSFT", day, 0.91), dividend("KO", day, 0.51)], None)
    )
    actions = client.market_actions(dt.date(2025, 11, 21), dt.date(2025, 11, 21))
    httpserver.check_assertions()
    assert [(a.symbol, a.value) for a in actions] == [
        ("KO", Decimal("0.51")),
        ("MSFT", Decimal("0.91")),
    ]


def test_actions_outside_the_window_a_bad_ratio_and_a_conflict_are_passed_on_as_found(
    httpserver: HTTPServer, client: PolygonClient
) -> None:
    httpserver.expect_request(SPLITS_PATH).respond_with_json(
        reference_page(
            [
                split("XYZ", "2019-06-03", 1, 2),  # before the window: dropped
                split("XYZ", "2021-06-01", 0, 2),  # a zero side: passed on as ratio 0
            ],
            None,
        )
    )
    httpserver.expect_request(DIVIDENDS_PATH).respond_with_json(
        reference_page(
            [dividend("XYZ", "2022-03-01", 0.5), dividend("XYZ", "2022-03-01", 0.7)], None
        )
    )
    actions = client.corporate_actions("XYZ", ACTIONS_FROM, ACTIONS_TO)
    assert [(a.ex_date, a.kind, a.value) for a in actions] == [
        (dt.date(2021, 6, 1), "split", Decimal(0)),
        # One type with two amounts on one date is a conflict the run rejects, not a sum.
        (dt.date(2022, 3, 1), "cash_dividend", Decimal("0.5")),
        (dt.date(2022, 3, 1), "cash_dividend", Decimal("0.7")),
    ]


def test_an_option_has_no_actions_of_its_own(httpserver: HTTPServer, client: PolygonClient) -> None:
    assert client.corporate_actions(OPTION_TICKER, ACTIONS_FROM, ACTIONS_TO) == []
    assert httpserver.log == []


def test_a_dividend_without_an_amount_is_a_bad_response(
    httpserver: HTTPServer, client: PolygonClient
) -> None:
    broken = dividend("AAPL", "2024-02-09", 0.24)
    del broken["cash_amount"]
    httpserver.expect_request(SPLITS_PATH).respond_with_json(reference_page([], None))
    httpserver.expect_request(DIVIDENDS_PATH).respond_with_json(reference_page([broken], None))
    with pytest.raises(ProviderBadResponse, match="cash_amount") as info:
        client.corporate_actions("AAPL", ACTIONS_FROM, ACTIONS_TO)
    assert_key_absent(info.value)


def test_actions_429_every_time_raises_rate_limited(
    httpserver: HTTPServer, client: PolygonClient
) -> None:
    httpserver.expect_request(SPLITS_PATH).respond_with_json(RATE_LIMIT_BODY, status=429)
    with pytest.raises(ProviderRateLimited) as info:
        client.corporate_actions("AAPL", ACTIONS_FROM, ACTIONS_TO)
    assert len(httpserver.log) == 3
    assert_key_absent(info.value)
