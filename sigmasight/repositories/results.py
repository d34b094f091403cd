"""Risk results: bulk upserts of a chunk's rows, the atomic ``is_current`` flip, and reads.

Writes are binary COPY (:mod:`sigmasight.pgcopy` builds the payload column-wise from the
frames): on a date with no rows yet straight into the table, otherwise into a temporary
table and one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE (values) IS DISTINCT FROM (new
values)`` per table, so a rerun for the same date rewrites nothing (rows keep the run id
that first produced their values).

A rerun of a date that already has results does not write chunk by chunk: its chunks are
staged (:func:`stage_chunk`) and loaded together with the flip (:func:`apply_staged`), so a
killed rerun leaves the date exactly as it was, like a new date that was never flipped.
"""

import datetime as dt
import queue
import struct
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql
from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Float,
    Integer,
    Row,
    Select,
    SmallInteger,
    String,
    Uuid,
    delete,
    func,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

from models import (
    Base,
    CorrelationResult,
    FactorExposure,
    Portfolio,
    PortfolioSnapshot,
    PositionRisk,
    RiskRerunPart,
    StressResult,
)
from sigmasight import pgcopy
from sigmasight.db import raw_connection
from sigmasight.history import HistoryPoint
from sigmasight.repositories.risk_inputs import any_of
from sigmasight.risk.document import GREEK_KEYS

#: Natural key of each result table (what a rerun for the same date matches on).
RESULT_KEYS: dict[str, tuple[str, ...]] = {
    "portfolio_snapshot": ("portfolio_id", "as_of_date"),
    "position_risk": ("portfolio_id", "as_of_date", "symbol"),
    # Portfolio-level rows: position_id stays NULL (the unique key treats NULLs as equal).
    "factor_exposure": ("portfolio_id", "position_id", "factor_symbol", "as_of_date"),
    "correlation_result": ("portfolio_id", "as_of_date"),
    "stress_result": ("portfolio_id", "as_of_date", "scenario", "method"),
}


def _kind(column_type: TypeEngine[Any]) -> str:
    """The :mod:`sigmasight.pgcopy` kind of a column's SQLAlchemy type."""
    if isinstance(column_type, ARRAY):
        return "float8[]" if isinstance(column_type.item_type, Float) else "text[]"
    for sa_type, kind in (
        (JSONB, "jsonb"),
        (Uuid, "uuid"),
        (Date, "date"),
        (Boolean, "bool"),
        (BigInteger, "int8"),
        (SmallInteger, "int2"),
        (Integer, "int4"),
        (Float, "float8"),
        (String, "text"),
    ):
        if isinstance(column_type, sa_type):
            return kind
    raise TypeError(f"no binary COPY kind for {column_type!r}")


def copy_kinds(table: str, columns: Sequence[str]) -> list[str]:
    """Each column's binary COPY kind, from the table's model."""
    found = Base.metadata.tables[table].columns
    return [_kind(found[name].type) for name in columns]


def _columns(frame: pd.DataFrame) -> list[str]:
    return [str(c) for c in frame.columns]


def _parts(table: str, frame: pd.DataFrame) -> Iterable[bytes]:
    return pgcopy.encode_parts(frame, copy_kinds(table, _columns(frame)))


