"""Plain records shared by the importers, the demo seed and the repositories.

A :class:`Bundle` is the validated form of the portfolio bundle JSON (FORMATS.md section 4);
the demo seed builds one too, so both go through the same upsert code.
"""

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from models.portfolio import PositionType
from sigmasight.risk.limits import Bound

OptionRight = Literal["call", "put"]

#: The seven style factors and the ETF that proxies each (RISK-CONVENTIONS.md).
DEFAULT_FACTORS: dict[str, str] = {
    "SPY": "Market",
    "VTV": "Value",
    "VUG": "Growth",
    "MTUM": "Momentum",
    "QUAL": "Quality",
    "IWM": "Size",
    "USMV": "LowVol",
}

#: The rate series used for rate sensitivity.
RATE_SERIES = "DGS10"

_OCC_RE = re.compile(r"^O:(?P<root>[A-Z0-9.]{1,6})(?P<date>\d{6})(?P<right>[CP])(?P<strike>\d{8})$")


class InputError(ValueError):
    """Bad user input: the message names the thing (file, line, field) and the reason."""


def occ_ticker(underlying: str, expiry: dt.date, right: OptionRight, strike: Decimal) -> str:
    """Polygon-style OCC option ticker, e.g. ``O:SPY251219C00600000``."""
    millis = int((strike * 1000).to_integral_value())
    return f"O:{underlying}{expiry:%y%m%d}{'C' if right == 'call' else 'P'}{millis:08d}"


@dataclass(frozen=True)
class OccParts:
    """The fields encoded in an OCC ticker."""

    underlying: str
    expiry: dt.date
    right: OptionRight
    strike: Decimal


def parse_occ(symbol: str) -> OccParts | None:
    """Split an ``O:`` ticker into its parts; None when ``symbol`` is not one."""
    match = _OCC_RE.fullmatch(symbol)
    if match is None:
        return None
    return OccParts(
        underlying=match["root"],
        expiry=dt.datetime.strptime(match["date"], "%y%m%d").date(),
        right="call" if match["right"] == "C" else "put",
        strike=Decimal(match["strike"]) / 1000,
    )


def position_type_for(quantity: Decimal, right: OptionRight | None) -> PositionType:
    """LONG/SHORT for stocks, LC/SC/LP/SP for options, from the sign of the quantity."""
    long = quantity > 0
    if right is None:
        return PositionType.LONG if long else PositionType.SHORT
    if right == "call":
        return PositionType.LC if long else PositionType.SC
    return PositionType.LP if long else PositionType.SP


@dataclass(frozen=True)
class OptionSpec:
    """Contract terms of an option position."""

    underlying: str
    right: OptionRight
    strike: Decimal
    expiry: dt.date
    multiplier: int = 100
    implied_vol: float | None = None
    dividend_yield: float | None = None


@dataclass(frozen=True)
class PositionSpec:
    """One position of a portfolio; ``quantity`` is signed (contracts for options)."""

    symbol: str
    quantity: Decimal
    option: OptionSpec | None = None
    entry_price: Decimal | None = None
    entry_date: dt.date | None = None

    @property
    def position_type(self) -> PositionType:
        """Position type implied by the sign and the option right."""
        return position_type_for(self.quantity, self.option.right if self.option else None)


@dataclass(frozen=True)
class PortfolioSpec:
    """A portfolio as imported: identity, owner, cash and its whole book."""

    external_id: str
    name: str
    owner_email: str
    cash: Decimal
    positions: tuple[PositionSpec, ...]
    base_currency: str = "USD"
    #: The portfolio's own limits (C31); None leaves the stored ones as they are.
    limits: dict[str, Bound] | None = None


@dataclass(frozen=True)
class SecuritySpec:
    """Security-master entry for a symbol."""

    symbol: str
    asset_type: str = "stock"
    name: str | None = None
    sector: str | None = None
    industry: str | None = None
    market_cap: float | None = None
    currency: str = "USD"


@dataclass(frozen=True)
class ScenarioSpec:
    """A stress scenario: simple-return shocks for every factor ETF plus a DGS10 move in pp."""

    name: str
    category: str
    shocks: dict[str, float]
    rate_shock_pp: float = 0.0
    severity: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class Bundle:
    """A validated portfolio bundle (FORMATS.md section 4)."""

    portfolios: tuple[PortfolioSpec, ...]
    valuation_date: dt.date | None = None
    risk_free_rate: float | None = None
    benchmark: str = "SPY"
    factors: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_FACTORS))
    securities: tuple[SecuritySpec, ...] = ()
    scenarios: tuple[ScenarioSpec, ...] = ()
    #: The default limits (C31); None leaves the stored ones as they are.
    default_limits: dict[str, Bound] | None = None


@dataclass(frozen=True)
class TradeSpec:
    """One trade of a portfolio (FORMATS section 7, RISK-CONVENTIONS C16)."""

    portfolio: str
    trade_date: dt.date
    symbol: str
    quantity: Decimal
    price: Decimal
    fees: Decimal = Decimal(0)
    trade_id: str | None = None
    option: OptionSpec | None = None


@dataclass(frozen=True)
class CashFlowSpec:
    """An external cash flow of a portfolio: deposit positive, withdrawal negative (C17)."""

    portfolio: str
    flow_date: dt.date
    amount: Decimal


ActionKind = Literal["split", "cash_dividend"]


@dataclass(frozen=True)
class ActionSpec:
    """A corporate action effective on ``ex_date`` (RISK-CONVENTIONS C19-C20).

    ``value`` is new shares per old share for a split, the amount per share for a dividend.
    """

    symbol: str
    ex_date: dt.date
    kind: ActionKind
    value: Decimal


@dataclass(frozen=True)
class UserSpec:
    """A login: email, full name and an already-hashed password (or None: cannot log in)."""

    email: str
    full_name: str | None = None
    password_hash: str | None = None
    is_operator: bool = False


@dataclass(frozen=True)
class PricePayload:
    """Validated prices ready for COPY: CSV bytes and the database columns they fill."""

    columns: tuple[str, ...]
    #: Columns an upsert may overwrite on an existing row (a wide file brings only adj_close).
    update_columns: tuple[str, ...]
    csv: bytes
    has_header: bool
    n_rows: int
    n_symbols: int
    first_date: dt.date
    last_date: dt.date
