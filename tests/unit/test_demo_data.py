"""Demo seed data and the built-in stress library (no database)."""

import dataclasses
import datetime as dt
import math
from collections import Counter
from decimal import Decimal

import pytest

from models.portfolio import PositionType
from sigmasight.demo import (
    DEMO_HISTORY_SESSIONS,
    DEMO_PASSWORD,
    DEMO_USERS,
    DemoSeed,
    demo_backfill_years,
    demo_bundle,
    demo_history_range,
    demo_seed,
    demo_sessions,
    demo_users,
    third_friday,
)
from sigmasight.domain import (
    DEFAULT_FACTORS,
    Bundle,
    InputError,
    OccParts,
    PortfolioSpec,
    ScenarioSpec,
    parse_occ,
)
from sigmasight.providers.synthetic import SyntheticProvider
from sigmasight.reference_data import REFERENCE_PRICES
from sigmasight.stress_library import BUILTIN_SCENARIOS, CATEGORIES, SEVERITIES, validate_scenario
from sigmasight.trading_calendar import sessions

AS_OF = dt.date(2025, 6, 30)

AS_OF_DATES = [
    dt.date(2025, 1, 2),
    dt.date(2025, 1, 31),  # month-end
    dt.date(2025, 6, 30),  # month-end
    dt.date(2024, 2, 29),  # leap day
    dt.date(2025, 10, 31),  # expiries roll into next year
    dt.date(2025, 12, 1),  # December
    dt.date(2025, 12, 31),  # December month-end
]

EXPECTED_SIZE = {
    "DEMO_INDIVIDUAL": (485_000.0, 16),
    "DEMO_HNW": (2_850_000.0, 17),
    "DEMO_HEDGE_FUND": (3_200_000.0, 30),
}


def _portfolio(bundle: Bundle, external_id: str) -> PortfolioSpec:
    return next(p for p in bundle.portfolios if p.external_id == external_id)


def _scenario(name: str) -> ScenarioSpec:
    return next(s for s in BUILTIN_SCENARIOS if s.name == name)


# --- stress library ---------------------------------------------------------------------


def test_library_has_18_scenarios_in_5_categories() -> None:
    assert len(BUILTIN_SCENARIOS) == 18
    assert len({s.name for s in BUILTIN_SCENARIOS}) == 18
    counts = Counter(s.category for s in BUILTIN_SCENARIOS)
    assert counts == {"market": 4, "rates": 5, "rotation": 4, "volatility": 2, "historical": 3}
    assert set(counts) == set(CATEGORIES)


@pytest.mark.parametrize("scenario", BUILTIN_SCENARIOS, ids=lambda s: s.name)
def test_builtin_scenario_is_valid(scenario: ScenarioSpec) -> None:
    validate_scenario(scenario, DEFAULT_FACTORS)
    assert list(scenario.shocks) == list(DEFAULT_FACTORS)
    assert scenario.severity in SEVERITIES
    assert scenario.description
    assert scenario.description.endswith(".")


def test_rate_scenarios_shock_only_the_yield() -> None:
    rate_moves = {s.name: s.rate_shock_pp for s in BUILTIN_SCENARIOS if s.category == "rates"}
    assert rate_moves == {
        "rates_up_25bp": 0.25,
        "rates_down_25bp": -0.25,
        "rates_up_100bp": 1.0,
        "rates_down_100bp": -1.0,
        "rate_spike_300bp": 3.0,
    }
    for scenario in BUILTIN_SCENARIOS:
        if scenario.category == "rates":
            assert all(v == 0.0 for v in scenario.shocks.values())
        else:
            assert scenario.rate_shock_pp == 0.0
            assert any(v != 0.0 for v in scenario.shocks.values())


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("market_crash_35", {"SPY": -0.35}),
        ("value_rotation_20", {"VTV": 0.20, "VUG": -0.10}),
        ("small_cap_outperformance_10", {"IWM": 0.10}),
        ("liquidity_crisis", {"SPY": -0.20, "USMV": -0.30, "QUAL": 0.15, "IWM": -0.10}),
        (
            "dotcom_crash_2000",
            {"SPY": -0.45, "VUG": -0.60, "VTV": 0.20, "MTUM": -0.50, "QUAL": 0.15},
        ),
    ],
)
def test_scenario_shocks_match_the_original(name: str, expected: dict[str, float]) -> None:
    shocks = _scenario(name).shocks
    assert {k: v for k, v in shocks.items() if v != 0.0} == pytest.approx(expected)


