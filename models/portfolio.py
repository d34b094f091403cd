"""Users, portfolios, positions and the security master."""

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Enum,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    UniqueConstraint,
    func,
    text,
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
    # The latest book's date and cash, mirrored for listings; the books themselves are
    # ``portfolio_book`` rows (one per book date) with their ``position`` rows.
    valuation_date: Mapped[dt.date | None]


#: The book date of a bundle without ``valuation_date``: in effect from the start of history
#: until a dated book replaces it (RISK-CONVENTIONS C15).
UNDATED_BOOK_DATE = dt.date(1900, 1, 1)


class PortfolioBook(TimestampMixin, Base):
    """The book of one portfolio as imported for one book date: its cash (positions refer here)."""

    __tablename__ = "portfolio_book"
    __table_args__ = (UniqueConstraint("portfolio_id", "book_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    portfolio_id: Mapped[int] = mapped_column(ForeignKey("portfolio.id", ondelete="CASCADE"))
    book_date: Mapped[dt.date]
    cash: Mapped[Decimal] = mapped_column(server_default="0")
    # Where the book came from: "bundle" or "positions" (a broker-style positions file).
    source: Mapped[str] = mapped_column(String(16), server_default="bundle")


class Position(TimestampMixin, Base):
    """One holding of one dated book: signed quantity (shares, or contracts for options)."""

    __tablename__ = "position"
    __table_args__ = (
        UniqueConstraint("portfolio_id", "book_date", "symbol"),
        ForeignKeyConstraint(
            ["portfolio_id", "book_date"],
            ["portfolio_book.portfolio_id", "portfolio_book.book_date"],
            ondelete="CASCADE",
        ),
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
    book_date: Mapped[dt.date]
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


class Trade(Base):
    """One trade (RISK-CONVENTIONS C16): signed quantity, price per share (or per option unit)."""

    __tablename__ = "trade"
    __table_args__ = (
        Index(None, "portfolio_id", "trade_date"),
        # The natural key: the file's trade_id when given, else the trade's own fields.
        Index(
            "uq_trade__portfolio_id_trade_id",
            "portfolio_id",
            "trade_id",
            unique=True,
            postgresql_where=text("trade_id IS NOT NULL"),
        ),
        Index(
            "uq_trade__natural",
            "portfolio_id",
            "trade_date",
            "symbol",
            "quantity",
            "price",
            unique=True,
            postgresql_where=text("trade_id IS NULL"),
        ),
        CheckConstraint("quantity <> 0", name="nonzero_quantity"),
        CheckConstraint("price >= 0 AND fees >= 0", name="nonnegative_price_fees"),
        CheckConstraint("option_right IS NULL OR option_right IN ('call', 'put')", name="right"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    portfolio_id: Mapped[int] = mapped_column(ForeignKey("portfolio.id", ondelete="CASCADE"))
    trade_date: Mapped[dt.date]
    symbol: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[Decimal]
    price: Mapped[Decimal]
    fees: Mapped[Decimal] = mapped_column(server_default="0")
    trade_id: Mapped[str | None] = mapped_column(String(64))
    underlying: Mapped[str | None] = mapped_column(String(32))
    strike: Mapped[Decimal | None]
    expiry_date: Mapped[dt.date | None]
    option_right: Mapped[str | None] = mapped_column(String(4))
    multiplier: Mapped[int | None]
    implied_vol: Mapped[float | None]
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class CashFlow(Base):
    """An external cash flow (RISK-CONVENTIONS C17): deposit positive, withdrawal negative."""

    __tablename__ = "cash_flow"
    __table_args__ = (UniqueConstraint("portfolio_id", "flow_date"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    portfolio_id: Mapped[int] = mapped_column(ForeignKey("portfolio.id", ondelete="CASCADE"))
    flow_date: Mapped[dt.date]
    amount: Mapped[Decimal]
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


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
