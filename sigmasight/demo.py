"""Demo seed data: the original's three users and portfolios as a :class:`Bundle`.

Pure functions, no database access; the seed command upserts the bundle through the same
code as ``sigmasight import portfolios``. The books follow the original's
``seed_demo_portfolios.py`` (reference section 7) with its data problems fixed: ZM instead
of "ZOOM", a long IWM call instead of the VIX call (VIX is an index), and option expiries
that always lie 2 to 6 months after the valuation date, so the demo options never expire.
Stock quantities are re-sized to :data:`REFERENCE_PRICES` so that the books are worth about
$485k, $2.85M and $3.2M; option contract counts are the original's.

With history (:func:`demo_seed` with ``history=True``, what ``sigmasight demo`` seeds) the
books are dated :data:`DEMO_HISTORY_SESSIONS` sessions back (the as-of included), each
position bought at that day's close, and a few trades and external cash flows follow on
fixed sessions of the window (:data:`DEMO_TRADES`, :data:`DEMO_CASH_FLOWS`): buying more of
one stock, trimming another, opening a new position, a protective put, a deposit and a
withdrawal. Every price is the synthetic provider's close on the day (an option's is its
Black-Scholes value), so the seed and the market the run sees agree.
"""

import bisect
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from sigmasight.domain import (
    DEFAULT_FACTORS,
    Bundle,
    CashFlowSpec,
    OptionRight,
    OptionSpec,
    PortfolioSpec,
    PositionSpec,
    SecuritySpec,
    TradeSpec,
    UserSpec,
    occ_ticker,
)
from sigmasight.market_data import backfill_start
from sigmasight.reference_data import REFERENCE_PRICES, security_master
from sigmasight.risk.options import bsm, year_fraction
from sigmasight.stress_library import BUILTIN_SCENARIOS
from sigmasight.trading_calendar import last_sessions, previous_trading_day

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

#: Sessions of demo history, the as-of included: the books are dated on the first of them.
DEMO_HISTORY_SESSIONS = 60

#: Trades of the history as (portfolio, session index, symbol, signed quantity). Index 0 is
#: the book date and ``DEMO_HISTORY_SESSIONS - 1`` the as-of. The new positions (META, AMD)
#: are symbols another demo book holds: the market-data universe comes from the books.
DEMO_TRADES: tuple[tuple[str, int, str, int], ...] = (
    ("DEMO_INDIVIDUAL", 9, "AAPL", 25),  # buys more
    ("DEMO_INDIVIDUAL", 23, "META", 35),  # a new position, paid for by the deposit
    ("DEMO_INDIVIDUAL", 41, "TSLA", -20),  # trims
    ("DEMO_HNW", 6, "JNJ", -600),  # trims, which also pays for the withdrawal
    ("DEMO_HNW", 18, "MSFT", 60),
    ("DEMO_HNW", 33, "AMD", 150),
    ("DEMO_HEDGE_FUND", 5, "NVDA", 300),
    ("DEMO_HEDGE_FUND", 16, "PTON", 5000),  # covers a quarter of the short
    ("DEMO_HEDGE_FUND", 38, "TSLA", -200),
)

#: The hedge fund's protective put, bought the session after its deposit: (underlying,
#: session index, contracts, strike as a multiple of the spot, expiry months after the
#: as-of's month, implied vol, dividend yield).
DEMO_OPTION_TRADE: tuple[str, int, int, float, int, float, float] = (
    "SPY",
    27,
    20,
    0.95,
    3,
    0.19,
    0.0125,
)

#: External cash flows as (portfolio, session index, amount): deposits +, withdrawals -.
DEMO_CASH_FLOWS: tuple[tuple[str, int, int], ...] = (
    ("DEMO_INDIVIDUAL", 22, 25_000),
    ("DEMO_HEDGE_FUND", 26, 250_000),
    ("DEMO_HNW", 47, -25_000),
)