def test_validate_scenario_rejects_missing_factor() -> None:
    base = _scenario("market_crash_35")
    shocks = {k: v for k, v in base.shocks.items() if k != "QUAL"}
    spec = dataclasses.replace(base, shocks=shocks)
    with pytest.raises(InputError, match=r"market_crash_35.*QUAL"):
        validate_scenario(spec, DEFAULT_FACTORS)


def test_validate_scenario_rejects_unknown_factor() -> None:
    base = _scenario("market_crash_35")
    spec = dataclasses.replace(base, shocks={**base.shocks, "SIZE": -0.1})
    with pytest.raises(InputError, match=r"market_crash_35.*SIZE"):
        validate_scenario(spec, DEFAULT_FACTORS)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0, -1.5])
def test_validate_scenario_rejects_impossible_shock(bad: float) -> None:
    base = _scenario("market_up_10")
    spec = dataclasses.replace(base, shocks={**base.shocks, "MTUM": bad})
    with pytest.raises(InputError, match=r"market_up_10.*MTUM"):
        validate_scenario(spec, DEFAULT_FACTORS)


def test_validate_scenario_accepts_other_factor_set() -> None:
    spec = ScenarioSpec(name="custom", category="market", shocks={"SPY": -0.1, "TLT": 0.05})
    validate_scenario(spec, ["SPY", "TLT"])
    with pytest.raises(InputError, match=r"custom.*VTV"):
        validate_scenario(spec, DEFAULT_FACTORS)


# --- demo bundle ------------------------------------------------------------------------


def test_demo_bundle_is_deterministic() -> None:
    assert demo_bundle(AS_OF) == demo_bundle(AS_OF)
    assert demo_bundle(AS_OF) != demo_bundle(dt.date(2025, 9, 30))


def test_demo_bundle_header() -> None:
    bundle = demo_bundle(AS_OF)
    assert bundle.valuation_date == AS_OF
    assert bundle.benchmark == "SPY"
    assert bundle.risk_free_rate == pytest.approx(0.043)
    assert bundle.factors == DEFAULT_FACTORS
    assert bundle.scenarios == BUILTIN_SCENARIOS


def test_demo_users_own_the_portfolios() -> None:
    emails = {email for email, _ in DEMO_USERS}
    assert emails == {
        "demo_individual@sigmasight.com",
        "demo_hnw@sigmasight.com",
        "demo_hedgefundstyle@sigmasight.com",
    }
    assert all(name for _, name in DEMO_USERS)
    assert {p.owner_email for p in demo_bundle(AS_OF).portfolios} == emails
    assert DEMO_PASSWORD == "demo12345"
    users = demo_users("hash")
    assert [u.email for u in users] == [e for e, _ in DEMO_USERS]
    assert all(u.password_hash == "hash" for u in users)


@pytest.mark.parametrize("as_of", AS_OF_DATES, ids=str)
def test_option_expiries_are_future_third_fridays(as_of: dt.date) -> None:
    options = [
        p.option for p in _portfolio(demo_bundle(as_of), "DEMO_HEDGE_FUND").positions if p.option
    ]
    assert len(options) == 8
    for option in options:
        assert option.expiry > as_of
        assert option.expiry <= as_of + dt.timedelta(days=7 * 31)
        assert option.expiry.weekday() == 4
        assert 15 <= option.expiry.day <= 21


@pytest.mark.parametrize(
    ("year", "month", "expected"),
    [
        (2025, 8, dt.date(2025, 8, 15)),  # month starts on a Friday
        (2025, 9, dt.date(2025, 9, 19)),
        (2025, 11, dt.date(2025, 11, 21)),  # month starts on a Saturday
        (2026, 1, dt.date(2026, 1, 16)),
    ],
)
def test_third_friday(year: int, month: int, expected: dt.date) -> None:
    assert third_friday(year, month) == expected


def test_option_symbols_round_trip_through_parse_occ() -> None:
    for position in demo_bundle(AS_OF).portfolios[2].positions:
        if position.option is None:
            assert parse_occ(position.symbol) is None
            continue
        option = position.option
        assert parse_occ(position.symbol) == OccParts(
            option.underlying, option.expiry, option.right, option.strike
        )


