"""Market data: daily bars, rate observations, the factor set and stress scenarios."""

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TimestampMixin


class PriceBar(Base):
    """One daily bar per (symbol, date); prices in the security's currency."""

    __tablename__ = "price_bar"
    __table_args__ = (
        Index(None, "price_date"),
        CheckConstraint("close > 0", name="positive_close"),
        CheckConstraint("adj_close IS NULL OR adj_close > 0", name="positive_adj_close"),
        CheckConstraint("high IS NULL OR low IS NULL OR high >= low", name="high_ge_low"),
    )

    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    price_date: Mapped[dt.date] = mapped_column(primary_key=True)
    # Vendors send prices as IEEE doubles and the risk engine computes in float64, so a
    # double column loses nothing and lets bars load with binary COPY.
    open: Mapped[float | None]
    high: Mapped[float | None]
    low: Mapped[float | None]
    close: Mapped[float]
    adj_close: Mapped[float | None]
    volume: Mapped[int | None] = mapped_column(BigInteger)
    # Where the bar came from: polygon, fmp, synthetic, csv.
    source: Mapped[str] = mapped_column(String(16))
    # The vendor's own status when it is not a plain OK (Polygon's "DELAYED").
    vendor_status: Mapped[str | None] = mapped_column(String(16))
    # The ingesting run (flow_run.id). No foreign key on purpose: a per-row FK trigger
    # roughly doubles the cost of bulk loads into the largest table.
    run_id: Mapped[uuid.UUID | None]
    ingested_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class RateObservation(Base):
    """One observation of a rate series such as FRED's DGS10, in percent."""

    __tablename__ = "rate_observation"

    series_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    obs_date: Mapped[dt.date] = mapped_column(primary_key=True)
    value_pct: Mapped[float]
    source: Mapped[str] = mapped_column(String(16))
    run_id: Mapped[uuid.UUID | None]
    ingested_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class Factor(Base):
    """A style factor and the ETF that proxies it (SPY, VTV, VUG, MTUM, QUAL, IWM, USMV)."""

    __tablename__ = "factor"

    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    display_order: Mapped[int] = mapped_column(server_default="0")
    is_active: Mapped[bool] = mapped_column(server_default="true")


class StressScenario(TimestampMixin, Base):
    """A named set of simultaneous shocks: every factor ETF plus the 10-year yield."""

    __tablename__ = "stress_scenario"
    __table_args__ = (
        CheckConstraint(
            "category IN ('market', 'rates', 'rotation', 'volatility', 'historical', 'custom')",
            name="category",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    category: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str | None] = mapped_column(String(16))
    description: Mapped[str | None] = mapped_column(Text)
    # {ETF symbol: simple-return shock}; one entry per active factor, zero where unshocked.
    shocks: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # Parallel change of DGS10 in percentage points (e.g. +1.0 for +100 bp).
    rate_shock_pp: Mapped[float] = mapped_column(server_default="0")
    is_builtin: Mapped[bool] = mapped_column(server_default="false")
    is_active: Mapped[bool] = mapped_column(server_default="true")


class DataQuality(Base):
    """Per symbol and as-of date: did the market-data run get a bar, and how stale is it."""

    __tablename__ = "data_quality"
    __table_args__ = (
        UniqueConstraint("as_of_date", "symbol"),
        CheckConstraint("status IN ('ok', 'stale', 'missing')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("flow_run.id"), index=True)
    as_of_date: Mapped[dt.date]
    symbol: Mapped[str] = mapped_column(String(32))
    # Why the symbol is in the universe: holding, underlying, option, factor, benchmark.
    roles: Mapped[list[str]] = mapped_column(JSONB)
    # Counted in coverage (options are valued by model, so they are not).
    required: Mapped[bool]
    status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str | None] = mapped_column(String(16))
    last_date: Mapped[dt.date | None]
    staleness_sessions: Mapped[int | None]
    issues: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))


class CorporateAction(TimestampMixin, Base):
    """A split or cash dividend of a symbol, effective on its ex-date (RISK-CONVENTIONS C19-C21).

    ``value`` is new shares per old share for a split (4-for-1: 4; 1-for-10 reverse: 0.1) and
    the amount per share, in the security's currency, for a cash dividend.
    """

    __tablename__ = "corporate_action"
    __table_args__ = (
        UniqueConstraint("symbol", "ex_date", "kind"),
        CheckConstraint("kind IN ('split', 'cash_dividend')", name="kind"),
        CheckConstraint("value > 0", name="positive_value"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    symbol: Mapped[str] = mapped_column(String(32))
    ex_date: Mapped[dt.date] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[Decimal] = mapped_column(Numeric(24, 12))
    # Who served it: polygon, fmp, synthetic, csv; and the ingesting run (no FK, like bars).
    source: Mapped[str] = mapped_column(String(16))
    run_id: Mapped[uuid.UUID | None]
