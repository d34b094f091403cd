"""Result tables written by the nightly flows; every row carries its run and as-of date."""

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from models.base import Base


class RunResultMixin:
    """``run_id`` (the producing run) and ``as_of_date`` (the market-data date used)."""

    @declared_attr
    def run_id(cls) -> Mapped[uuid.UUID]:
        """The flow run that wrote this row."""
        return mapped_column(ForeignKey("flow_run.id"), index=True)

    as_of_date: Mapped[dt.date]


class DetailResultMixin:
    """``run_id`` and ``as_of_date`` of a detail row (positions, factors, correlations, stress).

    Detail rows are the bulk of a night's writes (about 80 per portfolio), so they carry no
    foreign keys and no index beyond the ones reads use: each foreign key cost a lookup per
    row written, and nothing reads detail by run. Their snapshot row (one per portfolio and
    date) keeps the keys to ``portfolio`` and ``flow_run``; deleting a portfolio deletes its
    detail through a trigger on ``portfolio`` (migration 0013).
    """

    run_id: Mapped[uuid.UUID]
    as_of_date: Mapped[dt.date]


class PortfolioSnapshot(RunResultMixin, Base):
    """One portfolio on one date: headline figures plus the full ``sigmasight.risk/1`` document."""

    __tablename__ = "portfolio_snapshot"
    __table_args__ = (
        # Also serves "latest snapshots first": a btree scans backwards as fast as forwards,
        # so a separate (portfolio_id, as_of_date DESC) index would only slow writes.
        UniqueConstraint("portfolio_id", "as_of_date"),
        # At most one current snapshot per portfolio; the nightly run flips it atomically.
        Index(
            "uq_portfolio_snapshot__current",
            "portfolio_id",
            unique=True,
            postgresql_where=text("is_current"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    portfolio_id: Mapped[int] = mapped_column(ForeignKey("portfolio.id", ondelete="CASCADE"))
    is_current: Mapped[bool] = mapped_column(server_default="false")
    status: Mapped[str] = mapped_column(String(16), server_default="ok")
    nav: Mapped[float | None]
    cash: Mapped[float | None]
    long_mv: Mapped[float | None]
    short_mv: Mapped[float | None]
    gross_exposure: Mapped[float | None]
    net_exposure: Mapped[float | None]
    daily_pnl: Mapped[float | None]
    daily_return: Mapped[float | None]
    # The actual history (RISK-CONVENTIONS C17): the day's external flow, P&L net of it, and
    # the time-weighted return; NULL when the previous computed session is unknown.
    book_date: Mapped[dt.date | None]
    external_flow: Mapped[float | None]
    pnl: Mapped[float | None]
    twr_daily: Mapped[float | None]
    twr_cumulative: Mapped[float | None]
    hist_var_95: Mapped[float | None]
    hist_var_99: Mapped[float | None]
    cvar_95: Mapped[float | None]
    beta_spy: Mapped[float | None]
    # Stored uncompressed (STORAGE EXTERNAL, migration 0013): compressing ~12 KB per row
    # took the server about 0.4 ms, most of the snapshot's write time, for half the size.
    document: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    warnings: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))


class PositionRisk(DetailResultMixin, Base):
    """Per-position valuation and, for options, Greeks in the units their names say."""

    __tablename__ = "position_risk"
    # A symbol appears once in a book; the key also serves reads by (portfolio, date). The
    # BRIN index (rows arrive in date order) lets the retention prune find old dates cheaply.
    __table_args__ = (
        UniqueConstraint("portfolio_id", "as_of_date", "symbol"),
        Index("ix_position_risk__as_of_date_brin", "as_of_date", postgresql_using="brin"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    portfolio_id: Mapped[int]
    # The stored book's position row when the run valued it; NULL for a holding that trades
    # opened after the book. Not a foreign key: a position deleted since reads as absent
    # because readers join ``position`` on it.
    position_id: Mapped[int | None]
    symbol: Mapped[str] = mapped_column(String(32))
    # The book as valued on as_of (positions may change later).
    quantity: Mapped[float | None]
    underlying: Mapped[str | None] = mapped_column(String(32))
    price: Mapped[float | None]
    market_value: Mapped[float | None]
    exposure: Mapped[float | None]
    weight: Mapped[float | None]
    daily_pnl: Mapped[float | None]
    delta: Mapped[float | None]
    gamma: Mapped[float | None]
    vega_per_1pct_vol: Mapped[float | None]
    theta_per_calendar_day: Mapped[float | None]
    rho_per_1pct_rate: Mapped[float | None]
    delta_dollars: Mapped[float | None]
    gamma_shares_per_1usd: Mapped[float | None]
    vega_usd_per_1pct_vol: Mapped[float | None]
    theta_usd_per_calendar_day: Mapped[float | None]
    rho_usd_per_1pct_rate: Mapped[float | None]
    beta_spy_150d: Mapped[float | None]
    # The position's 150-day factor betas (those of the underlying for options), estimated
    # on the same rows as its portfolio's, so that weights x betas sum exactly: the beta to
    # factor_symbols[i] is factor_betas[i] (NULL where unknown). Typed arrays, not a JSONB
    # object: parsing 7 JSON numbers per row was half the server's time for these rows.
    factor_symbols: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    factor_betas: Mapped[list[float | None] | None] = mapped_column(ARRAY(Double))
    # Risk decomposition (RISK-CONVENTIONS.md C22-C25), daily fractions of NAV; the
    # document's decomposition.positions is rebuilt from them.
    mctr_daily: Mapped[float | None]
    ctr_daily: Mapped[float | None]
    param_var_95_component: Mapped[float | None]
    cvar_95_component: Mapped[float | None]


class FactorExposure(DetailResultMixin, Base):
    """A factor beta; ``position_id`` NULL means the portfolio-level regression."""

    __tablename__ = "factor_exposure"
    __table_args__ = (
        UniqueConstraint(
            "portfolio_id",
            "position_id",
            "factor_symbol",
            "as_of_date",
            postgresql_nulls_not_distinct=True,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    portfolio_id: Mapped[int]
    position_id: Mapped[int | None]
    factor_symbol: Mapped[str] = mapped_column(String(32))
    beta: Mapped[float | None]
    exposure_usd: Mapped[float | None]
    window: Mapped[int]
    n_obs: Mapped[int]
    r2: Mapped[float | None]


class CorrelationResult(DetailResultMixin, Base):
    """Pairwise correlation matrix of a portfolio's symbols, with the clusters found."""

    __tablename__ = "correlation_result"
    __table_args__ = (
        UniqueConstraint("portfolio_id", "as_of_date"),
        Index("ix_correlation_result__as_of_date_brin", "as_of_date", postgresql_using="brin"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    portfolio_id: Mapped[int]
    # Typed arrays, not JSONB: a 50 x 50 matrix as JSONB made the server parse 2,500
    # numerics per row (most of a night's write time); float8[] takes the doubles' bits.
    # NULL elements where too few overlapping returns (the JSON had null there). The
    # matrix is stored uncompressed (STORAGE EXTERNAL, migration 0013): compressing it
    # cost more time than the few bytes it saved.
    symbols: Mapped[list[str]] = mapped_column(ARRAY(Text))
    matrix: Mapped[list[list[float | None]]] = mapped_column(ARRAY(Double, dimensions=2))
    min_overlap: Mapped[int]
    # Ragged lists of symbols (no 2-D array holds them) and small: JSONB stays.
    clusters: Mapped[list[list[str]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))


class StressResult(DetailResultMixin, Base):
    """P&L of one scenario for one portfolio, linear or by full option revaluation."""

    __tablename__ = "stress_result"
    __table_args__ = (UniqueConstraint("portfolio_id", "as_of_date", "scenario", "method"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    portfolio_id: Mapped[int]
    scenario: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(24), server_default="linear")
    return_impact: Mapped[float | None]
    pnl: Mapped[float | None]


class Report(RunResultMixin, Base):
    """One report file (json, md, csv or html) for a portfolio and date."""

    __tablename__ = "report"
    __table_args__ = (UniqueConstraint("portfolio_id", "as_of_date", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    portfolio_id: Mapped[int] = mapped_column(ForeignKey("portfolio.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    s3_key: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(server_default=text("now()"))


class Backup(RunResultMixin, Base):
    """A database dump in object storage; counts as good only when completed and checked."""

    __tablename__ = "backup"
    __table_args__ = (Index(None, "status", "as_of_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bucket: Mapped[str] = mapped_column(String(255))
    key: Mapped[str] = mapped_column(Text, unique=True)
    status: Mapped[str] = mapped_column(String(16), server_default="uploading")
    database_name: Mapped[str] = mapped_column(String(255))
    server_version: Mapped[str | None] = mapped_column(String(32))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    manifest: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[dt.datetime] = mapped_column(server_default=text("now()"))
    verified_at: Mapped[dt.datetime | None]
    error: Mapped[str | None] = mapped_column(Text)


class RiskRerunPart(Base):
    """One chunk's result rows of a same-date rerun, held until the whole run succeeds.

    A rerun of a date that already has results must not change them chunk by chunk (a killed
    run would leave a mix): its rows wait here as the binary COPY payload that loads them
    (``sigmasight.pgcopy``), and the flip loads every part and makes the date current in one
    transaction.
    """

    __tablename__ = "risk_rerun_part"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    run_id: Mapped[uuid.UUID] = mapped_column(index=True)
    as_of_date: Mapped[dt.date] = mapped_column(index=True)
    table_name: Mapped[str] = mapped_column(String(64))
    columns: Mapped[list[str]] = mapped_column(JSONB)
    n_rows: Mapped[int] = mapped_column(Integer)
    payload: Mapped[bytes]
    created_at: Mapped[dt.datetime] = mapped_column(server_default=text("now()"))