def test_option_terms_are_plausible() -> None:
    book = _portfolio(demo_bundle(AS_OF), "DEMO_HEDGE_FUND")
    legs = {p.option.underlying: p for p in book.positions if p.option}
    assert set(legs) == {"SPY", "QQQ", "IWM", "NVDA", "AAPL", "MSFT", "META", "TSLA"}
    contracts = {u: int(p.quantity) for u, p in legs.items()}
    # A tenth of the original's contract counts (its overlay dwarfed the book).
    assert contracts == {
        "SPY": 20,
        "QQQ": 15,
        "IWM": 30,
        "NVDA": 5,
        "AAPL": -10,
        "MSFT": -8,
        "TSLA": -6,
        "META": -5,
    }
    for underlying, position in legs.items():
        option = position.option
        assert option is not None
        assert isinstance(option.strike, Decimal)
        # Strikes are set near the synthetic spot the demo run will see on AS_OF.
        bars = SyntheticProvider().daily_bars(underlying, AS_OF - dt.timedelta(days=10), AS_OF)
        spot = float(bars["close"].iloc[-1])
        assert abs(float(option.strike) / spot - 1.0) <= 0.10
        increment = 5 if spot > 100 else 1
        assert option.strike % increment == 0
        assert option.multiplier == 100
        assert option.implied_vol is not None
        assert 0.1 <= option.implied_vol <= 0.6
        assert option.dividend_yield is not None
        assert 0.0 <= option.dividend_yield <= 0.02
    assert legs["SPY"].option is not None
    assert legs["SPY"].option.dividend_yield == pytest.approx(0.0125)


def test_option_position_types() -> None:
    book = _portfolio(demo_bundle(AS_OF), "DEMO_HEDGE_FUND")
    types = {p.option.underlying: p.position_type for p in book.positions if p.option}
    assert types == {
        "SPY": PositionType.LC,
        "QQQ": PositionType.LC,
        "IWM": PositionType.LC,
        "NVDA": PositionType.LC,
        "AAPL": PositionType.SP,
        "MSFT": PositionType.SP,
        "META": PositionType.SP,
        "TSLA": PositionType.SC,
    }
    for position in book.positions:
        if position.option is not None and position.quantity < 0:
            assert position.position_type in {PositionType.SC, PositionType.SP}


@pytest.mark.parametrize("external_id", list(EXPECTED_SIZE))
def test_portfolio_size_and_count_close_to_original(external_id: str) -> None:
    portfolio = _portfolio(demo_bundle(AS_OF), external_id)
    target_nav, target_count = EXPECTED_SIZE[external_id]
    assert len(portfolio.positions) == target_count
    nav = float(portfolio.cash)
    for position in portfolio.positions:
        option = position.option
        if option is None:
            nav += float(position.quantity) * REFERENCE_PRICES[position.symbol]
        else:
            spot = REFERENCE_PRICES[option.underlying]
            strike = float(option.strike)
            intrinsic = (
                max(spot - strike, 0.0) if option.right == "call" else max(strike - spot, 0.0)
            )
            nav += float(position.quantity) * option.multiplier * intrinsic
    assert nav == pytest.approx(target_nav, rel=0.15)
    assert portfolio.cash > 0


def test_individual_book_shape() -> None:
    portfolio = _portfolio(demo_bundle(AS_OF), "DEMO_INDIVIDUAL")
    assets = {s.symbol: s.asset_type for s in demo_bundle(AS_OF).securities}
    held = Counter(assets[p.symbol] for p in portfolio.positions)
    assert held == {"stock": 9, "mutual_fund": 4, "etf": 3}
    assert {p.symbol for p in portfolio.positions} >= {"FXNAX", "FCNTX", "FMAGX", "VTIAX"}
    assert {p.symbol for p in portfolio.positions} >= {"VTI", "BND", "VNQ"}


def test_hnw_book_shape() -> None:
    symbols = {p.symbol for p in _portfolio(demo_bundle(AS_OF), "DEMO_HNW").positions}
    assert {"SPY", "QQQ", "BRK-B", "GLD", "DJP"} <= symbols


def test_hedge_fund_longs_and_shorts() -> None:
    book = _portfolio(demo_bundle(AS_OF), "DEMO_HEDGE_FUND")
    stocks = [p for p in book.positions if p.option is None]
    longs = [p for p in stocks if p.quantity > 0]
    shorts = [p for p in stocks if p.quantity < 0]
    assert len(longs) == 13
    assert len(shorts) == 9
    short_symbols = {p.symbol for p in shorts}
    assert "ZM" in short_symbols
    assert "ZOOM" not in short_symbols
    assert all(p.position_type is PositionType.SHORT for p in shorts)
    assert all(p.position_type is PositionType.LONG for p in longs)


