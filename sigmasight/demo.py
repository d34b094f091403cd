"""Demo seed data: the original's three users and portfolios as a :class:`Bundle`.

Pure functions, no database access; the seed command upserts the bundle through the same
code as ``sigmasight import portfolios``. The books follow the original's
``seed_demo_portfolios.py`` (reference section 7) with its data problems fixed: ZM instead
of "ZOOM", a long IWM call instead of the VIX call (VIX is an index), and option expiries
that always lie 2 to 6 months after the valuation date, so the demo options never expire.
Stock quantities are re-sized to :data:`REFERENCE_PRICES` so that the books are worth about
$485k, $2.85M and $3.2M; option contract counts are the original's.
"""

import datetime as dt
from decimal import Decimal

from sigmasight.domain import (
    DEFAULT_FACTORS,
    Bundle,
    OptionRight,
    OptionSpec,
    PortfolioSpec,
    PositionSpec,
    SecuritySpec,
    UserSpec,
    occ_ticker,
)
from sigmasight.reference_data import REFERENCE_PRICES, security_master
from sigmasight.stress_library import BUILTIN_SCENARIOS

#: The original's password for all three demo logins.
DEMO_PASSWORD = "demo12345"

DEMO_INDIVIDUAL_EMAIL = "demo_individual@sigmasight.com"
DEMO_HNW_EMAIL = "demo_hnw@sigmasight.com"
DEMO_HEDGE_FUND_EMAIL = "demo_hedgefundstyle@sigmasight.com"

#: The demo logins as (email, full name) pairs.
DEMO_USERS: tuple[tuple[str, str], ...] = (
    (DEMO_INDIVIDUAL_EMAIL, "Demo Individual Investor"),
    (DEMO_HNW_EMAIL, "Demo High Net Worth Investor"),
    (DEMO_HEDGE_FUND_EMAIL, "Demo Hedge Fund Style Investor"),
)

#: Risk-free rate (annual, continuously compounded) used for option pricing in the demo.
DEMO_RISK_FREE_RATE = 0.043

# Books as (symbol, signed quantity); option legs are in _HEDGE_FUND_OPTIONS.
_INDIVIDUAL_BOOK: tuple[tuple[str, int], ...] = (
    ("AAPL", 85),
    ("MSFT", 40),
    ("AMZN", 90),
    ("GOOGL", 100),
    ("TSLA", 55),
    ("NVDA", 115),
    ("JNJ", 120),
    ("JPM", 70),
    ("V", 55),
    ("FXNAX", 4000),
    ("FCNTX", 2200),
    ("FMAGX", 2800),
    ("VTIAX", 1100),
    ("VTI", 230),
    ("BND", 400),
    ("VNQ", 300),
)

_HNW_BOOK: tuple[tuple[str, int], ...] = (
    ("SPY", 400),
    ("QQQ", 450),
    ("AAPL", 700),
    ("MSFT", 350),
    ("AMZN", 770),
    ("GOOGL", 880),
    ("BRK-B", 350),
    ("JPM", 600),
    ("JNJ", 1000),
    ("NVDA", 950),
    ("META", 240),
    ("UNH", 560),
    ("V", 500),
    ("HD", 430),
    ("PG", 1000),
    ("GLD", 325),
    ("DJP", 1900),
)

_HEDGE_FUND_BOOK: tuple[tuple[str, int], ...] = (
    # longs ("Long Momentum")
    ("NVDA", 2000),
    ("MSFT", 700),
    ("AAPL", 1500),
    ("GOOGL", 1600),
    ("META", 400),
    ("AMZN", 1400),
    ("TSLA", 800),
    ("AMD", 1800),
    ("BRK-B", 600),
    ("JPM", 1000),
    ("JNJ", 1700),
    ("UNH", 900),
    ("V", 850),
    # shorts ("Short Value Traps")
    ("NFLX", -150),
    ("SHOP", -1200),
    ("ZM", -2000),
    ("PTON", -20000),
    ("ROKU", -1800),
    ("XOM", -1500),
    ("F", -10000),
    ("GE", -600),
    ("C", -1700),
)

# Option legs ("Options Overlay"): underlying, right, contracts, strike as a multiple of the
# reference price, expiry in months after as_of's month, implied vol, dividend yield.
_HEDGE_FUND_OPTIONS: tuple[tuple[str, OptionRight, int, float, int, float, float], ...] = (
    # Contract counts are a tenth of the original's, whose overlay alone was several times
    # the book's NAV in delta terms.
    ("SPY", "call", 20, 1.03, 3, 0.18, 0.0125),
    ("QQQ", "call", 15, 1.04, 2, 0.22, 0.006),
    ("IWM", "call", 30, 1.05, 2, 0.24, 0.011),
    ("NVDA", "call", 5, 1.08, 4, 0.50, 0.0003),
    ("AAPL", "put", -10, 0.92, 2, 0.27, 0.0045),
    ("MSFT", "put", -8, 0.93, 3, 0.25, 0.007),
    ("TSLA", "call", -6, 1.08, 2, 0.55, 0.0),
    ("META", "put", -5, 0.92, 6, 0.35, 0.003),
)

_CASH_INDIVIDUAL = Decimal("12500.00")
_CASH_HNW = Decimal("25000.00")
_CASH_HEDGE_FUND = Decimal("730000.00")


