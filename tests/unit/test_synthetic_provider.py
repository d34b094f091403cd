"""The offline synthetic provider: determinism, calendar, OHLC, anchoring, factor structure."""

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from sigmasight.providers.base import (
    BAR_COLUMNS,
    GroupedPriceProvider,
    ProfileProvider,
    RateProvider,
)
from sigmasight.providers.synthetic import ORIGIN, SECTORS, SyntheticProvider
from sigmasight.reference_data import REFERENCE_PRICES
from sigmasight.trading_calendar import sessions

TWO_YEARS = (dt.date(2023, 7, 3), dt.date(2025, 6, 30))
RANDOM_NAMES = [f"ZQ{i:03d}" for i in range(40)]
OPTION = "O:SPY250919C00660000"


@pytest.fixture(scope="module")
def provider() -> SyntheticProvider:
    return SyntheticProvider(universe=["UNIV1", "UNIV2"])


@pytest.fixture(scope="module")
def two_year_returns(provider: SyntheticProvider) -> pd.DataFrame:
    symbols = ["SPY", "IWM", "VTV", "VUG", "USMV", "BND", *RANDOM_NAMES]
    bars = provider.bars_for(symbols, *TWO_YEARS)
    closes = bars.pivot(index="date", columns="symbol", values="close")
    return closes.pct_change(fill_method=None).iloc[1:]


def beta(returns: pd.DataFrame, symbol: str, on: str = "SPY") -> float:
    return float(np.cov(returns[symbol], returns[on])[0, 1] / returns[on].var())


def test_satisfies_the_provider_protocols(provider: SyntheticProvider):
    grouped: GroupedPriceProvider = provider
    profiles: ProfileProvider = provider
    rates: RateProvider = provider
    assert grouped.name == profiles.name == rates.name == "synthetic"


def test_frame_has_bar_columns_and_date_objects(provider: SyntheticProvider):
    bars = provider.daily_bars("AAPL", dt.date(2025, 1, 1), dt.date(2025, 3, 31))
    assert tuple(bars.columns) == BAR_COLUMNS
    assert len(bars) > 50
    assert all(type(day) is dt.date for day in bars["date"])
    assert list(bars["date"]) == sorted(bars["date"])
    assert set(bars["symbol"]) == {"AAPL"}
    assert bars["vendor_status"].isna().all()
    assert (bars["adj_close"] == bars["close"]).all()
    assert (bars["volume"] > 0).all() and (bars["volume"] == np.floor(bars["volume"])).all()
    assert (
        (bars[["open", "high", "low", "close"]] == bars[["open", "high", "low", "close"]].round(4))
        .all()
        .all()
    )


def test_same_bars_whatever_the_range_order_or_instance():
    first, second = SyntheticProvider(), SyntheticProvider()
    long = first.daily_bars("AAPL", dt.date(2023, 1, 1), dt.date(2025, 12, 31))
    second.daily_bars("NVDA", dt.date(2019, 1, 1), dt.date(2020, 1, 1))
    second.bars_for([f"N{i}" for i in range(20)], dt.date(2024, 3, 1), dt.date(2024, 9, 1))
    short = second.daily_bars("AAPL", dt.date(2024, 5, 17), dt.date(2024, 8, 9))
    earlier = first.daily_bars("AAPL", dt.date(2024, 8, 1), dt.date(2024, 8, 9))
    keyed = long.set_index("date")
    for part in (short, earlier):
        pd.testing.assert_frame_equal(
            keyed.loc[list(part["date"])].reset_index()[list(BAR_COLUMNS)],
            part.reset_index(drop=True),
        )


def test_bulk_equals_single_symbol_requests(provider: SyntheticProvider):
    span = (dt.date(2024, 12, 20), dt.date(2025, 1, 10))
    bulk = provider.bars_for(["MSFT", "ZQ001", OPTION, "MSFT", "BND"], *span)
    singles = pd.concat(
        [provider.daily_bars(s, *span) for s in ("MSFT", "ZQ001", "BND")], ignore_index=True
    )
    pd.testing.assert_frame_equal(bulk, singles)


def test_bars_only_on_nyse_sessions(provider: SyntheticProvider):
    start, end = dt.date(2025, 6, 1), dt.date(2025, 12, 31)
    days = list(provider.daily_bars("SPY", start, end)["date"])
    assert days == sessions(start, end)
    assert dt.date(2025, 7, 3) in days
    assert dt.date(2025, 7, 4) not in days
    assert dt.date(2025, 12, 25) not in days


def test_nothing_before_start():
    late = SyntheticProvider(start=dt.date(2024, 1, 2))
    bars = late.daily_bars("SPY", dt.date(2023, 6, 1), dt.date(2024, 1, 10))
    assert bars["date"].iloc[0] == dt.date(2024, 1, 2)
    assert late.daily_bars("SPY", dt.date(2023, 1, 1), dt.date(2023, 12, 31)).empty
    rates = late.observations("DGS10", dt.date(2023, 1, 1), dt.date(2024, 1, 10))
    assert rates[0][0] == dt.date(2024, 1, 2)
    with pytest.raises(ValueError, match="starts on"):
        SyntheticProvider(start=ORIGIN - dt.timedelta(days=1))