def test_quantities_are_decimal_and_nonzero() -> None:
    for portfolio in demo_bundle(AS_OF).portfolios:
        assert isinstance(portfolio.cash, Decimal)
        for position in portfolio.positions:
            assert isinstance(position.quantity, Decimal)
            assert position.quantity != 0


def test_every_held_symbol_has_a_security_and_price() -> None:
    bundle = demo_bundle(AS_OF)
    securities = {s.symbol: s for s in bundle.securities}
    assert len(securities) == len(bundle.securities)
    assert set(DEFAULT_FACTORS) <= set(securities)
    for portfolio in bundle.portfolios:
        for position in portfolio.positions:
            symbol = position.option.underlying if position.option else position.symbol
            assert symbol in securities
            assert symbol in REFERENCE_PRICES
    assert set(securities) <= set(REFERENCE_PRICES)
    for security in securities.values():
        assert security.asset_type in {"stock", "etf", "mutual_fund"}
        assert security.name
        assert security.sector
        assert security.industry
        if security.asset_type == "stock":
            assert security.market_cap is not None
            assert security.market_cap > 1e9
    assert all(price > 0 for price in REFERENCE_PRICES.values())


# --- demo history ----------------------------------------------------------------------

HISTORY_AS_OF = dt.date(2026, 11, 25)


def _bs_value(
    spot: float, strike: float, years: float, rate: float, q: float, vol: float, call: bool
) -> float:
    """Black-Scholes-Merton price per share, written out independently of sigmasight.risk."""

    def n(x: float) -> float:
        return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))

    d1 = (math.log(spot / strike) + (rate - q + 0.5 * vol * vol) * years) / (vol * math.sqrt(years))
    d2 = d1 - vol * math.sqrt(years)
    if call:
        return spot * math.exp(-q * years) * n(d1) - strike * math.exp(-rate * years) * n(d2)
    return strike * math.exp(-rate * years) * n(-d2) - spot * math.exp(-q * years) * n(-d1)


def _close(symbol: str, day: dt.date) -> float:
    bars = SyntheticProvider().daily_bars(symbol, day, day)
    assert list(bars["date"]) == [day]
    return float(bars["close"].iloc[0])


@pytest.fixture(scope="module")
def seeded() -> DemoSeed:
    return demo_seed(HISTORY_AS_OF, history=True)


def test_history_seed_is_deterministic_and_the_plain_bundle_unchanged(seeded: DemoSeed) -> None:
    assert demo_seed(HISTORY_AS_OF, history=True) == seeded
    plain = demo_seed(HISTORY_AS_OF)
    assert plain.bundle == demo_bundle(HISTORY_AS_OF)
    assert plain.trades == () and plain.cash_flows == ()
    assert plain.bundle.valuation_date == HISTORY_AS_OF
    assert all(p.entry_price is None for f in plain.bundle.portfolios for p in f.positions)


def test_history_books_are_dated_on_the_first_of_60_sessions(seeded: DemoSeed) -> None:
    days = sessions(HISTORY_AS_OF - dt.timedelta(days=120), HISTORY_AS_OF)[-60:]
    assert DEMO_HISTORY_SESSIONS == 60
    assert demo_sessions(HISTORY_AS_OF) == days
    assert seeded.bundle.valuation_date == days[0]
    assert demo_history_range(HISTORY_AS_OF) == (days[0], days[-2])
    # Same holdings as the plain books, bought at the book date's close.
    plain = demo_bundle(HISTORY_AS_OF)
    for with_history, without in zip(seeded.bundle.portfolios, plain.portfolios, strict=True):
        assert [(p.symbol[:6], p.quantity) for p in with_history.positions] == [
            (p.symbol[:6], p.quantity) for p in without.positions
        ]
        assert with_history.cash == without.cash
        for position in with_history.positions:
            assert position.entry_date == days[0]
            assert position.entry_price is not None
            if position.option is None:
                expected = _close(position.symbol, days[0])
                assert float(position.entry_price) == pytest.approx(expected, abs=5e-5)


def test_history_option_legs_are_struck_and_costed_on_the_book_date(seeded: DemoSeed) -> None:
    book_date = seeded.bundle.valuation_date
    assert book_date is not None
    book = _portfolio(seeded.bundle, "DEMO_HEDGE_FUND")
    legs = [p for p in book.positions if p.option is not None]
    assert len(legs) == 8
    for leg in legs:
        option = leg.option
        assert option is not None and option.implied_vol is not None
        spot = _close(option.underlying, book_date)
        assert abs(float(option.strike) / spot - 1.0) <= 0.10
        assert option.expiry > HISTORY_AS_OF  # no demo option expires inside the history
        years = (option.expiry - book_date).days / 365
        expected = _bs_value(
            spot,
            float(option.strike),
            years,
            0.043,
            option.dividend_yield or 0.0,
            option.implied_vol,
            option.right == "call",
        )
        assert leg.entry_price is not None
        assert float(leg.entry_price) == pytest.approx(expected, abs=0.005)


