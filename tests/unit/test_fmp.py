"""FmpClient against a local server speaking the payloads of providers.md section 2."""

import datetime as dt
import itertools
import json
import logging
from collections.abc import Iterator
from decimal import Decimal
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

EOD_PATH = "/stable/historical-price-eod/non-split-adjusted"
PROFILE_PATH = "/stable/profile"

# The unadjusted endpoint's shape (docs/providers.md 2.1): FMP names its as-traded prices
# adjOpen..adjClose. The rows are providers.md 2.1's official row (newest first) and two
# realistic older rows.
AAPL_EOD: list[dict[str, Any]] = [
    {"symbol": "AAPL", "date": "2025-02-04", "adjOpen": 227.2, "adjHigh": 233.13,
     "adjLow": 226.65, "adjClose": 232.8, "volume": 44489128},
    {"symbol": "AAPL", "date": "2025-02-03", "adjOpen": 229.99, "adjHigh": 231.83,
     "adjLow": 225.7, "adjClose": 228.01, "volume": 73063301},
    {"symbol": "AAPL", "date": "2025-01-31", "adjOpen": 247.19, "adjHigh": 247.19,
     "adjLow": 233.44, "adjClose": 236.0, "volume": 101075100},
]  # fmt: skip
# The /full shape (providers.md 2.1), which the same parser reads should FMP rename back.
AAPL_EOD_FULL_SHAPE: list[dict[str, Any]] = [
    {"symbol": "AAPL", "date": "2025-02-04", "open": 227.2, "high": 233.13, "low": 226.65,
     "close": 232.8, "volume": 44489128, "change": 5.6, "changePercent": 2.46479, "vwap": 230.86},
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


def test_rows_with_plain_price_names_are_read_too(
    httpserver: HTTPServer, client: FmpClient
) -> None:
    httpserver.expect_request(EOD_PATH).respond_with_json(AAPL_EOD_FULL_SHAPE)
    bars = client.daily_bars("AAPL", dt.date(2025, 2, 4), dt.date(2025, 2, 4))
    first = bars.iloc[0]
    assert (first["open"], first["high"], first["low"], first["close"]) == (
        227.2,
        233.13,
        226.65,
        232.8,
    )


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


# ------------------------------------------------------------------ splits and dividends

SPLITS_PATH = "/stable/splits"
DIVIDENDS_PATH = "/stable/dividends"
# Shapes of docs/providers.md 2.5 (stable API), newest first; realistic AAPL history.
AAPL_SPLITS: list[dict[str, Any]] = [
    {"symbol": "AAPL", "date": "2020-08-31", "numerator": 4, "denominator": 1},
    {"symbol": "AAPL", "date": "2014-06-09", "numerator": 7, "denominator": 1},
]
AAPL_DIVIDENDS: list[dict[str, Any]] = [
    {"symbol": "AAPL", "date": "2025-02-10", "recordDate": "2025-02-10",
     "paymentDate": "2025-02-13", "declarationDate": "2025-01-30", "adjDividend": 0.25,
     "dividend": 0.25, "yield": 0.43, "frequency": "Quarterly"},
    {"symbol": "AAPL", "date": "2020-08-07", "recordDate": "2020-08-10",
     "paymentDate": "2020-08-13", "declarationDate": "2020-07-30", "adjDividend": 0.205,
     "dividend": 0.82, "yield": 0.75, "frequency": "Quarterly"},
    {"symbol": "AAPL", "date": "2014-05-08", "recordDate": "2014-05-12",
     "paymentDate": "2014-05-15", "declarationDate": "2014-04-23", "adjDividend": 0.1175,
     "dividend": 3.29, "yield": 2.2, "frequency": "Quarterly"},
]  # fmt: skip


def test_actions_filter_the_whole_history_and_use_the_declared_amount(
    httpserver: HTTPServer, client: FmpClient
) -> None:
    query = {"symbol": "AAPL", "limit": "1000", "apikey": KEY}
    httpserver.expect_ordered_request(SPLITS_PATH, query_string=query).respond_with_json(
        AAPL_SPLITS
    )
    httpserver.expect_ordered_request(DIVIDENDS_PATH, query_string=query).respond_with_json(
        AAPL_DIVIDENDS
    )
    actions = client.corporate_actions("AAPL", dt.date(2015, 1, 1), dt.date(2025, 6, 30))
    httpserver.check_assertions()
    # The 2014 split and dividend lie before the window; the 2020 dividend is the 0.82
    # paid on the pre-split shares, which is what the as-traded close of its day reflects.
    assert [(a.symbol, a.ex_date, a.kind, a.value) for a in actions] == [
        ("AAPL", dt.date(2020, 8, 7), "cash_dividend", Decimal("0.82")),
        ("AAPL", dt.date(2020, 8, 31), "split", Decimal(4)),
        ("AAPL", dt.date(2025, 2, 10), "cash_dividend", Decimal("0.25")),
    ]


def test_a_reverse_split_and_no_dividends(httpserver: HTTPServer, client: FmpClient) -> None:
    httpserver.expect_request(SPLITS_PATH).respond_with_json(
        [{"symbol": "GE", "date": "2021-08-02", "numerator": 1, "denominator": 8}]
    )
    httpserver.expect_request(DIVIDENDS_PATH).respond_with_json([])
    actions = client.corporate_actions("GE", dt.date(2021, 1, 1), dt.date(2021, 12, 31))
    assert [(a.kind, a.value) for a in actions] == [("split", Decimal("0.125"))]


def test_actions_limit_reach_then_data(
    httpserver: HTTPServer, client: FmpClient, slept: list[float]
) -> None:
    httpserver.expect_ordered_request(SPLITS_PATH).respond_with_json(
        LIMIT_REACH, status=429, headers={"Retry-After": "3"}
    )
    httpserver.expect_ordered_request(SPLITS_PATH).respond_with_json([])
    httpserver.expect_ordered_request(DIVIDENDS_PATH).respond_with_json(AAPL_DIVIDENDS[:1])
    actions = client.corporate_actions("AAPL", dt.date(2025, 1, 1), dt.date(2025, 6, 30))
    assert slept == [3.0]
    assert [a.value for a in actions] == [Decimal("0.25")]


def test_a_dividend_without_an_amount_is_a_bad_response(
    httpserver: HTTPServer, client: FmpClient
) -> None:
    httpserver.expect_request(SPLITS_PATH).respond_with_json([])
    broken = {k: v for k, v in AAPL_DIVIDENDS[0].items() if k != "dividend"}
    httpserver.expect_request(DIVIDENDS_PATH).respond_with_json([broken])
    with pytest.raises(ProviderBadResponse, match="dividend") as info:
        client.corporate_actions("AAPL", dt.date(2025, 1, 1), dt.date(2025, 6, 30))
    assert_key_absent(info.value)


def test_an_option_has_no_actions_of_its_own(httpserver: HTTPServer, client: FmpClient) -> None:
    assert (
        client.corporate_actions("O:SPY251219C00600000", dt.date(2025, 1, 1), dt.date(2025, 6, 30))
        == []
    )
    assert httpserver.log == []