def third_friday(year: int, month: int) -> dt.date:
    """Third Friday of ``month`` in ``year``, the standard monthly option expiry."""
    first = dt.date(year, month, 1)
    first_friday = 1 + (4 - first.weekday()) % 7
    return dt.date(year, month, first_friday + 14)


def _expiry(as_of: dt.date, months_ahead: int) -> dt.date:
    """Third Friday of the month ``months_ahead`` months after the month of ``as_of``."""
    index = as_of.year * 12 + (as_of.month - 1) + months_ahead
    return third_friday(index // 12, index % 12 + 1)


def _spot(underlying: str, as_of: dt.date) -> float:
    """The underlying's synthetic close on (or just before) ``as_of``, else its reference price.

    The demo runs on the synthetic provider, whose prices drift away from the reference
    levels, so strikes are set from the price the run will actually see.
    """
    from sigmasight.providers.synthetic import SyntheticProvider

    bars = SyntheticProvider().daily_bars(underlying, as_of - dt.timedelta(days=10), as_of)
    return float(bars["close"].iloc[-1]) if not bars.empty else REFERENCE_PRICES[underlying]


def _strike(underlying: str, moneyness: float, as_of: dt.date) -> Decimal:
    """Strike near ``moneyness`` x the spot on ``as_of``, on a 5 (above 100) or 1 increment."""
    spot = _spot(underlying, as_of)
    increment = 5 if spot > 100 else 1
    return Decimal(max(round(spot * moneyness / increment), 1) * increment)


def _positions(book: tuple[tuple[str, int], ...]) -> tuple[PositionSpec, ...]:
    """Stock, ETF and fund positions from (symbol, quantity) rows."""
    return tuple(PositionSpec(symbol=symbol, quantity=Decimal(qty)) for symbol, qty in book)


def _option_positions(as_of: dt.date) -> tuple[PositionSpec, ...]:
    """The hedge fund's option legs, with expiries 2 to 6 months after ``as_of``."""
    legs = []
    for underlying, right, contracts, moneyness, months, vol, div in _HEDGE_FUND_OPTIONS:
        option = OptionSpec(
            underlying=underlying,
            right=right,
            strike=_strike(underlying, moneyness, as_of),
            expiry=_expiry(as_of, months),
            multiplier=100,
            implied_vol=vol,
            dividend_yield=div,
        )
        symbol = occ_ticker(underlying, option.expiry, right, option.strike)
        legs.append(PositionSpec(symbol=symbol, quantity=Decimal(contracts), option=option))
    return tuple(legs)


def demo_users(password_hash: str | None) -> tuple[UserSpec, ...]:
    """The three demo logins, all with ``password_hash`` (the hash of :data:`DEMO_PASSWORD`)."""
    return tuple(
        UserSpec(email=email, full_name=name, password_hash=password_hash)
        for email, name in DEMO_USERS
    )


def demo_portfolios(as_of: dt.date) -> tuple[PortfolioSpec, ...]:
    """The three demo portfolios; option expiries are relative to ``as_of``."""
    return (
        PortfolioSpec(
            external_id="DEMO_INDIVIDUAL",
            name="Demo Individual Investor Portfolio",
            owner_email=DEMO_INDIVIDUAL_EMAIL,
            cash=_CASH_INDIVIDUAL,
            positions=_positions(_INDIVIDUAL_BOOK),
        ),
        PortfolioSpec(
            external_id="DEMO_HNW",
            name="Demo High Net Worth Investor Portfolio",
            owner_email=DEMO_HNW_EMAIL,
            cash=_CASH_HNW,
            positions=_positions(_HNW_BOOK),
        ),
        PortfolioSpec(
            external_id="DEMO_HEDGE_FUND",
            name="Demo Hedge Fund Style Investor Portfolio",
            owner_email=DEMO_HEDGE_FUND_EMAIL,
            cash=_CASH_HEDGE_FUND,
            positions=_positions(_HEDGE_FUND_BOOK) + _option_positions(as_of),
        ),
    )


def demo_securities(portfolios: tuple[PortfolioSpec, ...]) -> tuple[SecuritySpec, ...]:
    """Security-master entries for every non-option symbol held, option underlying and factor ETF."""
    symbols = set(DEFAULT_FACTORS)
    for portfolio in portfolios:
        for position in portfolio.positions:
            symbols.add(position.option.underlying if position.option else position.symbol)
    master = security_master()
    return tuple(master[symbol] for symbol in sorted(symbols))


def demo_bundle(as_of: dt.date) -> Bundle:
    """The demo seed as a bundle valued on ``as_of``; equal inputs give equal bundles.

    Parameters
    ----------
    as_of : datetime.date
        Valuation date; every option expiry lies 2 to 6 months after it.

    Returns
    -------
    Bundle
        Three portfolios, the security master, the built-in scenarios and the default
        factors, benchmark SPY and a 4.3 % risk-free rate.
    """
    portfolios = demo_portfolios(as_of)
    return Bundle(
        portfolios=portfolios,
        valuation_date=as_of,
        risk_free_rate=DEMO_RISK_FREE_RATE,
        benchmark="SPY",
        factors=dict(DEFAULT_FACTORS),
        securities=demo_securities(portfolios),
        scenarios=BUILTIN_SCENARIOS,
    )