def test_history_trades_are_realistic(seeded: DemoSeed) -> None:
    days = demo_sessions(HISTORY_AS_OF)
    books = {
        p.external_id: {q.symbol: q.quantity for q in p.positions} for p in seeded.bundle.portfolios
    }
    kinds: dict[str, set[str]] = {ext: set() for ext in books}
    for trade in seeded.trades:
        assert days[0] < trade.trade_date < HISTORY_AS_OF
        assert trade.trade_date in days
        assert trade.trade_id is not None and trade.trade_date.isoformat() in trade.trade_id
        assert trade.fees > 0
        held = books[trade.portfolio].get(trade.symbol, Decimal(0))
        if trade.option is not None:
            option = trade.option
            assert trade.symbol.startswith("O:") and option.expiry > HISTORY_AS_OF
            spot = _close(option.underlying, trade.trade_date)
            years = (option.expiry - trade.trade_date).days / 365
            expected = _bs_value(
                spot,
                float(option.strike),
                years,
                0.043,
                option.dividend_yield or 0.0,
                option.implied_vol or 0.0,
                option.right == "call",
            )
            assert float(trade.price) == pytest.approx(expected, abs=0.005)
            kinds[trade.portfolio].add("option")
        else:
            assert float(trade.price) == pytest.approx(
                _close(trade.symbol, trade.trade_date), abs=5e-5
            )
        if held == 0:
            kinds[trade.portfolio].add("new")
        elif (held > 0) == (trade.quantity > 0):
            kinds[trade.portfolio].add("add")
        else:
            assert abs(trade.quantity) < abs(held)  # trims or covers part, never flips
            kinds[trade.portfolio].add("reduce")
        books[trade.portfolio][trade.symbol] = held + trade.quantity
    for external_id, found in kinds.items():
        trades = [t for t in seeded.trades if t.portfolio == external_id]
        assert len(trades) >= 3
        assert len({t.trade_date for t in trades}) == len(trades)  # different dates
        assert {"add", "reduce"} <= found or {"new", "reduce"} <= found, (external_id, found)
    assert set().union(*kinds.values()) >= {"add", "reduce", "new", "option"}


def test_history_cash_flows_and_cash_stay_positive(seeded: DemoSeed) -> None:
    days = demo_sessions(HISTORY_AS_OF)
    amounts = sorted(float(f.amount) for f in seeded.cash_flows)
    assert amounts[0] < 0 < amounts[-1]  # a withdrawal and a deposit
    assert len({f.portfolio for f in seeded.cash_flows}) == len(seeded.cash_flows)
    for portfolio in seeded.bundle.portfolios:
        events: list[tuple[dt.date, Decimal]] = [
            (f.flow_date, f.amount)
            for f in seeded.cash_flows
            if f.portfolio == portfolio.external_id
        ]
        for t in seeded.trades:
            if t.portfolio == portfolio.external_id:
                units = t.option.multiplier if t.option else 1
                events.append((t.trade_date, -t.quantity * t.price * units - t.fees))
        cash = portfolio.cash
        for day, change in sorted(events, key=lambda e: e[0]):
            assert days[0] < day < HISTORY_AS_OF
            cash += change
            assert cash > 0, (portfolio.external_id, day, cash)


def test_history_securities_cover_every_traded_symbol(seeded: DemoSeed) -> None:
    securities = {s.symbol for s in seeded.bundle.securities}
    for trade in seeded.trades:
        assert (trade.option.underlying if trade.option else trade.symbol) in securities


@pytest.mark.parametrize("lookback", [60, 252, 504])
def test_backfill_covers_the_first_sessions_window(lookback: int) -> None:
    years = demo_backfill_years(HISTORY_AS_OF, lookback)
    first = demo_sessions(HISTORY_AS_OF)[0]
    window = sessions(first - dt.timedelta(days=3 * lookback), first)[-(lookback + 1) :]
    start = HISTORY_AS_OF.replace(year=HISTORY_AS_OF.year - years)
    assert start <= window[0]
    assert (
        HISTORY_AS_OF.replace(year=HISTORY_AS_OF.year - years + 1) > window[0]
    )  # no more than needed