def copy_rows(
    session: Session,
    table: str,
    columns: Sequence[str],
    payload: Iterable[bytes],
    n_rows: int,
    *,
    key: Sequence[str],
    merge: bool = False,
) -> int:
    """Load rows in binary COPY form (``payload``'s pieces) into ``table``; rows written.

    On a date with no rows yet, one COPY goes straight into the table; when it meets rows
    already there (a rerun), the rows go through a temporary table and ``INSERT ... ON
    CONFLICT DO UPDATE ... WHERE`` the values differ, so identical rows keep their old run
    id and are not rewritten. ``merge`` goes straight to the temporary table and the merge
    (a staged rerun part, whose rows are known to exist). JSON columns arrive as JSON text.
    """
    names = sql.SQL(", ").join(map(sql.Identifier, columns))
    conn = raw_connection(session)
    sent: list[bytes] = []
    pieces = iter(payload)
    with conn.cursor() as cursor:
        if not merge:
            try:
                with conn.transaction():
                    _copy_in(cursor, sql.Identifier(table), names, pieces, sent)
                return n_rows
            except psycopg.errors.UniqueViolation:
                # The server may stop the COPY before every piece was sent.
                sent.extend(pieces)
                pieces = iter(sent)
        stage = sql.Identifier(f"stage_{table}")
        cursor.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(stage))
        cursor.execute(
            sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA").format(
                stage, names, sql.Identifier(table)
            )
        )
        _copy_in(cursor, stage, names, pieces, None)
        compare = [c for c in columns if c not in (*key, "run_id")]
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
                stage=stage,
                key=sql.SQL(", ").join(map(sql.Identifier, key)),
                updates=updates,
                old=old,
                new=new,
            )
        )
        found = cursor.fetchone()
    return int(found[0]) if found else 0


def _copy_in(
    cursor: psycopg.Cursor[Any],
    target: sql.Identifier,
    names: sql.Composable,
    payload: Iterable[bytes],
    sent: list[bytes] | None,
) -> None:
    """One binary COPY of ``payload`` into ``target``; keeps the pieces in ``sent``."""
    with cursor.copy(
        sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(target, names)
    ) as copy:
        for piece in payload:
            if sent is not None:
                sent.append(piece)
            copy.write(piece)


#: Encoded parts a background encoder may hold ahead of the COPY (bounds the memory).
AHEAD_PARTS = 4
_DONE = object()


def _encode_ahead(tables: Sequence[tuple[str, pd.DataFrame]]) -> Iterator[Iterator[bytes]]:
    """Each table's payload pieces, encoded by a background thread while the COPY runs.

    The server parses one table's rows while the next are encoded (numpy releases the
    GIL for most of the work); an encoding error is raised where the pieces are read.
    """
    pieces: queue.Queue[object] = queue.Queue(maxsize=AHEAD_PARTS)
    stop = threading.Event()

    def offer(item: object) -> bool:
        """Queue ``item`` unless the reader has gone (then False)."""
        while not stop.is_set():
            try:
                pieces.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for table, frame in tables:
                for piece in _parts(table, frame):
                    if not offer(piece):
                        return
                if not offer(_DONE):
                    return
        except BaseException as error:  # handed to the reader, which raises it
            offer(error)

    def table_pieces() -> Iterator[bytes]:
        while True:
            item = pieces.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield cast(bytes, item)

    worker = threading.Thread(target=produce, name="pgcopy-encoder", daemon=True)
    worker.start()
    try:
        for _ in tables:
            yield table_pieces()
    finally:
        stop.set()
        worker.join()


def save_chunk(session: Session, frames: dict[str, pd.DataFrame]) -> dict[str, int]:
    """Write one chunk's rows (in the caller's transaction); returns rows written per table."""
    tables = [(table, frame) for table, frame in frames.items() if not frame.empty]
    written = {table: 0 for table, frame in frames.items() if frame.empty}
    for (table, frame), pieces in zip(tables, _encode_ahead(tables), strict=True):
        written[table] = copy_rows(
            session, table, _columns(frame), pieces, len(frame), key=RESULT_KEYS[table]
        )
    return written


def has_results(session: Session, as_of: dt.date, portfolio_ids: Sequence[int]) -> bool:
    """Whether any of these portfolios already has a snapshot of ``as_of`` (a rerun)."""
    return bool(
        session.scalar(
            select(PortfolioSnapshot.id)
            .where(
                PortfolioSnapshot.as_of_date == as_of,
                any_of(PortfolioSnapshot.portfolio_id, list(portfolio_ids)),
            )
            .limit(1)
        )
    )


