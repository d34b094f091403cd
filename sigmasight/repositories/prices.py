"""Daily prices and rate observations: bulk upserts through COPY, and simple reads."""

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import psycopg
from psycopg import sql
from sqlalchemy import func, literal_column, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from models import PriceBar, RateObservation
from sigmasight.db import raw_connection
from sigmasight.domain import InputError
from sigmasight.importers.prices import PricePayload
from sigmasight.market_data import StoredRange

_STAGE_DDL = """
CREATE TEMP TABLE price_stage (
    symbol text, price_date date, open numeric, high numeric, low numeric,
    close numeric, adj_close numeric, volume bigint, vendor_status text
) ON COMMIT DROP
"""
_VALUE_COLUMNS = ("open", "high", "low", "close", "adj_close", "volume")


@dataclass(frozen=True)
class UpsertCounts:
    """What an upsert did: rows inserted, rows changed, rows already identical."""

    inserted: int
    updated: int
    unchanged: int


def _tag_lines(csv: bytes, source: str, run_id: uuid.UUID) -> bytes:
    # Appending the two constant columns to every line is one C-level replace, far
    # cheaper than re-serialising the rows in Python.
    return csv.replace(b"\n", f",{source},{run_id}\n".encode())


def _copy(cursor: "psycopg.Cursor[Any]", statement: sql.Composed, data: bytes) -> None:
    with cursor.copy(statement) as copy:
        view = memoryview(data)
        for start in range(0, len(view), 8 << 20):
            copy.write(view[start : start + (8 << 20)])


def _copy_statement(table: str, columns: Sequence[str], header: bool) -> sql.Composed:
    return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv, HEADER {})").format(
        sql.Identifier(table),
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL("true" if header else "false"),
    )


def upsert_price_payload(
    session: Session, payload: PricePayload, *, source: str, run_id: uuid.UUID, file_label: str
) -> UpsertCounts:
    """Upsert validated CSV prices; identical rows are left untouched."""
    try:
        return copy_upsert(
            session,
            columns=payload.columns,
            csv=payload.csv,
            has_header=payload.has_header,
            n_rows=payload.n_rows,
            update_columns=payload.update_columns,
            source=source,
            run_id=run_id,
        )
    except (psycopg.errors.DataError, psycopg.errors.IntegrityError) as exc:
        context = (exc.diag.context or "").splitlines()
        where = f" ({context[0]})" if context else ""
        raise InputError(f"{file_label}: {exc.diag.message_primary}{where}") from None


_BAR_DB_COLUMNS = (
    "symbol",
    "price_date",
    "open",
    "high",
    "low",
    "close",
    "adj_close",
    "volume",
    "vendor_status",
)


def upsert_bars(
    session: Session, bars: pd.DataFrame, *, source: str, run_id: uuid.UUID
) -> UpsertCounts:
    """Upsert a validated bar frame (``sigmasight.providers.base.BAR_COLUMNS``)."""
    if bars.empty:
        return UpsertCounts(0, 0, 0)
    frame = bars.rename(columns={"date": "price_date"})[list(_BAR_DB_COLUMNS)].copy()
    frame["volume"] = frame["volume"].round().astype("Int64")
    csv = frame.to_csv(index=False, header=False, float_format="%.6f", na_rep="").encode()
    return copy_upsert(
        session,
        columns=_BAR_DB_COLUMNS,
        csv=csv,
        has_header=False,
        n_rows=len(frame),
        update_columns=_BAR_DB_COLUMNS[2:],
        source=source,
        run_id=run_id,
    )


def copy_upsert(
    session: Session,
    *,
    columns: Sequence[str],
    csv: bytes,
    has_header: bool,
    n_rows: int,
    update_columns: Sequence[str],
    source: str,
    run_id: uuid.UUID,
) -> UpsertCounts:
    """Load CSV rows into ``price_bar``; rows whose values are unchanged stay untouched.

    New data goes straight into ``price_bar`` with one COPY. When any row already exists
    (a re-import or an overlapping fetch) that COPY is rolled back to its savepoint and the
    rows go through a temporary staging table and ``INSERT ... ON CONFLICT DO UPDATE``
    that only touches rows whose values differ.
    """
    conn = raw_connection(session)
    with conn.cursor() as cursor:
        try:
            with conn.transaction():
                _copy(
                    cursor,
                    _copy_statement("price_bar", (*columns, "source", "run_id"), has_header),
                    _tag_lines(csv, source, run_id),
                )
            return UpsertCounts(inserted=n_rows, updated=0, unchanged=0)
        except psycopg.errors.UniqueViolation:
            pass
        cursor.execute("DROP TABLE IF EXISTS price_stage")
        cursor.execute(_STAGE_DDL)
        _copy(cursor, _copy_statement("price_stage", columns, has_header), csv)
        return _merge_stage(cursor, update_columns, source, run_id, n_rows)