def test_ohlc_is_consistent(provider: SyntheticProvider):
    bars = provider.bars_for(
        [*REFERENCE_PRICES, *RANDOM_NAMES], dt.date(2015, 1, 2), dt.date(2026, 6, 30)
    )
    low, high = bars["low"], bars["high"]
    body_low = bars[["open", "close"]].min(axis=1)
    body_high = bars[["open", "close"]].max(axis=1)
    assert (low > 0).all()
    assert (low <= body_low).all()
    assert (body_high <= high).all()
    assert (low < high).mean() > 0.99


def test_closes_on_anchor_date_equal_reference_prices(provider: SyntheticProvider):
    day = dt.date(2025, 6, 30)
    bars = provider.bars_for(list(REFERENCE_PRICES), day, day).set_index("symbol")
    assert bars["close"].to_dict() == REFERENCE_PRICES


def test_unknown_symbol_price_level_is_plausible(provider: SyntheticProvider):
    day = dt.date(2025, 6, 30)
    closes = provider.bars_for(RANDOM_NAMES, day, day)["close"]
    assert closes.between(10.0, 400.0).all()


def test_factor_etfs_follow_their_design(two_year_returns: pd.DataFrame):
    returns = two_year_returns
    assert returns["SPY"].corr(returns["IWM"]) > 0.7
    assert beta(returns, "IWM") == pytest.approx(1.15, abs=0.12)
    assert beta(returns, "VUG") == pytest.approx(1.1, abs=0.12)
    assert beta(returns, "VTV") == pytest.approx(0.97, abs=0.12)
    assert beta(returns, "USMV") == pytest.approx(0.7, abs=0.12)
    assert beta(returns, "USMV") < 1.0
    assert abs(beta(returns, "BND")) < 0.15


def test_annualised_volatilities_are_plausible(two_year_returns: pd.DataFrame):
    vols = two_year_returns.std() * math.sqrt(252)
    assert 0.10 < vols["SPY"] < 0.25
    assert vols["BND"] < 0.10
    assert vols[RANDOM_NAMES].between(0.12, 0.60).all()
    betas = [beta(two_year_returns, s) for s in RANDOM_NAMES]
    assert min(betas) > 0.3
    assert max(betas) < 2.1


def test_option_ticker_gives_empty_frame(provider: SyntheticProvider):
    bars = provider.daily_bars(OPTION, dt.date(2025, 1, 1), dt.date(2025, 6, 30))
    assert bars.empty
    assert tuple(bars.columns) == BAR_COLUMNS
    assert provider.profile(OPTION) is None


def test_grouped_daily_covers_universe_and_asked_symbols():
    provider = SyntheticProvider(universe=["UNIV1", "UNIV2", OPTION])
    day = dt.date(2025, 7, 3)
    provider.daily_bars("MSFT", dt.date(2025, 1, 1), dt.date(2025, 7, 31))
    grouped = provider.grouped_daily(day)
    assert tuple(grouped.columns) == BAR_COLUMNS
    assert list(grouped["symbol"]) == ["MSFT", "UNIV1", "UNIV2"]
    single = provider.daily_bars("UNIV2", dt.date(2025, 6, 1), day)
    pd.testing.assert_frame_equal(
        grouped[grouped["symbol"] == "UNIV2"].reset_index(drop=True),
        single[single["date"] == day].reset_index(drop=True),
    )
    assert provider.grouped_daily(dt.date(2025, 7, 4)).empty


def test_dgs10_is_plausible_without_gaps(
    provider: SyntheticProvider, two_year_returns: pd.DataFrame
):
    observations = provider.observations("DGS10", *TWO_YEARS)
    assert [day for day, _ in observations] == sessions(*TWO_YEARS)
    levels = pd.Series(dict(observations))
    assert levels.between(0.5, 8.0).all()
    assert all(round(value, 2) == value for value in levels)
    changes = levels.diff().iloc[1:]
    assert 0.03 < changes.std() < 0.10
    assert changes.corr(two_year_returns["SPY"]) > 0.05
    assert changes.corr(two_year_returns["BND"]) < -0.5  # bonds carry duration
    assert SyntheticProvider().observations("DGS10", *TWO_YEARS) == observations
    assert provider.observations("DGS2", *TWO_YEARS) != observations


def test_profiles_of_demo_and_unknown_symbols(provider: SyntheticProvider):
    apple = provider.profile("AAPL")
    assert apple is not None
    assert (apple.asset_type, apple.sector, apple.market_cap) == ("stock", "Technology", 3.4e12)
    bond_fund = provider.profile("BND")
    assert bond_fund is not None and bond_fund.asset_type == "etf"
    unknown = provider.profile("ZQ001")
    assert unknown is not None
    assert unknown.asset_type == "stock"
    assert unknown.sector in SECTORS
    assert unknown.market_cap is not None and 1e9 <= unknown.market_cap <= 5e11
    assert SyntheticProvider().profile("ZQ001") == unknown


def test_context_manager_closes_quietly():
    with SyntheticProvider() as provider:
        assert not provider.daily_bars("SPY", dt.date(2025, 7, 3), dt.date(2025, 7, 3)).empty
