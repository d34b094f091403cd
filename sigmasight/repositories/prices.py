"""Daily prices and rate observations: bulk upserts through COPY, and simple reads."""

import datetime as dt
import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql
from sqlalchemy import case, func, literal_column, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from models import PriceBar, RateObservation
from sigmasight.db import raw_connection
from sigmasight.domain import InputError, PricePayload
from sigmasight.market_data import StoredRange

_STAGE_DDL = """
CREATE TEMP TABLE price_stage (
    symbol text, price_date date, open double precision, high double precision,
    low double precision, close double precision, adj_close double precision,
    volume bigint, vendor_status text, source text, run_id uuid
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


def _copy_statement(table: str, columns: Sequence[str], header: bool, binary: bool) -> sql.Composed:
    options = "FORMAT binary" if binary else f"FORMAT csv, HEADER {'true' if header else 'false'}"
    return sql.SQL("COPY {} ({}) FROM STDIN ({})").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)), sql.SQL(options)
    )


def upsert_price_payload(
    session: Session, payload: PricePayload, *, source: str, run_id: uuid.UUID, file_label: str
) -> UpsertCounts:
    """Upsert validated CSV prices; identical rows are left untouched."""
    try:
        return copy_upsert(
            session,
            columns=payload.columns,
            data=payload.csv,
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
_PG_EPOCH = np.datetime64("2000-01-01", "D")
_BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_BINARY_TRAILER = struct.pack(">h", -1)
_NULLABLE_FLOATS = ("open", "high", "low", "adj_close")


def bars_to_copy_binary(bars: pd.DataFrame, *, source: str, run_id: uuid.UUID) -> bytes:
    """Encode a bar frame in PostgreSQL's binary COPY format, vectorised with numpy.

    Columns: ``_BAR_DB_COLUMNS`` then ``source`` and ``run_id``. A binary tuple has a fixed
    layout only for a given symbol length and NULL pattern, so rows are grouped by those
    (a handful of groups in practice) and each group is one structured array.
    """
    symbols = bars["symbol"].astype(str).str.encode("utf-8")
    status = bars["vendor_status"].where(bars["vendor_status"].notna(), None)
    keys = pd.DataFrame(
        {
            "sym_len": symbols.map(len),
            **{f"null_{name}": bars[name].isna() for name in _NULLABLE_FLOATS},
            "null_volume": bars["volume"].isna(),
            "status": status.fillna(""),
        }
    )
    source_bytes, run_bytes = source.encode(), run_id.bytes
    chunks = [_BINARY_HEADER]
    groups: dict[Any, Any] = dict(keys.groupby(list(keys.columns), sort=False).indices)
    for key, index in groups.items():
        sym_len: int = int(key[0])
        nulls: list[bool] = [bool(v) for v in key[1:-1]]
        status_text: str = str(key[-1])
        null = dict(zip([*_NULLABLE_FLOATS, "volume"], nulls, strict=True))
        fields: list[tuple[str, str]] = [
            ("count", ">i2"),
            ("l_symbol", ">i4"),
            ("symbol", f"S{sym_len}"),
        ]
        fields += [("l_date", ">i4"), ("date", ">i4")]
        for name in ("open", "high", "low", "close", "adj_close"):
            fields.append((f"l_{name}", ">i4"))
            if not null.get(name, False):
                fields.append((name, ">f8"))
        fields.append(("l_volume", ">i4"))
        if not null["volume"]:
            fields.append(("volume", ">i8"))
        status_raw = str(status_text).encode()
        fields.append(("l_status", ">i4"))
        if status_raw:
            fields.append(("status", f"S{len(status_raw)}"))
        fields += [
            ("l_source", ">i4"),
            ("source", f"S{len(source_bytes)}"),
            ("l_run", ">i4"),
            ("run", "S16"),
        ]
        rows = np.zeros(len(index), dtype=np.dtype(fields))
        part = bars.iloc[index]
        rows["count"] = len(_BAR_DB_COLUMNS) + 2
        rows["l_symbol"] = sym_len
        rows["symbol"] = symbols.iloc[index].to_numpy()
        rows["l_date"] = 4
        days = pd.to_datetime(part["date"]).to_numpy().astype("datetime64[D]")
        rows["date"] = (days - _PG_EPOCH).astype(np.int32)
        for name in ("open", "high", "low", "close", "adj_close"):
            if null.get(name, False):
                rows[f"l_{name}"] = -1
            else:
                rows[f"l_{name}"] = 8
                rows[name] = part[name].to_numpy(dtype=np.float64)
        if null["volume"]:
            rows["l_volume"] = -1
        else:
            rows["l_volume"] = 8
            rows["volume"] = np.rint(part["volume"].to_numpy(dtype=np.float64)).astype(np.int64)
        if status_raw:
            rows["l_status"] = len(status_raw)
            rows["status"] = status_raw
        else:
            rows["l_status"] = -1
        rows["l_source"] = len(source_bytes)
        rows["source"] = source_bytes
        rows["l_run"] = 16
        rows["run"] = run_bytes
        chunks.append(rows.tobytes())
    chunks.append(_BINARY_TRAILER)
    return b"".join(chunks)


def upsert_bars(
    session: Session, bars: pd.DataFrame, *, source: str, run_id: uuid.UUID
) -> UpsertCounts:
    """Upsert a validated bar frame (``sigmasight.providers.base.BAR_COLUMNS``) by binary COPY."""
    if bars.empty:
        return UpsertCounts(0, 0, 0)
    return copy_upsert(
        session,
        columns=_BAR_DB_COLUMNS,
        data=bars_to_copy_binary(bars, source=source, run_id=run_id),
        binary=True,
        n_rows=len(bars),
        update_columns=_BAR_DB_COLUMNS[2:],
        source=source,
        run_id=run_id,
    )


def copy_upsert(
    session: Session,
    *,
    columns: Sequence[str],
    data: bytes,
    n_rows: int,
    update_columns: Sequence[str],
    source: str,
    run_id: uuid.UUID,
    binary: bool = False,
    has_header: bool = False,
) -> UpsertCounts:
    """Load rows into ``price_bar``; rows whose values are unchanged stay untouched.

    ``data`` is CSV with exactly ``columns`` (``source`` and ``run_id`` are appended to each
    line here) or binary COPY data that already carries ``source`` and ``run_id`` last.

    New data goes straight into ``price_bar`` with one COPY. When any row already exists
    (a re-import or an overlapping fetch) that COPY is rolled back to its savepoint and the
    rows go through a temporary staging table and ``INSERT ... ON CONFLICT DO UPDATE``
    that only touches rows whose values differ.
    """
    all_columns = (*columns, "source", "run_id")
    payload = data if binary else _tag_lines(data, source, run_id)
    conn = raw_connection(session)
    with conn.cursor() as cursor:
        try:
            with conn.transaction():
                _copy(
                    cursor, _copy_statement("price_bar", all_columns, has_header, binary), payload
                )
            return UpsertCounts(inserted=n_rows, updated=0, unchanged=0)
        except psycopg.errors.UniqueViolation:
            pass
        cursor.execute("DROP TABLE IF EXISTS price_stage")
        cursor.execute(_STAGE_DDL)
        _copy(cursor, _copy_statement("price_stage", all_columns, has_header, binary), payload)
        return _merge_stage(cursor, update_columns, n_rows)


def _merge_stage(
    cursor: "psycopg.Cursor[Any]", update_columns: Sequence[str], n_rows: int
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
                (symbol, price_date, open, high, low, close, adj_close, volume, vendor_status,
                 source, run_id)
            SELECT symbol, price_date, open, high, low, COALESCE(close, adj_close), adj_close,
                   volume, vendor_status, source, run_id
            FROM price_stage
            ON CONFLICT (symbol, price_date) DO UPDATE
                SET {assignments}, ingested_at = now()
                WHERE ({target}) IS DISTINCT FROM ({excluded})
            RETURNING (xmax = 0) AS inserted
        )
        SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM merged
        """
    ).format(assignments=sql.SQL(", ").join(assignments), target=target, excluded=excluded)
    cursor.execute(statement)
    row = cursor.fetchone()
    inserted, updated = (int(row[0]), int(row[1])) if row else (0, 0)
    return UpsertCounts(inserted=inserted, updated=updated, unchanged=n_rows - inserted - updated)


#: Which source's rate observation stands when two disagree: an imported file beats a vendor,
#: a vendor beats the synthetic provider. Equal ranks replace each other (FRED revisions).
RATE_SOURCE_RANK: dict[str, int] = {"synthetic": 0, "fred": 1, "csv": 2}


def _rate_rank(column: Any) -> Any:
    return case(*((column == name, rank) for name, rank in RATE_SOURCE_RANK.items()), else_=1)


def upsert_rates(
    session: Session,
    series_id: str,
    observations: Sequence[tuple[dt.date, float]],
    *,
    source: str,
    run_id: uuid.UUID,
) -> UpsertCounts:
    """Upsert a rate series (percent); identical observations are left untouched.

    An observation from a lower-ranked source (``RATE_SOURCE_RANK``) never replaces one from a
    higher-ranked source: the nightly run's synthetic or FRED refresh keeps imported values.
    """
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
        where=RateObservation.value_pct.is_distinct_from(stmt.excluded.value_pct)
        & (_rate_rank(stmt.excluded.source) >= _rate_rank(RateObservation.source)),
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
