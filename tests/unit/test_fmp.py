"""FmpClient against a local server speaking the payloads of providers.md section 2."""

import datetime as dt
import itertools
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from sigmasight.providers.base import (
    BAR_COLUMNS,
    PriceProvider,
    Profile,
    ProfileProvider,
    ProviderAuthError,
    ProviderBadResponse,
    ProviderEntitlementError,
    ProviderRateLimited,
)
from sigmasight.providers.fmp import WINDOW_DAYS, FmpClient, date_windows
from tests.unit.test_provider_http import KEY, assert_key_absent, assert_logs_clean

EOD_PATH = "/stable/historical-price-eod/full"
PROFILE_PATH = "/stable/profile"

# providers.md 2.1: the official row first (newest first), then two realistic older rows.
AAPL_EOD: list[dict[str, Any]] = [
    {"symbol": "AAPL", "date": "2025-02-04", "open": 227.2, "high": 233.13, "low": 226.65,
     "close": 232.8, "volume": 44489128, "change": 5.6, "changePercent": 2.46479, "vwap": 230.86},
    {"symbol": "AAPL", "date": "2025-02-03", "open": 229.99, "high": 231.83, "low": 225.7,
     "close": 228.01, "volume": 73063301, "change": -1.98, "changePercent": -0.86090,
     "vwap": 228.88},
    {"symbol": "AAPL", "date": "2025-01-31", "open": 247.19, "high": 247.19, "low": 233.44,
     "close": 236.0, "volume": 101075100, "change": -11.19, "changePercent": -4.52688,
     "vwap": 240.95},
]  # fmt: skip
# providers.md 2.3, official example (description truncated).
AAPL_PROFILE: list[dict[str, Any]] = [
    {
        "symbol": "AAPL", "price": 232.8, "marketCap": 3500823120000, "beta": 1.24,
        "lastDividend": 0.99, "range": "164.08-260.1", "change": 4.79,
        "changePercentage": 2.1008, "volume": 0, "averageVolume": 50542058,
        "companyName": "Apple Inc.", "currency": "USD", "cik": "0000320193",
        "isin": "US0378331005", "cusip": "037833100",
        "exchangeFullName": "NASDAQ Global Select", "exchange": "NASDAQ",
        "industry": "Consumer Electronics", "website": "https://www.apple.com",
        "description": "Apple Inc. designs, manufactures, ...", "ceo": "Mr. Timothy D. Cook",
        "sector": "Technology", "country": "US", "fullTimeEmployees": "164000",
        "phone": "(408) 996-1010", "address": "One Apple Park Way", "city": "Cupertino",
        "state": "CA", "zip": "95014", "image": "https://images.financialmodelingprep.com/symbol/AAPL.png",
        "ipoDate": "1980-12-12", "defaultImage": False, "isEtf": False,
        "isActivelyTrading": True, "isAdr": False, "isFund": False,
    }
]  # fmt: skip
# Same shape for an ETF (realistic illustration): empty sector and industry, isEtf true.
SPY_PROFILE: list[dict[str, Any]] = [
    {
        "symbol": "SPY", "price": 601.3, "marketCap": 551906021880, "beta": 1.0,
        "companyName": "SPDR S&P 500 ETF Trust", "currency": "USD", "exchange": "AMEX",
        "exchangeFullName": "New York Stock Exchange Arca", "industry": "", "sector": "",
        "country": "US", "isEtf": True, "isActivelyTrading": True, "isAdr": False,
        "isFund": False,
    }
]  # fmt: skip
LIMIT_REACH = {
    "Error Message": "Limit Reach . Please upgrade your plan or visit our documentation for "
    "more details at https://site.financialmodelingprep.com/"
}
INVALID_KEY = {
    "Error Message": "Invalid API KEY. Feel free to create a Free API Key or visit "
    "https://site.financialmodelingprep.com/faqs?search=why-is-my-api-key-invalid for more "
    "information."
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
def client(httpserver: HTTPServer, slept: list[float]) -> Iterator[FmpClient]:
    with FmpClient(
        api_key=KEY,
        base_url=httpserver.url_for(""),
        timeout=5.0,
        per_minute=None,
        max_attempts=3,
        sleep=slept.append,
    ) as fmp:
        yield fmp


def test_client_is_a_price_and_profile_provider(client: FmpClient) -> None:
    prices: PriceProvider = client
    profiles: ProfileProvider = client
    assert prices.name == profiles.name == "fmp"


def test_newest_first_rows_come_back_ascending(httpserver: HTTPServer, client: FmpClient) -> None:
    httpserver.expect_request(
        EOD_PATH,
        query_string={"symbol": "AAPL", "from": "2025-01-31", "to": "2025-02-04", "apikey": KEY},
    ).respond_with_json(AAPL_EOD)
    bars = client.daily_bars("AAPL", dt.date(2025, 1, 31), dt.date(2025, 2, 4))
    assert tuple(bars.columns) == BAR_COLUMNS
    assert list(bars["date"]) == [dt.date(2025, 1, 31), dt.date(2025, 2, 3), dt.date(2025, 2, 4)]
    assert list(bars["close"]) == [236.0, 228.01, 232.8]
    assert list(bars["adj_close"]) == list(bars["close"])
    assert bars["volume"].dtype == "float64"
    assert bars["volume"].iloc[-1] == 44489128.0
    assert bars["vendor_status"].tolist() == [None, None, None]


def test_empty_array_is_no_data(httpserver: HTTPServer, client: FmpClient) -> None:
    httpserver.expect_request(EOD_PATH).respond_with_json([])
    bars = client.daily_bars("NOPE", dt.date(2025, 1, 2), dt.date(2025, 1, 10))
    assert bars.empty
    assert tuple(bars.columns) == BAR_COLUMNS


def test_long_range_is_fetched_in_non_overlapping_windows(
    httpserver: HTTPServer, client: FmpClient
) -> None:
    def window_edges(request: Request) -> Response:
        # One bar on each edge of the asked window, newest first.
        rows = [
            {**AAPL_EOD[0], "date": request.args["to"]},
            {**AAPL_EOD[0], "date": request.args["from"]},
        ]
        return Response(json.dumps(rows), content_type="application/json")

    httpserver.expect_request(EOD_PATH).respond_with_handler(window_edges)
    start, end = dt.date(2000, 1, 1), dt.date(2024, 12, 31)

    bars = client.daily_bars("AAPL", start, end)

    windows = [
        (dt.date.fromisoformat(r.args["from"]), dt.date.fromisoformat(r.args["to"]))
        for r, _ in httpserver.log
    ]
    assert len(windows) == 3
    assert windows[0][0] == start
    assert windows[-1][1] == end
    for (_, previous_to), (next_from, _) in itertools.pairwise(windows):
        assert next_from == previous_to + dt.timedelta(days=1)
    # Fewer calendar days than FMP's 5000-row cap, so no window can be truncated.
    assert all((to - frm).days + 1 <= WINDOW_DAYS < 5000 for frm, to in windows)
    assert all(r.args["apikey"] == KEY for r, _ in httpserver.log)
    assert list(bars["date"]) == sorted(d for window in windows for d in window)


def test_date_windows_edge_cases() -> None:
    day = dt.date(2024, 1, 1)
    assert date_windows(day, day, 10) == [(day, day)]
    assert date_windows(day, day - dt.timedelta(days=1), 10) == []
    assert date_windows(day, dt.date(2024, 1, 20), 10) == [
        (day, dt.date(2024, 1, 10)),
        (dt.date(2024, 1, 11), dt.date(2024, 1, 20)),
    ]


def test_limit_reach_with_http_200_is_retried_then_rate_limited(
    httpserver: HTTPServer, client: FmpClient, slept: list[float]
) -> None:
    httpserver.expect_request(EOD_PATH).respond_with_json(LIMIT_REACH, status=200)
    with pytest.raises(ProviderRateLimited, match="Limit Reach") as info:
        client.daily_bars("AAPL", dt.date(2025, 1, 31), dt.date(2025, 2, 4))
    assert len(httpserver.log) == 3
    assert slept == [1.0, 2.0]
    assert_key_absent(info.value)


def test_limit_reach_with_http_200_then_data(
    httpserver: HTTPServer, client: FmpClient, slept: list[float]
) -> None:
    httpserver.expect_ordered_request(EOD_PATH).respond_with_json(LIMIT_REACH)
    httpserver.expect_ordered_request(EOD_PATH).respond_with_json(AAPL_EOD)
    bars = client.daily_bars("AAPL", dt.date(2025, 1, 31), dt.date(2025, 2, 4))
    assert len(bars) == 3
    assert slept == [1.0]


def test_429_then_success_honours_retry_after(
    httpserver: HTTPServer, client: FmpClient, slept: list[float]
) -> None:
    httpserver.expect_ordered_request(EOD_PATH).respond_with_json(
        LIMIT_REACH, status=429, headers={"Retry-After": "5"}
    )
    httpserver.expect_ordered_request(EOD_PATH).respond_with_json(AAPL_EOD)
    assert len(client.daily_bars("AAPL", dt.date(2025, 1, 31), dt.date(2025, 2, 4))) == 3
    assert slept == [5.0]


def test_5xx_then_success(httpserver: HTTPServer, client: FmpClient, slept: list[float]) -> None:
    httpserver.expect_ordered_request(EOD_PATH).respond_with_data("Service Unavailable", status=503)
    httpserver.expect_ordered_request(EOD_PATH).respond_with_json(AAPL_EOD)
    assert len(client.daily_bars("AAPL", dt.date(2025, 1, 31), dt.date(2025, 2, 4))) == 3
    assert len(slept) == 1


def test_invalid_key_is_an_auth_error_with_the_vendor_message(
    httpserver: HTTPServer, client: FmpClient, slept: list[float]
) -> None:
    httpserver.expect_request(EOD_PATH).respond_with_json(INVALID_KEY, status=401)
    with pytest.raises(ProviderAuthError, match="Invalid API KEY") as info:
        client.daily_bars("AAPL", dt.date(2025, 1, 31), dt.date(2025, 2, 4))
    assert len(httpserver.log) == 1
    assert slept == []
    assert "apikey=***" in str(info.value)
    assert_key_absent(info.value)


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        (
            402,
            "Premium Query Parameter: 'Special Endpoint : This value set for 'symbol' is not "
            "available under your current subscription please visit our subscription page to "
            "upgrade your plan at https://site.financialmodelingprep.com/developer/docs/pricing'",
            "text/plain",
        ),
        (
            402,
            json.dumps(
                {
                    "Error Message": "Restricted Endpoint: This endpoint is not available under "
                    "your current subscription please visit our subscription page to upgrade "
                    "your plan or contact us at https://site.financialmodelingprep.com/contact"
                }
            ),
            "application/json",
        ),
        (
            403,
            json.dumps(
                {
                    "Error Message": "Legacy Endpoint : Due to Legacy endpoints being no longer "
                    "supported - This endpoint is only available for legacy users who have valid "
                    "subscriptions prior August 31, 2025. Please visit our documentation page "
                    "https://site.financialmodelingprep.com/developer/docs for our current APIs."
                }
            ),
            "application/json",
        ),
        (
            200,
            json.dumps(
                {
                    "Error Message": "Restricted Endpoint: This endpoint is not available under "
                    "your current subscription"
                }
            ),
            "application/json",
        ),
    ],
    ids=["402-premium-text", "402-restricted-json", "403-legacy", "200-restricted"],
)
def test_plan_errors_are_entitlement_errors(
    httpserver: HTTPServer,
    client: FmpClient,
    slept: list[float],
    status: int,
    body: str,
    content_type: str,
) -> None:
    httpserver.expect_request(EOD_PATH).respond_with_data(
        body, status=status, content_type=content_type
    )
    with pytest.raises(ProviderEntitlementError) as info:
        client.daily_bars("SPY", dt.date(2025, 1, 31), dt.date(2025, 2, 4))
    assert len(httpserver.log) == 1
    assert slept == []
    assert_key_absent(info.value)


