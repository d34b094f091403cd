"""The offline synthetic provider: determinism, calendar, OHLC, anchoring, factor structure."""

import datetime as dt
import math
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from sigmasight.providers.base import (
    BAR_COLUMNS,
    GroupedPriceProvider,
    MarketActionProvider,
    ProfileProvider,
    RateProvider,
)
from sigmasight.providers.synthetic import (
    DIVIDENDS,
    ORIGIN,
    SECTORS,
    SPLITS,
    SyntheticProvider,
)
from sigmasight.reference_data import REFERENCE_PRICES
from sigmasight.trading_calendar import is_trading_day, sessions

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
    actions: MarketActionProvider = provider
    profiles: ProfileProvider = provider
    rates: RateProvider = provider
    assert grouped.name == actions.name == profiles.name == rates.name == "synthetic"


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


# ------------------------------------------------------------------ corporate actions

DEMO_PERIOD = (dt.date(2024, 12, 2), dt.date(2026, 12, 2))


def closes(provider: SyntheticProvider, symbol: str, start: dt.date, end: dt.date) -> pd.Series:
    return provider.daily_bars(symbol, start, end).set_index("date")["close"]


def test_actions_are_few_dated_on_sessions_and_the_same_in_every_instance(
    provider: SyntheticProvider,
):
    everything = provider.market_actions(dt.date(2015, 1, 2), dt.date(2026, 12, 2))
    assert {a.symbol for a in everything} == set(SPLITS) | set(DIVIDENDS)
    assert all(is_trading_day(a.ex_date) for a in everything)
    assert all(a.value > 0 for a in everything)
    splits = [a for a in everything if a.kind == "split"]
    assert [(a.symbol, a.ex_date, a.value) for a in splits] == sorted(
        ((s, d, k) for s, rows in SPLITS.items() for d, k in rows), key=lambda t: t[1]
    )
    in_demo = [a for a in splits if DEMO_PERIOD[0] <= a.ex_date <= DEMO_PERIOD[1]]
    assert [(a.symbol, a.value) for a in in_demo] == [("NVDA", Decimal(4))]
    # Regular quarterly dividends: four a year per payer, amounts in cents.
    spy_2025 = provider.corporate_actions("SPY", dt.date(2025, 1, 1), dt.date(2025, 12, 31))
    assert [a.kind for a in spy_2025] == ["cash_dividend"] * 4
    assert [a.ex_date.month for a in spy_2025] == [3, 6, 9, 12]
    assert all(a.value == a.value.quantize(Decimal("0.01")) for a in spy_2025)
    assert SyntheticProvider().market_actions(dt.date(2015, 1, 2), dt.date(2026, 12, 2)) == (
        everything
    )
    assert provider.corporate_actions("ZQ001", dt.date(2015, 1, 2), dt.date(2026, 12, 2)) == []
    window = provider.corporate_actions("AAPL", dt.date(2025, 2, 10), dt.date(2025, 5, 12))
    assert [a.ex_date for a in window] == [dt.date(2025, 2, 10), dt.date(2025, 5, 12)]


def test_no_action_before_the_provider_start():
    late = SyntheticProvider(start=dt.date(2024, 1, 2))
    found = late.corporate_actions("AAPL", dt.date(2015, 1, 1), dt.date(2024, 12, 31))
    assert found and min(a.ex_date for a in found) >= dt.date(2024, 1, 2)


@pytest.mark.parametrize(
    ("symbol", "ex_date", "ratio"), [(s, d, k) for s, r in SPLITS.items() for d, k in r]
)
def test_raw_close_falls_by_the_split_ratio_on_the_ex_date(
    provider: SyntheticProvider, symbol: str, ex_date: dt.date, ratio: Decimal
):
    series = closes(
        provider, symbol, ex_date - dt.timedelta(days=45), ex_date + dt.timedelta(days=45)
    )
    returns = series.pct_change().dropna()
    raw_move = float(returns.loc[ex_date])
    k = float(ratio)
    # The raw return on E is 1/k times the day's return: -75 % give or take a normal day.
    assert (1.0 + raw_move) * k == pytest.approx(1.0, abs=0.12)
    # Dividing the closes before E by k (C19) leaves no jump at all.
    adjusted = series.where(series.index >= ex_date, series / k).pct_change().dropna()
    assert adjusted.abs().max() < 0.12
    others = returns.drop(ex_date)
    assert others.abs().max() < 0.12


@pytest.mark.parametrize("symbol", sorted(DIVIDENDS))
def test_dividends_are_a_quarter_of_the_yield_of_the_close_before_the_ex_date(
    provider: SyntheticProvider, symbol: str
):
    annual = DIVIDENDS[symbol][0]
    series = closes(provider, symbol, dt.date(2015, 1, 2), dt.date(2026, 12, 2))
    dividends = provider.corporate_actions(symbol, dt.date(2015, 2, 1), dt.date(2026, 12, 2))
    dividends = [a for a in dividends if a.kind == "cash_dividend"]
    assert len(dividends) >= 46
    position = {day: i for i, day in enumerate(series.index)}
    for action in dividends:
        before = float(series.iloc[position[action.ex_date] - 1])
        # Cents, from the unrounded close: within half a cent plus the close's rounding.
        assert float(action.value) == pytest.approx(annual / 4 * before, abs=0.0051)


def test_dividends_leave_the_total_return_series_smooth(provider: SyntheticProvider):
    # JNJ pays 0.75 % a quarter: the C20 factor (P - d) / P turns the raw closes into a
    # total-return series whose ex-date returns look like any other day's.
    series = closes(provider, "JNJ", dt.date(2020, 1, 2), dt.date(2026, 12, 2))
    factor = pd.Series(1.0, index=series.index)
    for action in provider.corporate_actions("JNJ", dt.date(2020, 1, 3), dt.date(2026, 12, 2)):
        before = series.index < action.ex_date
        previous = float(series[before].iloc[-1])
        factor[before] *= (previous - float(action.value)) / previous
    raw = np.log(series).diff().dropna()
    total = np.log(series * factor).diff().dropna()
    ex_dates = [
        a.ex_date
        for a in provider.corporate_actions("JNJ", dt.date(2020, 1, 3), dt.date(2026, 12, 2))
    ]
    # On ex-dates the raw log return is lower by about the quarterly yield; adjusted, not.
    shortfall = (total.loc[ex_dates] - raw.loc[ex_dates]).mean()
    assert shortfall == pytest.approx(-math.log(1 - 0.03 / 4), rel=0.05)
    np.testing.assert_allclose(total.drop(ex_dates), raw.drop(ex_dates), rtol=0, atol=1e-12)
