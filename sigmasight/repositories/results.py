"""Risk results: bulk upserts of a chunk's rows, the atomic ``is_current`` flip, and reads.

Writes go through COPY into a temporary table and one ``INSERT ... ON CONFLICT DO UPDATE
... WHERE (values) IS DISTINCT FROM (new values)`` per table, so a rerun for the same date
rewrites nothing (rows keep the run id that first produced their values).
"""

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from models import CorrelationResult, Portfolio, PortfolioSnapshot, PositionRisk, StressResult
from sigmasight.db import raw_connection


def staged_upsert(
    session: Session,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    key: Sequence[str],
    compare: Sequence[str],
    json_columns: Sequence[str] = (),
) -> int:
    """Upsert ``rows`` into ``table`` keyed on ``key``; returns the number of rows written."""
    conn = raw_connection(session)
    stage = f"stage_{table}"
    json_at = [columns.index(name) for name in json_columns]
    with conn.cursor() as cursor:
        cursor.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(stage)))
        cursor.execute(
            sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA").format(
                sql.Identifier(stage),
                sql.SQL(", ").join(map(sql.Identifier, columns)),
                sql.Identifier(table),
            )
        )
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(stage), sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        with cursor.copy(statement) as copy:
            for row in rows:
                if json_at:
                    row = list(row)
                    for index in json_at:
                        row[index] = Jsonb(row[index])
                copy.write_row(row)
        names = sql.SQL(", ").join(map(sql.Identifier, columns))
        updates = sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(name))
            for name in (*compare, "run_id")
        )
        old = sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(n)) for n in compare)
        new = sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(sql.Identifier(n)) for n in compare)
        cursor.execute(
            sql.SQL(
                "WITH w AS (INSERT INTO {table} AS t ({names}) SELECT {names} FROM {stage} "
                "ON CONFLICT ({key}) DO UPDATE SET {updates} "
                "WHERE ROW({old}) IS DISTINCT FROM ROW({new}) RETURNING 1) SELECT count(*) FROM w"
            ).format(
                table=sql.Identifier(table),
                names=names,
                stage=sql.Identifier(stage),
                key=sql.SQL(", ").join(map(sql.Identifier, key)),
                updates=updates,
                old=old,
                new=new,
            )
        )
        found = cursor.fetchone()
    return int(found[0]) if found else 0


SNAPSHOT_COLUMNS = (
    "portfolio_id",
    "as_of_date",
    "run_id",
    "status",
    "nav",
    "cash",
    "long_mv",
    "short_mv",
    "gross_exposure",
    "net_exposure",
    "daily_pnl",
    "daily_return",
    "hist_var_95",
    "hist_var_99",
    "cvar_95",
    "beta_spy",
    "document",
    "warnings",
)
POSITION_COLUMNS = (
    "portfolio_id",
    "position_id",
    "as_of_date",
    "run_id",
    "symbol",
    "quantity",
    "underlying",
    "price",
    "market_value",
    "exposure",
    "weight",
    "daily_pnl",
    "delta",
    "gamma",
    "vega_per_1pct_vol",
    "theta_per_calendar_day",
    "rho_per_1pct_rate",
    "delta_dollars",
    "gamma_shares_per_1usd",
    "vega_usd_per_1pct_vol",
    "theta_usd_per_calendar_day",
    "rho_usd_per_1pct_rate",
    "beta_spy_150d",
    "factor_betas",
)
FACTOR_COLUMNS = (
    "portfolio_id",
    "as_of_date",
    "run_id",
    "factor_symbol",
    "beta",
    "exposure_usd",
    "window",
    "n_obs",
    "r2",
)
CORRELATION_COLUMNS = (
    "portfolio_id",
    "as_of_date",
    "run_id",
    "symbols",
    "matrix",
    "min_overlap",
    "clusters",
)
STRESS_COLUMNS = (
    "portfolio_id",
    "as_of_date",
    "run_id",
    "scenario",
    "method",
    "return_impact",
    "pnl",
)


def _values(columns: Sequence[str], key: Sequence[str]) -> list[str]:
    return [c for c in columns if c not in (*key, "run_id")]