def _merge_stage(
    cursor: "psycopg.Cursor[Any]",
    update_columns: Sequence[str],
    source: str,
    run_id: uuid.UUID,
    n_rows: int,
) -> UpsertCounts:
    assignments = [
        sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(name))
        for name in (*update_columns, "source", "run_id")
    ]
    target = sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(n)) for n in update_columns)
    excluded = sql.SQL(", ").join(
        sql.SQL("EXCLUDED.{}").format(sql.Identifier(n)) for n in update_columns
    )
    statement = sql.SQL(
        """
        WITH merged AS (
            INSERT INTO price_bar AS t
                (symbol, price_date, open, high, low, close, adj_close, volume, source, run_id)
            SELECT symbol, price_date, open, high, low, COALESCE(close, adj_close), adj_close,
                   volume, %(source)s, %(run_id)s
            FROM price_stage
            ON CONFLICT (symbol, price_date) DO UPDATE
                SET {assignments}, ingested_at = now()
                WHERE ({target}) IS DISTINCT FROM ({excluded})
            RETURNING (xmax = 0) AS inserted
        )
        SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM merged
        """
    ).format(assignments=sql.SQL(", ").join(assignments), target=target, excluded=excluded)
    cursor.execute(statement, {"source": source, "run_id": run_id})
    row = cursor.fetchone()
    inserted, updated = (int(row[0]), int(row[1])) if row else (0, 0)
    return UpsertCounts(inserted=inserted, updated=updated, unchanged=n_rows - inserted - updated)


def upsert_rates(
    session: Session,
    series_id: str,
    observations: Sequence[tuple[dt.date, float]],
    *,
    source: str,
    run_id: uuid.UUID,
) -> UpsertCounts:
    """Upsert a rate series (percent); identical observations are left untouched."""
    if not observations:
        return UpsertCounts(0, 0, 0)
    stmt = insert(RateObservation).values(
        [
            {
                "series_id": series_id,
                "obs_date": day,
                "value_pct": value,
                "source": source,
                "run_id": run_id,
            }
            for day, value in observations
        ]
    )
    upsert: Any = stmt.on_conflict_do_update(
        index_elements=[RateObservation.series_id, RateObservation.obs_date],
        set_={
            "value_pct": stmt.excluded.value_pct,
            "source": stmt.excluded.source,
            "run_id": stmt.excluded.run_id,
        },
        where=RateObservation.value_pct.is_distinct_from(stmt.excluded.value_pct),
    ).returning(RateObservation.obs_date, literal_column("(xmax = 0)"))
    rows = session.execute(upsert).all()
    # xmax = 0 marks rows this statement inserted rather than updated.
    inserted = sum(1 for row in rows if row[1])
    return UpsertCounts(inserted, len(rows) - inserted, len(observations) - len(rows))


def price_summary(session: Session) -> tuple[int, int, dt.date | None, dt.date | None]:
    """(rows, symbols, first date, last date) of the stored prices."""
    row = session.execute(
        select(
            func.count(),
            func.count(func.distinct(PriceBar.symbol)),
            func.min(PriceBar.price_date),
            func.max(PriceBar.price_date),
        )
    ).one()
    return int(row[0]), int(row[1]), row[2], row[3]


def stored_ranges(
    session: Session, symbols: Sequence[str], *, until: dt.date
) -> dict[str, StoredRange]:
    """For each symbol with bars on or before ``until``: first, last date and bar count."""
    rows = session.execute(
        select(
            PriceBar.symbol,
            func.min(PriceBar.price_date),
            func.max(PriceBar.price_date),
            func.count(),
        )
        .where(PriceBar.symbol.in_(list(symbols)), PriceBar.price_date <= until)
        .group_by(PriceBar.symbol)
    ).all()
    return {symbol: StoredRange(first, last, int(n)) for symbol, first, last, n in rows}


def last_rate_date(session: Session, series_id: str) -> dt.date | None:
    """Date of the newest stored observation of ``series_id``."""
    return session.scalar(
        select(func.max(RateObservation.obs_date)).where(RateObservation.series_id == series_id)
    )
