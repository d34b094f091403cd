"""Users, portfolios, positions and the security master."""

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TimestampMixin


class PositionType(enum.StrEnum):
    """The original's position types: stock long/short and long/short call/put."""

    LONG = "LONG"
    SHORT = "SHORT"
    LC = "LC"
    LP = "LP"
    SC = "SC"
    SP = "SP"


class User(TimestampMixin, Base):
    """A person who owns portfolios and logs in to the API."""

    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    # NULL means the account cannot log in (created implicitly by an import).
    password_hash: Mapped[str | None] = mapped_column(String(255))
    full_name: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(default=True, server_default="true")
    # Operators see the whole run ledger (with error texts); other users only their own.
    is_operator: Mapped[bool] = mapped_column(default=False, server_default="false")


class Portfolio(TimestampMixin, Base):
    """A book of positions plus cash, identified externally by ``external_id``."""

    __tablename__ = "portfolio"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    base_currency: Mapped[str] = mapped_column(String(3), server_default="USD")
    cash: Mapped[Decimal] = mapped_column(server_default="0")
    benchmark: Mapped[str] = mapped_column(String(32), server_default="SPY")
    # Annual, continuously compounded; used for option pricing only. NULL = configured default.
    risk_free_rate: Mapped[float | None]
    valuation_date: Mapped[dt.date | None]


class Position(TimestampMixin, Base):
    """One holding: signed quantity (shares, or contracts for options)."""

    __tablename__ = "position"
    __table_args__ = (
        UniqueConstraint("portfolio_id", "symbol"),
        Index(None, "portfolio_id", "position_type"),
        Index(None, "symbol"),
        Index(None, "underlying"),
        CheckConstraint("quantity <> 0", name="nonzero_quantity"),
        CheckConstraint(
            "(position_type IN ('LONG', 'SHORT')) = (underlying IS NULL AND strike IS NULL "
            "AND expiry_date IS NULL AND option_right IS NULL AND multiplier IS NULL)",
            name="option_fields_match_type",
        ),
        CheckConstraint(
            "(position_type IN ('LONG', 'LC', 'LP') AND quantity > 0) OR "
            "(position_type IN ('SHORT', 'SC', 'SP') AND quantity < 0)",
            name="sign_matches_type",
        ),
        CheckConstraint("option_right IS NULL OR option_right IN ('call', 'put')", name="right"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    portfolio_id: Mapped[int] = mapped_column(ForeignKey("portfolio.id", ondelete="CASCADE"))
    # Stocks and ETFs by ticker; options by OCC ticker with Polygon's "O:" prefix.
    symbol: Mapped[str] = mapped_column(String(32))
    position_type: Mapped[PositionType] = mapped_column(
        Enum(PositionType, name="position_type", native_enum=True)
    )
    quantity: Mapped[Decimal]
    entry_price: Mapped[Decimal | None]
    entry_date: Mapped[dt.date | None]
    underlying: Mapped[str | None] = mapped_column(String(32))
    strike: Mapped[Decimal | None]
    expiry_date: Mapped[dt.date | None]
    option_right: Mapped[str | None] = mapped_column(String(4))
    multiplier: Mapped[int | None]
    implied_vol: Mapped[float | None]
    dividend_yield: Mapped[float | None]


class Security(Base):
    """Security master: what a symbol is (asset type, sector, size, currency)."""

    __tablename__ = "security"

    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(255))
    asset_type: Mapped[str] = mapped_column(String(16), server_default="stock")
    sector: Mapped[str | None] = mapped_column(String(100))
    industry: Mapped[str | None] = mapped_column(String(100))
    market_cap: Mapped[float | None]
    currency: Mapped[str] = mapped_column(String(3), server_default="USD")
    exchange: Mapped[str | None] = mapped_column(String(20))
    source: Mapped[str | None] = mapped_column(String(16))
    updated_at: Mapped[dt.datetime | None]