def save_chunk(
    session: Session,
    *,
    snapshots: list[tuple[Any, ...]],
    positions: list[tuple[Any, ...]],
    factors: list[tuple[Any, ...]],
    correlations: list[tuple[Any, ...]],
    stress: list[tuple[Any, ...]],
) -> dict[str, int]:
    """Write one chunk's rows (in the caller's transaction); returns rows written per table."""
    written = {}
    key = ("portfolio_id", "as_of_date")
    written["portfolio_snapshot"] = staged_upsert(
        session,
        "portfolio_snapshot",
        SNAPSHOT_COLUMNS,
        snapshots,
        key=key,
        compare=_values(SNAPSHOT_COLUMNS, key),
        json_columns=("document", "warnings"),
    )
    pkey = ("position_id", "as_of_date")
    written["position_risk"] = staged_upsert(
        session,
        "position_risk",
        POSITION_COLUMNS,
        positions,
        key=pkey,
        compare=_values(POSITION_COLUMNS, pkey),
        json_columns=("factor_betas",),
    )
    # Portfolio-level rows: position_id stays NULL (the unique key treats NULLs as equal).
    fkey = ("portfolio_id", "position_id", "factor_symbol", "as_of_date")
    written["factor_exposure"] = staged_upsert(
        session,
        "factor_exposure",
        FACTOR_COLUMNS,
        factors,
        key=fkey,
        compare=_values(FACTOR_COLUMNS, fkey),
    )
    written["correlation_result"] = staged_upsert(
        session,
        "correlation_result",
        CORRELATION_COLUMNS,
        correlations,
        key=key,
        compare=_values(CORRELATION_COLUMNS, key),
        json_columns=("symbols", "matrix", "clusters"),
    )
    skey = ("portfolio_id", "as_of_date", "scenario", "method")
    written["stress_result"] = staged_upsert(
        session,
        "stress_result",
        STRESS_COLUMNS,
        stress,
        key=skey,
        compare=_values(STRESS_COLUMNS, skey),
    )
    return written


def flip_current(session: Session, as_of: dt.date, portfolio_ids: Sequence[int]) -> int:
    """Make the ``as_of`` snapshot current for these portfolios unless a newer one is current.

    Both statements run in the caller's transaction, so readers see the old or the new
    current snapshot, never none and never two.
    """
    params = {"as_of": as_of, "ids": list(portfolio_ids)}
    session.execute(
        text(
            "UPDATE portfolio_snapshot s SET is_current = false "
            "WHERE s.is_current AND s.portfolio_id = ANY(:ids) AND s.as_of_date < :as_of "
            "AND EXISTS (SELECT 1 FROM portfolio_snapshot n WHERE n.portfolio_id = s.portfolio_id "
            "AND n.as_of_date = :as_of)"
        ),
        params,
    )
    result = session.execute(
        text(
            "UPDATE portfolio_snapshot s SET is_current = true "
            "WHERE s.as_of_date = :as_of AND NOT s.is_current AND s.portfolio_id = ANY(:ids) "
            "AND NOT EXISTS (SELECT 1 FROM portfolio_snapshot c WHERE c.portfolio_id = s.portfolio_id "
            "AND c.is_current AND c.as_of_date > :as_of)"
        ),
        params,
    )
    return int(getattr(result, "rowcount", 0) or 0)


def snapshots_for(
    session: Session, as_of: dt.date | None, external_id: str | None = None
) -> list[tuple[PortfolioSnapshot, str]]:
    """Snapshots of ``as_of`` (or the current ones) with the portfolio's external id."""
    stmt = select(PortfolioSnapshot, Portfolio.external_id).join(
        Portfolio, Portfolio.id == PortfolioSnapshot.portfolio_id
    )
    if as_of is None:
        stmt = stmt.where(PortfolioSnapshot.is_current)
    else:
        stmt = stmt.where(PortfolioSnapshot.as_of_date == as_of)
    if external_id is not None:
        stmt = stmt.where(Portfolio.external_id == external_id)
    return [
        (snap, ext) for snap, ext in session.execute(stmt.order_by(Portfolio.external_id)).all()
    ]


def positions_for(session: Session, portfolio_id: int, as_of: dt.date) -> list[PositionRisk]:
    """Stored position rows of one snapshot, by symbol."""
    return list(
        session.scalars(
            select(PositionRisk)
            .where(PositionRisk.portfolio_id == portfolio_id, PositionRisk.as_of_date == as_of)
            .order_by(PositionRisk.symbol)
        )
    )


def correlation_for(
    session: Session, portfolio_id: int, as_of: dt.date
) -> CorrelationResult | None:
    """Stored correlation matrix of one snapshot."""
    return session.scalar(
        select(CorrelationResult).where(
            CorrelationResult.portfolio_id == portfolio_id, CorrelationResult.as_of_date == as_of
        )
    )


def stress_for(session: Session, portfolio_id: int, as_of: dt.date) -> list[StressResult]:
    """Stored stress results of one snapshot."""
    return list(
        session.scalars(
            select(StressResult)
            .where(StressResult.portfolio_id == portfolio_id, StressResult.as_of_date == as_of)
            .order_by(StressResult.method, StressResult.scenario)
        )
    )