_STOCK_FEE = Decimal("1.00")
_CONTRACT_FEE = Decimal("0.65")


@dataclass(frozen=True)
class DemoSeed:
    """What the demo seeds: the bundle (its books) and, with history, trades and flows."""

    bundle: Bundle
    trades: tuple[TradeSpec, ...] = ()
    cash_flows: tuple[CashFlowSpec, ...] = ()


def third_friday(year: int, month: int) -> dt.date:
    """Third Friday of ``month`` in ``year``, the standard monthly option expiry."""
    first = dt.date(year, month, 1)
    first_friday = 1 + (4 - first.weekday()) % 7
    return dt.date(year, month, first_friday + 14)


def _expiry(as_of: dt.date, months_ahead: int) -> dt.date:
    """Third Friday of the month ``months_ahead`` months after the month of ``as_of``."""
    index = as_of.year * 12 + (as_of.month - 1) + months_ahead
    return third_friday(index // 12, index % 12 + 1)


def demo_sessions(as_of: dt.date) -> list[dt.date]:
    """The demo history's sessions, oldest first: the book date, ..., ``as_of``."""
    return last_sessions(as_of, DEMO_HISTORY_SESSIONS)


def demo_history_range(as_of: dt.date) -> tuple[dt.date, dt.date]:
    """The sessions a history run computes before the nightly run of ``as_of`` (first, last)."""
    return demo_sessions(as_of)[0], previous_trading_day(as_of)


class _Closes:
    """The synthetic provider's closes of some symbols over a range, looked up by day.

    The demo runs on the synthetic provider, whose prices drift away from the reference
    levels, so strikes, costs and trade prices are set from the prices the run will see.
    """

    def __init__(self, symbols: Iterable[str], start: dt.date, end: dt.date) -> None:
        from sigmasight.providers.synthetic import SyntheticProvider

        bars = SyntheticProvider().bars_for(
            sorted(set(symbols)), start - dt.timedelta(days=10), end
        )
        self._series: dict[str, tuple[list[dt.date], list[float]]] = {
            str(symbol): (list(rows["date"]), [float(c) for c in rows["close"]])
            for symbol, rows in bars.groupby("symbol", sort=False)
        }

    def on(self, symbol: str, day: dt.date) -> float:
        """The close on (or just before) ``day``, else the reference price (no bar yet)."""
        dates, closes = self._series.get(symbol, ([], []))
        i = bisect.bisect_right(dates, day)
        return closes[i - 1] if i else REFERENCE_PRICES[symbol]


def _price(close: float) -> Decimal:
    """A stock price as traded: the close, at the provider's 4 decimals."""
    return Decimal(f"{close:.4f}")


def _option_value(option: OptionSpec, spot: float, day: dt.date) -> Decimal:
    """The option's Black-Scholes value per share on ``day``, in cents."""
    value = bsm(
        spot,
        float(option.strike),
        year_fraction(day, option.expiry),
        DEMO_RISK_FREE_RATE,
        option.dividend_yield or 0.0,
        np.nan if option.implied_vol is None else option.implied_vol,
        np.bool_(option.right == "call"),
    ).price
    return Decimal(f"{float(value):.2f}")


def _strike(spot: float, moneyness: float) -> Decimal:
    """Strike near ``moneyness`` x ``spot``, on a 5 (above 100) or 1 increment."""
    increment = 5 if spot > 100 else 1
    return Decimal(max(round(spot * moneyness / increment), 1) * increment)


def _positions(
    book: tuple[tuple[str, int], ...], closes: _Closes, bought: dt.date | None
) -> tuple[PositionSpec, ...]:
    """Stock, ETF and fund positions from (symbol, quantity) rows, bought on ``bought``."""
    return tuple(
        PositionSpec(
            symbol=symbol,
            quantity=Decimal(qty),
            entry_price=None if bought is None else _price(closes.on(symbol, bought)),
            entry_date=bought,
        )
        for symbol, qty in book
    )


def _option_positions(
    as_of: dt.date, book_date: dt.date, closes: _Closes, bought: dt.date | None
) -> tuple[PositionSpec, ...]:
    """The hedge fund's option legs: struck on ``book_date``, expiring 2-6 months after ``as_of``."""
    legs = []
    for underlying, right, contracts, moneyness, months, vol, div in _HEDGE_FUND_OPTIONS:
        spot = closes.on(underlying, book_date)
        option = OptionSpec(
            underlying=underlying,
            right=right,
            strike=_strike(spot, moneyness),
            expiry=_expiry(as_of, months),
            multiplier=100,
            implied_vol=vol,
            dividend_yield=div,
        )
        symbol = occ_ticker(underlying, option.expiry, right, option.strike)
        legs.append(
            PositionSpec(
                symbol=symbol,
                quantity=Decimal(contracts),
                option=option,
                entry_price=None if bought is None else _option_value(option, spot, bought),
                entry_date=bought,
            )
        )
    return tuple(legs)


def demo_users(password_hash: str | None) -> tuple[UserSpec, ...]:
    """The three demo logins, all with ``password_hash`` (the hash of :data:`DEMO_PASSWORD`)."""
    return tuple(
        UserSpec(email=email, full_name=name, password_hash=password_hash)
        for email, name in DEMO_USERS
    )


def _demo_portfolios(
    as_of: dt.date, book_date: dt.date, closes: _Closes, bought: dt.date | None
) -> tuple[PortfolioSpec, ...]:
    return (
        PortfolioSpec(
            external_id="DEMO_INDIVIDUAL",
            name="Demo Individual Investor Portfolio",
            owner_email=DEMO_INDIVIDUAL_EMAIL,
            cash=_CASH_INDIVIDUAL,
            positions=_positions(_INDIVIDUAL_BOOK, closes, bought),
        ),
        PortfolioSpec(
            external_id="DEMO_HNW",
            name="Demo High Net Worth Investor Portfolio",
            owner_email=DEMO_HNW_EMAIL,
            cash=_CASH_HNW,
            positions=_positions(_HNW_BOOK, closes, bought),
        ),
        PortfolioSpec(
            external_id="DEMO_HEDGE_FUND",
            name="Demo Hedge Fund Style Investor Portfolio",
            owner_email=DEMO_HEDGE_FUND_EMAIL,
            cash=_CASH_HEDGE_FUND,
            positions=_positions(_HEDGE_FUND_BOOK, closes, bought)
            + _option_positions(as_of, book_date, closes, bought),
        ),
    )


def _demo_symbols() -> set[str]:
    """Every stock, fund and underlying the demo books and trades name, and the factor ETFs."""
    symbols = set(DEFAULT_FACTORS)
    for book in (_INDIVIDUAL_BOOK, _HNW_BOOK, _HEDGE_FUND_BOOK):
        symbols.update(symbol for symbol, _ in book)
    symbols.update(leg[0] for leg in _HEDGE_FUND_OPTIONS)
    symbols.update(symbol for _, _, symbol, _ in DEMO_TRADES)
    symbols.add(DEMO_OPTION_TRADE[0])
    return symbols


def demo_securities(
    portfolios: tuple[PortfolioSpec, ...], traded: Iterable[str] = ()
) -> tuple[SecuritySpec, ...]:
    """Security-master entries: every stock or fund held or ``traded``, underlying and factor."""
    symbols = set(DEFAULT_FACTORS) | set(traded)
    for portfolio in portfolios:
        for position in portfolio.positions:
            symbols.add(position.option.underlying if position.option else position.symbol)
    master = security_master()
    return tuple(master[symbol] for symbol in sorted(symbols))


def _demo_trades(as_of: dt.date, days: list[dt.date], closes: _Closes) -> tuple[TradeSpec, ...]:
    """The history's trades at the synthetic close of their day (the put at its model value)."""
    trades = [
        TradeSpec(
            portfolio=portfolio,
            trade_date=days[index],
            symbol=symbol,
            quantity=Decimal(quantity),
            price=_price(closes.on(symbol, days[index])),
            fees=_STOCK_FEE,
            trade_id=f"demo-{days[index].isoformat()}-{symbol}",
        )
        for portfolio, index, symbol, quantity in DEMO_TRADES
    ]
    underlying, index, contracts, moneyness, months, vol, div = DEMO_OPTION_TRADE
    day = days[index]
    spot = closes.on(underlying, day)
    put = OptionSpec(
        underlying=underlying,
        right="put",
        strike=_strike(spot, moneyness),
        expiry=_expiry(as_of, months),
        multiplier=100,
        implied_vol=vol,
        dividend_yield=div,
    )
    symbol = occ_ticker(underlying, put.expiry, "put", put.strike)
    trades.append(
        TradeSpec(
            portfolio="DEMO_HEDGE_FUND",
            trade_date=day,
            symbol=symbol,
            quantity=Decimal(contracts),
            price=_option_value(put, spot, day),
            fees=_CONTRACT_FEE * abs(contracts),
            trade_id=f"demo-{day.isoformat()}-{symbol}",
            option=put,
        )
    )
    return tuple(sorted(trades, key=lambda t: (t.portfolio, t.trade_date, t.symbol)))


def _demo_cash_flows(days: list[dt.date]) -> tuple[CashFlowSpec, ...]:
    return tuple(
        CashFlowSpec(portfolio=portfolio, flow_date=days[index], amount=Decimal(amount))
        for portfolio, index, amount in DEMO_CASH_FLOWS
    )


def demo_seed(as_of: dt.date, *, history: bool = False) -> DemoSeed:
    """The demo seed for ``as_of``; equal inputs give equal seeds.

    Parameters
    ----------
    as_of : datetime.date
        The demo's as-of session; every option expiry lies 2 to 6 months after it.
    history : bool, default=False
        Without it, the books are dated ``as_of`` and nothing else is seeded. With it, the
        books are dated on the first of the :data:`DEMO_HISTORY_SESSIONS` sessions ending on
        ``as_of``, every position bought at that day's close, and the trades and cash flows
        of the history follow on their sessions.

    Returns
    -------
    DemoSeed
        Three portfolios in a bundle (the security master, the built-in scenarios, the default
        factors, benchmark SPY and a 4.3 % risk-free rate), and the history's events.
    """
    days = demo_sessions(as_of) if history else [as_of]
    book_date = days[0]
    closes = _Closes(_demo_symbols(), book_date, as_of)
    portfolios = _demo_portfolios(as_of, book_date, closes, book_date if history else None)
    trades = _demo_trades(as_of, days, closes) if history else ()
    bundle = Bundle(
        portfolios=portfolios,
        valuation_date=book_date,
        risk_free_rate=DEMO_RISK_FREE_RATE,
        benchmark="SPY",
        factors=dict(DEFAULT_FACTORS),
        securities=demo_securities(
            portfolios, [t.option.underlying if t.option else t.symbol for t in trades]
        ),
        scenarios=BUILTIN_SCENARIOS,
    )
    return DemoSeed(bundle, trades, _demo_cash_flows(days) if history else ())


def demo_bundle(as_of: dt.date) -> Bundle:
    """The demo's books valued on ``as_of`` as a bundle (no history); see :func:`demo_seed`."""
    return demo_seed(as_of).bundle


def demo_backfill_years(as_of: dt.date, lookback_sessions: int) -> int:
    """Years of prices the demo history needs: a full return window on its first session."""
    start = last_sessions(demo_sessions(as_of)[0], lookback_sessions + 1)[0]
    years = 1
    while backfill_start(as_of, years) > start:
        years += 1
    return years