def stage_chunk(
    session: Session, run_id: uuid.UUID, as_of: dt.date, frames: dict[str, pd.DataFrame]
) -> dict[str, int]:
    """Hold a rerun chunk's rows (binary COPY) until :func:`apply_staged`; rows per table."""
    staged: dict[str, int] = {}
    for table, frame in frames.items():
        if frame.empty:
            continue
        session.add(
            RiskRerunPart(
                run_id=run_id,
                as_of_date=as_of,
                table_name=table,
                columns=_columns(frame),
                n_rows=len(frame),
                payload=b"".join(_parts(table, frame)),
            )
        )
        staged[table] = len(frame)
    return staged


def apply_staged(session: Session, run_id: uuid.UUID) -> dict[str, int]:
    """Load every part the run staged into the result tables, then drop the parts."""
    written: dict[str, int] = {}
    parts = session.scalars(
        select(RiskRerunPart).where(RiskRerunPart.run_id == run_id).order_by(RiskRerunPart.id)
    ).all()
    for part in parts:
        written[part.table_name] = written.get(part.table_name, 0) + copy_rows(
            session,
            part.table_name,
            part.columns,
            [part.payload],
            part.n_rows,
            key=RESULT_KEYS[part.table_name],
            merge=True,
        )
    session.execute(delete(RiskRerunPart).where(RiskRerunPart.run_id == run_id))
    return written


