"""Reads for the nightly risk run: the price panel (once per run) and books (per chunk)."""

import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from psycopg import sql
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Factor, Portfolio, Position, RateObservation, Security, StressScenario
from sigmasight.db import raw_connection
from sigmasight.domain import ScenarioSpec


@dataclass(frozen=True)
class PanelData:
    """Adjusted and raw closes on the sessions up to the as-of date, one column per symbol."""

    dates: tuple[dt.date, ...]
    symbols: tuple[str, ...]
    adj_close: "np.ndarray[tuple[int, int], np.dtype[np.float64]]"
    close: "np.ndarray[tuple[int, int], np.dtype[np.float64]]"


def load_panel(
    session: Session, symbols: Sequence[str], *, start: dt.date, end: dt.date
) -> PanelData:
    """Every stored bar of ``symbols`` between ``start`` and ``end``, pivoted to (date x symbol).

    One ``COPY ... TO STDOUT`` streams the rows; a million bars load in about a second.
    """
    conn = raw_connection(session)
    buffer = io.BytesIO()
    with conn.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS wanted_symbol (symbol text PRIMARY KEY) ON COMMIT DROP"
        )
        cursor.execute("TRUNCATE wanted_symbol")
        with cursor.copy("COPY wanted_symbol (symbol) FROM STDIN") as copy:
            for symbol in sorted(set(symbols)):
                copy.write_row((symbol,))
        query = (
            "COPY (SELECT p.symbol, p.price_date, coalesce(p.adj_close, p.close), p.close "
            "FROM price_bar p JOIN wanted_symbol w USING (symbol) "
            "WHERE p.price_date BETWEEN {} AND {}) TO STDOUT (FORMAT csv)"
        )
        with cursor.copy(sql.SQL(query).format(sql.Literal(start), sql.Literal(end))) as copy:
            for chunk in copy:
                buffer.write(chunk)
    buffer.seek(0)
    frame = pd.read_csv(
        buffer,
        names=["symbol", "date", "adj_close", "close"],
        dtype={"symbol": "str", "date": "str", "adj_close": "float64", "close": "float64"},
    )
    ordered = tuple(sorted(set(symbols)))
    if frame.empty:
        empty = np.empty((0, len(ordered)))
        return PanelData((), ordered, empty, empty.copy())
    dates = sorted(frame["date"].unique())
    date_index = {d: i for i, d in enumerate(dates)}
    symbol_index = {s: i for i, s in enumerate(ordered)}
    rows = frame["date"].map(date_index).to_numpy()
    cols = frame["symbol"].map(symbol_index).to_numpy()
    adj = np.full((len(dates), len(ordered)), np.nan)
    raw = np.full((len(dates), len(ordered)), np.nan)
    adj[rows, cols] = frame["adj_close"].to_numpy()
    raw[rows, cols] = frame["close"].to_numpy()
    return PanelData(tuple(dt.date.fromisoformat(d) for d in dates), ordered, adj, raw)


def load_rates(
    session: Session, series_id: str, *, start: dt.date, end: dt.date
) -> list[tuple[dt.date, float]]:
    """Observations of ``series_id`` (percent) from ``start`` to ``end``."""
    rows = session.execute(
        select(RateObservation.obs_date, RateObservation.value_pct)
        .where(
            RateObservation.series_id == series_id,
            RateObservation.obs_date.between(start, end),
        )
        .order_by(RateObservation.obs_date)
    ).all()
    return [(day, float(value)) for day, value in rows]


def load_factors(session: Session) -> dict[str, str]:
    """Active factors in display order: ``{etf symbol: name}``."""
    rows = session.execute(
        select(Factor.symbol, Factor.name)
        .where(Factor.is_active)
        .order_by(Factor.display_order, Factor.symbol)
    ).all()
    return {str(symbol): str(name) for symbol, name in rows}


def load_scenarios(session: Session) -> list[ScenarioSpec]:
    """Active stress scenarios, by name."""
    rows = session.scalars(
        select(StressScenario)
        .where(StressScenario.is_active)
        .order_by(StressScenario.category, StressScenario.name)
    ).all()
    return [
        ScenarioSpec(
            name=row.name,
            category=row.category,
            shocks={k: float(v) for k, v in row.shocks.items()},
            rate_shock_pp=float(row.rate_shock_pp),
            severity=row.severity,
            description=row.description,
        )
        for row in rows
    ]


def list_portfolio_ids(session: Session) -> list[int]:
    """Every portfolio id, ascending."""
    return list(session.scalars(select(Portfolio.id).order_by(Portfolio.id)))


def held_symbols(session: Session) -> list[str]:
    """Symbols whose prices the risk run needs: stocks held and option underlyings."""
    stocks = select(Position.symbol).where(Position.underlying.is_(None))
    underlyings = select(Position.underlying).where(Position.underlying.is_not(None))
    return sorted(set(session.scalars(stocks.union(underlyings))))


def latest_price_date(
    session: Session, symbols: Sequence[str], *, until: dt.date
) -> dt.date | None:
    """The newest session with any bar for ``symbols`` on or before ``until``."""
    from models import PriceBar

    return session.scalar(
        select(func.max(PriceBar.price_date)).where(
            PriceBar.symbol.in_(list(symbols)), PriceBar.price_date <= until
        )
    )


@dataclass(frozen=True)
class BookRows:
    """The books of a chunk of portfolios as flat columns (one row per position)."""

    portfolios: pd.DataFrame  # id, external_id, cash, risk_free_rate, benchmark
    positions: (
        pd.DataFrame
    )  # id, portfolio_id, symbol, quantity, underlying, strike, expiry, right, ..., sector


def load_books(session: Session, portfolio_ids: Sequence[int]) -> BookRows:
    """Portfolios and all their positions, for one chunk.

    A position's ``sector`` is its security's, or for an option its underlying's (None when
    the security master does not know it).
    """
    ids = list(portfolio_ids)
    portfolios = pd.DataFrame(
        session.execute(
            select(
                Portfolio.id,
                Portfolio.external_id,
                Portfolio.cash,
                Portfolio.risk_free_rate,
                Portfolio.benchmark,
            )
            .where(Portfolio.id.in_(ids))
            .order_by(Portfolio.id)
        ).all(),
        columns=["id", "external_id", "cash", "risk_free_rate", "benchmark"],
    )
    positions = pd.DataFrame(
        session.execute(
            select(
                Position.id,
                Position.portfolio_id,
                Position.symbol,
                Position.quantity,
                Position.underlying,
                Position.strike,
                Position.expiry_date,
                Position.option_right,
                Position.multiplier,
                Position.implied_vol,
                Position.dividend_yield,
                Security.sector,
            )
            .outerjoin(
                Security, Security.symbol == func.coalesce(Position.underlying, Position.symbol)
            )
            .where(Position.portfolio_id.in_(ids))
            .order_by(Position.portfolio_id, Position.symbol)
        ).all(),
        columns=[
            "id",
            "portfolio_id",
            "symbol",
            "quantity",
            "underlying",
            "strike",
            "expiry",
            "right",
            "multiplier",
            "implied_vol",
            "dividend_yield",
            "sector",
        ],
    )
    return BookRows(portfolios, positions)