def test_plain_text_limit_reach_is_rate_limited(
    httpserver: HTTPServer, client: FmpClient, slept: list[float]
) -> None:
    httpserver.expect_request(EOD_PATH).respond_with_data(
        "Bandwidth Limit Reach . Please upgrade your plan", status=429, content_type="text/plain"
    )
    with pytest.raises(ProviderRateLimited, match="Bandwidth Limit Reach"):
        client.daily_bars("AAPL", dt.date(2025, 1, 31), dt.date(2025, 2, 4))
    assert len(httpserver.log) == 3


def test_other_error_message_is_a_bad_response(httpserver: HTTPServer, client: FmpClient) -> None:
    httpserver.expect_request(EOD_PATH).respond_with_json({"Error Message": "Something odd."})
    with pytest.raises(ProviderBadResponse, match="Something odd"):
        client.daily_bars("AAPL", dt.date(2025, 1, 31), dt.date(2025, 2, 4))


def test_malformed_json_is_a_bad_response(httpserver: HTTPServer, client: FmpClient) -> None:
    httpserver.expect_request(EOD_PATH).respond_with_data(
        '[{"symbol": "AAPL", "date": "2025-02-04", "open": 227.', content_type="application/json"
    )
    with pytest.raises(ProviderBadResponse, match="malformed JSON") as info:
        client.daily_bars("AAPL", dt.date(2025, 1, 31), dt.date(2025, 2, 4))
    assert_key_absent(info.value)