def drop_stale_parts(session: Session, as_of: dt.date, keep_run: uuid.UUID) -> int:
    """Remove parts of ``as_of`` left by other (dead) runs; the date's guard is held."""
    result = session.execute(
        delete(RiskRerunPart).where(
            RiskRerunPart.as_of_date == as_of, RiskRerunPart.run_id != keep_run
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


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
    session: Session, as_of: dt.date | None, external_ids: str | Sequence[str] | None = None
) -> list[tuple[PortfolioSnapshot, str]]:
    """Snapshots of ``as_of`` (or the current ones) with the portfolio's external id.

    ``external_ids`` (one id or several) limits them to those portfolios.
    """
    stmt = select(PortfolioSnapshot, Portfolio.external_id).join(
        Portfolio, Portfolio.id == PortfolioSnapshot.portfolio_id
    )
    if as_of is None:
        stmt = stmt.where(PortfolioSnapshot.is_current)
    else:
        stmt = stmt.where(PortfolioSnapshot.as_of_date == as_of)
    if isinstance(external_ids, str):
        stmt = stmt.where(Portfolio.external_id == external_ids)
    elif external_ids is not None:
        stmt = stmt.where(Portfolio.external_id.in_(list(external_ids)))
    return [
        (snap, ext) for snap, ext in session.execute(stmt.order_by(Portfolio.external_id)).all()
    ]


#: The ``position_risk`` columns a stored document is joined from (``positions`` entries and
#: ``decomposition.positions``): read as plain rows, not ORM objects, and without the factor
#: arrays, which were most of a reports chunk's read time.
DOCUMENT_POSITION_COLUMNS = (
    "symbol",
    "quantity",
    "underlying",
    "price",
    "market_value",
    "exposure",
    "weight",
    *GREEK_KEYS,
    "mctr_daily",
    "ctr_daily",
    "param_var_95_component",
    "cvar_95_component",
)


def positions_of(
    session: Session, keys: Sequence[tuple[int, dt.date]]
) -> dict[tuple[int, dt.date], list[Row[Any]]]:
    """Stored position rows of several snapshots, by (portfolio id, date), each by symbol.

    Each row holds :data:`DOCUMENT_POSITION_COLUMNS`, read by attribute.
    """
    found: dict[tuple[int, dt.date], list[Row[Any]]] = {}
    if not keys:
        return found
    table = PositionRisk.__table__
    rows = session.execute(
        select(
            table.c.portfolio_id,
            table.c.as_of_date,
            *(table.c[name] for name in DOCUMENT_POSITION_COLUMNS),
        )
        .where(tuple_(table.c.portfolio_id, table.c.as_of_date).in_(list(keys)))
        .order_by(table.c.portfolio_id, table.c.as_of_date, table.c.symbol)
    )
    for row in rows:
        found.setdefault((row.portfolio_id, row.as_of_date), []).append(row)
    return found


def correlations_of(
    session: Session, keys: Sequence[tuple[int, dt.date]]
) -> dict[tuple[int, dt.date], CorrelationResult]:
    """Stored correlation matrices of several snapshots, by (portfolio id, date)."""
    if not keys:
        return {}
    rows = session.scalars(
        select(CorrelationResult).where(
            tuple_(CorrelationResult.portfolio_id, CorrelationResult.as_of_date).in_(list(keys))
        )
    )
    return {(row.portfolio_id, row.as_of_date): row for row in rows}


#: The stored matrix of one snapshot: its symbols, and the matrix as nested lists.
Matrix = tuple[list[str], list[list[float | None]]]


def correlation_matrices_of(
    session: Session, keys: Sequence[tuple[int, dt.date]]
) -> dict[tuple[int, dt.date], Matrix]:
    """Stored correlation matrices of several snapshots, by (portfolio id, date).

    The matrix is read in PostgreSQL's binary array format (``array_send``) and decoded
    with numpy: as text, 2,500 numbers a portfolio were a millisecond of parsing on each
    side. The numbers are the stored doubles exactly (as the text form, which prints
    each double's shortest round-trip digits, reads them back).
    """
    if not keys:
        return {}
    table = CorrelationResult.__table__
    rows = session.execute(
        select(
            table.c.portfolio_id,
            table.c.as_of_date,
            table.c.symbols,
            func.array_send(table.c.matrix),
        ).where(tuple_(table.c.portfolio_id, table.c.as_of_date).in_(list(keys)))
    )
    return {
        (int(pid), day): (list(symbols), decode_float8_array(bytes(raw)))
        for pid, day, symbols, raw in rows
    }


#: One element of a binary float8 array: its length (8, or -1 for NULL) and its bytes.
_FLOAT8_ELEMENT = np.dtype([("length", ">i4"), ("value", ">f8")])
_FLOAT8_OID = 701


def decode_float8_array(raw: bytes) -> list[list[float | None]]:
    """A two-dimensional ``double precision[]`` in binary array format as nested lists.

    The format: dimensions, a has-nulls flag and the element type (three int32), then
    size and lower bound per dimension (int32 each), then each element as an int32
    length (-1 for NULL) followed by its 8 bytes.
    """
    ndim, has_nulls, oid = struct.unpack_from(">iii", raw, 0)
    if ndim == 0:
        return []
    if ndim != 2 or oid != _FLOAT8_OID:
        raise ValueError(f"not a 2-dimensional float8 array (ndim {ndim}, type {oid})")
    rows, _, cols, _ = struct.unpack_from(">iiii", raw, 12)
    if not has_nulls:
        elements = np.frombuffer(raw, dtype=_FLOAT8_ELEMENT, count=rows * cols, offset=28)
        if (elements["length"] == 8).all():
            values: list[list[float]] = (
                elements["value"].astype(np.float64).reshape(rows, cols).tolist()
            )
            return cast(list[list[float | None]], values)
    flat: list[float | None] = []
    offset = 28
    for _ in range(rows * cols):
        (length,) = struct.unpack_from(">i", raw, offset)
        offset += 4
        if length < 0:
            flat.append(None)
        else:
            flat.append(struct.unpack_from(">d", raw, offset)[0])
            offset += length
    return [flat[i * cols : (i + 1) * cols] for i in range(rows)]


def stress_for(session: Session, portfolio_id: int, as_of: dt.date) -> list[StressResult]:
    """Stress results of one snapshot (rows, or the document's for an older date)."""
    found = list(
        session.scalars(
            select(StressResult)
            .where(StressResult.portfolio_id == portfolio_id, StressResult.as_of_date == as_of)
            .order_by(StressResult.method, StressResult.scenario)
        )
    )
    if found:
        return found
    # Older than the detail retention: the snapshot's document holds the same figures.
    snap = session.scalar(
        select(PortfolioSnapshot).where(
            PortfolioSnapshot.portfolio_id == portfolio_id, PortfolioSnapshot.as_of_date == as_of
        )
    )
    document = (snap.document or {}) if snap else {}
    rows = [
        StressResult(
            portfolio_id=portfolio_id,
            as_of_date=as_of,
            run_id=snap.run_id if snap else None,
            scenario=name,
            method=method,
            return_impact=figures.get("return_impact"),
            pnl=figures.get("pnl"),
        )
        for method, key in (("full_revaluation", "stress_full_revaluation"), ("linear", "stress"))
        for name, figures in sorted((document.get(key) or {}).items())
    ]
    return rows


@dataclass(frozen=True)
class StoredDay:
    """One stored snapshot with what the next date's history, backtest and limits need.

    ``factor_betas`` and ``limits`` (the stored ``limits`` block) are read for the newest
    snapshot only.
    """

    as_of: dt.date
    nav: float | None
    pnl: float | None
    twr_cumulative: float | None
    var_95: float | None
    var_99: float | None
    prev_nav: float | None
    prev_var_95: float | None
    prev_var_99: float | None
    factor_betas: dict[str, float | None] | None = None
    limits: list[dict[str, Any]] | None = None


#: Snapshots read back for a date: enough for the backtest window (C30) with some holes.
LOOKBACK_SNAPSHOTS = 260


def previous_snapshots(
    session: Session, portfolio_ids: Sequence[int], *, before: dt.date
) -> dict[int, list[StoredDay]]:
    """Each portfolio's latest snapshots before ``before``, oldest first (at most 260).

    Each row carries the NAV and VaR of the snapshot before it, for the backtest (C30).
    """
    rows = session.execute(
        text(
            "SELECT portfolio_id, as_of_date, nav, pnl, twr_cumulative, hist_var_95, hist_var_99, "
            "prev_nav, prev_var_95, prev_var_99, "
            "CASE WHEN back = 1 THEN document->'factor_exposures'->'betas' END, "
            "CASE WHEN back = 1 THEN document->'limits' END FROM ("
            " SELECT s.*, row_number() OVER w AS back,"
            " lag(nav) OVER a AS prev_nav, lag(hist_var_95) OVER a AS prev_var_95,"
            " lag(hist_var_99) OVER a AS prev_var_99"
            " FROM portfolio_snapshot s"
            " WHERE portfolio_id = ANY(:ids) AND as_of_date < :before"
            " WINDOW w AS (PARTITION BY portfolio_id ORDER BY as_of_date DESC),"
            " a AS (PARTITION BY portfolio_id ORDER BY as_of_date)"
            ") t WHERE back <= :n ORDER BY portfolio_id, as_of_date"
        ),
        {"ids": list(portfolio_ids), "before": before, "n": LOOKBACK_SNAPSHOTS},
    ).all()
    found: dict[int, list[StoredDay]] = {}
    for r in rows:
        found.setdefault(int(r[0]), []).append(StoredDay(*r[1:]))
    return found


def latest_snapshot_date(session: Session, *, before: dt.date | None = None) -> dt.date | None:
    """The newest date with any stored snapshot (before ``before``, when given)."""
    stmt = select(func.max(PortfolioSnapshot.as_of_date))
    if before is not None:
        stmt = stmt.where(PortfolioSnapshot.as_of_date < before)
    return session.scalar(stmt)


def prune_detail(session: Session, *, before: dt.date) -> dict[str, int]:
    """Drop the detail rows dated before ``before``.

    Position rows and correlation matrices are rebuilt on demand; stress results and factor
    exposures stay in each snapshot's document, which the reads fall back to.
    """
    dropped: dict[str, int] = {}
    for model in (PositionRisk, CorrelationResult, StressResult, FactorExposure):
        result = session.execute(delete(model).where(model.as_of_date < before))
        dropped[model.__tablename__] = int(getattr(result, "rowcount", 0) or 0)
    return dropped


# ---- the actual history (RISK-CONVENTIONS C17/C18): the stored snapshot series ---------------
def history_select(
    portfolio_id: int, start: dt.date | None, end: dt.date | None
) -> Select[*tuple[Any, ...]]:
    """One portfolio's snapshots in ``[start, end]`` as :class:`HistoryPoint` columns (no order).

    ``param_var_95``, ``ann_vol`` (full window) and ``gross_leverage`` have no column of their
    own: they are read from the stored document (JSONB keeps a number's digits, so the value
    parsed back is the double the run wrote).
    """
    snap = PortfolioSnapshot
    document = snap.document
    stmt: Select[*tuple[Any, ...]] = select(
        snap.as_of_date,
        snap.run_id,
        snap.status,
        snap.is_current,
        snap.book_date,
        snap.nav,
        snap.cash,
        snap.pnl,
        snap.external_flow,
        snap.twr_daily,
        snap.twr_cumulative,
        snap.hist_var_95,
        snap.hist_var_99,
        document[("risk", "full", "param_var_95", "fraction")].label("param_var_95"),
        snap.cvar_95,
        document[("risk", "full", "ann_vol")].label("ann_vol"),
        snap.beta_spy,
        document[("valuation", "gross_leverage")].label("gross_leverage"),
        snap.daily_pnl,
        snap.daily_return,
        # Limits in breach on the date (C31: new or continuing); none stored -> 0.
        func.jsonb_array_length(
            func.jsonb_path_query_array(
                func.coalesce(document, text("'{}'::jsonb")),
                text(
                    """'$.limits[*] ? (@.status == "new" || @.status == "continuing")'::jsonpath"""
                ),
            )
        ).label("breaches"),
    ).where(snap.portfolio_id == portfolio_id)
    if start is not None:
        stmt = stmt.where(snap.as_of_date >= start)
    if end is not None:
        stmt = stmt.where(snap.as_of_date <= end)
    return stmt


def _number(value: object) -> float | None:
    """A JSON number as a float; ``null``, a missing key or anything else as None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def history_point(row: Row[Any]) -> HistoryPoint:
    """A row of :func:`history_select` as a :class:`HistoryPoint`."""
    return HistoryPoint(
        as_of=row.as_of_date,
        run_id=row.run_id,
        status=row.status,
        is_current=row.is_current,
        book_date=row.book_date,
        nav=row.nav,
        cash=row.cash,
        pnl=row.pnl,
        external_flow=row.external_flow,
        twr_daily=row.twr_daily,
        twr_cumulative=row.twr_cumulative,
        hist_var_95=row.hist_var_95,
        hist_var_99=row.hist_var_99,
        param_var_95=_number(row.param_var_95),
        cvar_95=row.cvar_95,
        ann_vol=_number(row.ann_vol),
        beta_spy_150d=row.beta_spy,
        gross_leverage=_number(row.gross_leverage),
        daily_pnl=row.daily_pnl,
        daily_return=row.daily_return,
        breaches=int(row.breaches),
    )


def load_history(
    session: Session, portfolio_id: int, *, start: dt.date | None, end: dt.date | None
) -> list[HistoryPoint]:
    """Every stored snapshot of one portfolio in ``[start, end]``, oldest first (one query)."""
    stmt = history_select(portfolio_id, start, end).order_by(PortfolioSnapshot.as_of_date)
    rows = session.execute(stmt).all()
    return [history_point(row) for row in rows]
