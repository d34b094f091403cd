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

#: Plausible price level per demo symbol and factor ETF; sizes positions and picks strikes.
REFERENCE_PRICES: dict[str, float] = {
    # stocks
    "AAPL": 230.0,
    "MSFT": 480.0,
    "AMZN": 220.0,
    "GOOGL": 190.0,
    "TSLA": 330.0,
    "NVDA": 170.0,
    "JNJ": 160.0,
    "JPM": 280.0,
    "V": 340.0,
    "BRK-B": 480.0,
    "META": 700.0,
    "UNH": 300.0,
    "HD": 390.0,
    "PG": 155.0,
    "AMD": 160.0,
    "NFLX": 1200.0,
    "SHOP": 140.0,
    "ZM": 80.0,
    "PTON": 7.0,
    "ROKU": 90.0,
    "XOM": 110.0,
    "F": 11.0,
    "GE": 250.0,
    "C": 95.0,
    # mutual funds
    "FXNAX": 10.6,
    "FCNTX": 21.0,
    "FMAGX": 15.0,
    "VTIAX": 38.0,
    # ETFs (and ETNs)
    "SPY": 640.0,
    "QQQ": 570.0,
    "IWM": 230.0,
    "VTI": 315.0,
    "BND": 73.0,
    "VNQ": 90.0,
    "GLD": 310.0,
    "DJP": 34.0,
    # factor ETFs not listed above
    "VTV": 180.0,
    "VUG": 450.0,
    "MTUM": 240.0,
    "QUAL": 185.0,
    "USMV": 95.0,
}

_STOCK = "stock"
_ETF = "etf"
_FUND = "mutual_fund"

#: Security master for every demo symbol: (asset_type, name, sector, industry, market_cap).
_SECURITY_ROWS: dict[str, tuple[str, str, str, str, float | None]] = {
    "AAPL": (_STOCK, "Apple Inc.", "Technology", "Consumer Electronics", 3.4e12),
    "MSFT": (_STOCK, "Microsoft Corporation", "Technology", "Software - Infrastructure", 3.6e12),
    "AMZN": (_STOCK, "Amazon.com, Inc.", "Consumer Cyclical", "Internet Retail", 2.3e12),
    "GOOGL": (
        _STOCK,
        "Alphabet Inc. Class A",
        "Communication Services",
        "Internet Content & Information",
        2.3e12,
    ),
    "TSLA": (_STOCK, "Tesla, Inc.", "Consumer Cyclical", "Auto Manufacturers", 1.1e12),
    "NVDA": (_STOCK, "NVIDIA Corporation", "Technology", "Semiconductors", 4.1e12),
    "JNJ": (_STOCK, "Johnson & Johnson", "Healthcare", "Drug Manufacturers - General", 3.9e11),
    "JPM": (
        _STOCK,
        "JPMorgan Chase & Co.",
        "Financial Services",
        "Banks - Diversified",
        7.8e11,
    ),
    "V": (_STOCK, "Visa Inc.", "Financial Services", "Credit Services", 6.6e11),
    "BRK-B": (
        _STOCK,
        "Berkshire Hathaway Inc. Class B",
        "Financial Services",
        "Insurance - Diversified",
        1.04e12,
    ),
    "META": (
        _STOCK,
        "Meta Platforms, Inc.",
        "Communication Services",
        "Internet Content & Information",
        1.76e12,
    ),
    "UNH": (_STOCK, "UnitedHealth Group Incorporated", "Healthcare", "Healthcare Plans", 2.7e11),
    "HD": (
        _STOCK,
        "The Home Depot, Inc.",
        "Consumer Cyclical",
        "Home Improvement Retail",
        3.9e11,
    ),
    "PG": (
        _STOCK,
        "The Procter & Gamble Company",
        "Consumer Defensive",
        "Household & Personal Products",
        3.6e11,
    ),
    "AMD": (_STOCK, "Advanced Micro Devices, Inc.", "Technology", "Semiconductors", 2.6e11),
    "NFLX": (_STOCK, "Netflix, Inc.", "Communication Services", "Entertainment", 5.1e11),
    "SHOP": (_STOCK, "Shopify Inc.", "Technology", "Software - Application", 1.8e11),
    "ZM": (
        _STOCK,
        "Zoom Communications, Inc.",
        "Technology",
        "Software - Application",
        2.4e10,
    ),
    "PTON": (_STOCK, "Peloton Interactive, Inc.", "Consumer Cyclical", "Leisure", 2.8e9),
    "ROKU": (_STOCK, "Roku, Inc.", "Communication Services", "Entertainment", 1.3e10),
    "XOM": (_STOCK, "Exxon Mobil Corporation", "Energy", "Oil & Gas Integrated", 4.7e11),
    "F": (_STOCK, "Ford Motor Company", "Consumer Cyclical", "Auto Manufacturers", 4.4e10),
    "GE": (_STOCK, "GE Aerospace", "Industrials", "Aerospace & Defense", 2.7e11),
    "C": (_STOCK, "Citigroup Inc.", "Financial Services", "Banks - Diversified", 1.8e11),
    "FXNAX": (
        _FUND,
        "Fidelity U.S. Bond Index Fund",
        "Fixed Income",
        "Intermediate Core Bond",
        None,
    ),
    "FCNTX": (_FUND, "Fidelity Contrafund", "Equity", "Large Growth", None),
    "FMAGX": (_FUND, "Fidelity Magellan Fund", "Equity", "Large Growth", None),
    "VTIAX": (
        _FUND,
        "Vanguard Total International Stock Index Fund Admiral Shares",
        "Equity",
        "Foreign Large Blend",
        None,
    ),
    "SPY": (_ETF, "SPDR S&P 500 ETF Trust", "Equity", "Large Blend", None),
    "QQQ": (_ETF, "Invesco QQQ Trust", "Equity", "Large Growth", None),
    "IWM": (_ETF, "iShares Russell 2000 ETF", "Equity", "Small Blend", None),
    "VTI": (_ETF, "Vanguard Total Stock Market ETF", "Equity", "Large Blend", None),
    "BND": (
        _ETF,
        "Vanguard Total Bond Market ETF",
        "Fixed Income",
        "Intermediate Core Bond",
        None,
    ),
    "VNQ": (_ETF, "Vanguard Real Estate ETF", "Real Estate", "Real Estate", None),
    "GLD": (_ETF, "SPDR Gold Shares", "Commodities", "Commodities Focused", None),
    "DJP": (
        _ETF,
        "iPath Bloomberg Commodity Index Total Return ETN",
        "Commodities",
        "Commodities Broad Basket",
        None,
    ),
    "VTV": (_ETF, "Vanguard Value ETF", "Equity", "Large Value", None),
    "VUG": (_ETF, "Vanguard Growth ETF", "Equity", "Large Growth", None),
    "MTUM": (_ETF, "iShares MSCI USA Momentum Factor ETF", "Equity", "Large Growth", None),
    "QUAL": (_ETF, "iShares MSCI USA Quality Factor ETF", "Equity", "Large Blend", None),
    "USMV": (_ETF, "iShares MSCI USA Min Vol Factor ETF", "Equity", "Large Blend", None),
}

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


def security_master() -> dict[str, SecuritySpec]:
    """Every demo security by symbol (holdings, option underlyings and factor ETFs)."""
    return {
        symbol: SecuritySpec(
            symbol=symbol,
            asset_type=asset_type,
            name=name,
            sector=sector,
            industry=industry,
            market_cap=cap,
        )
        for symbol, (asset_type, name, sector, industry, cap) in _SECURITY_ROWS.items()
    }


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