def test_profile_of_a_stock(httpserver: HTTPServer, client: FmpClient) -> None:
    httpserver.expect_request(
        PROFILE_PATH, query_string={"symbol": "AAPL", "apikey": KEY}
    ).respond_with_json(AAPL_PROFILE)
    assert client.profile("AAPL") == Profile(
        symbol="AAPL",
        name="Apple Inc.",
        asset_type="stock",
        sector="Technology",
        industry="Consumer Electronics",
        market_cap=3500823120000.0,
        currency="USD",
        exchange="NASDAQ",
    )


def test_profile_of_an_etf_gets_the_etf_bucket(httpserver: HTTPServer, client: FmpClient) -> None:
    httpserver.expect_request(PROFILE_PATH).respond_with_json(SPY_PROFILE)
    profile = client.profile("SPY")
    assert profile is not None
    assert profile.asset_type == "etf"
    assert profile.sector == "ETF"
    assert profile.industry is None
    assert profile.market_cap == 551906021880.0
    assert profile.exchange == "AMEX"


def test_profile_of_a_fund_and_the_legacy_market_cap_name(
    httpserver: HTTPServer, client: FmpClient
) -> None:
    legacy = {
        "symbol": "VFIAX",
        "companyName": "Vanguard 500 Index Fund Admiral Shares",
        "mktCap": 1.3e12,
        "currency": "USD",
        "exchange": "Nasdaq Mutual Funds",
        "exchangeShortName": "NASDAQ",
        "sector": "",
        "industry": "",
        "isEtf": False,
        "isFund": True,
    }
    httpserver.expect_request(PROFILE_PATH).respond_with_json([legacy])
    profile = client.profile("VFIAX")
    assert profile is not None
    assert profile.asset_type == "mutual_fund"
    assert profile.sector is None
    assert profile.market_cap == 1.3e12
    assert profile.exchange == "NASDAQ"


def test_unknown_profile_is_none(httpserver: HTTPServer, client: FmpClient) -> None:
    httpserver.expect_request(PROFILE_PATH).respond_with_json([])
    assert client.profile("NOPE") is None
