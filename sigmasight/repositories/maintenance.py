"""Table sizes and dead-tuple statistics, and their history (``table_stat``)."""

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from models import TableStat


@dataclass(frozen=True)
class TableRow:
    """One table's size and health."""

    table_name: str
    total_bytes: int
    table_bytes: int
    index_bytes: int
    live_rows: int
    dead_rows: int
    dead_ratio: float
    last_vacuum: dt.datetime | None
    last_analyze: dt.datetime | None


def table_stats(session: Session, names: Sequence[str]) -> list[TableRow]:
    """Sizes (bytes) and live/dead tuple counts of ``names`` in the current schema, largest first."""
    rows = session.execute(
        text(
            "SELECT c.relname, pg_total_relation_size(c.oid), pg_relation_size(c.oid), "
            "pg_indexes_size(c.oid), coalesce(s.n_live_tup, 0), coalesce(s.n_dead_tup, 0), "
            "greatest(s.last_vacuum, s.last_autovacuum), greatest(s.last_analyze, s.last_autoanalyze) "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid "
            "WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname = ANY(:names) "
            "ORDER BY pg_total_relation_size(c.oid) DESC, c.relname"
        ),
        {"names": list(names)},
    ).all()
    return [
        TableRow(
            table_name=name,
            total_bytes=int(total),
            table_bytes=int(heap),
            index_bytes=int(indexes),
            live_rows=int(live),
            dead_rows=int(dead),
            dead_ratio=(dead / (live + dead)) if live + dead else 0.0,
            last_vacuum=vacuumed,
            last_analyze=analyzed,
        )
        for name, total, heap, indexes, live, dead, vacuumed, analyzed in rows
    ]


def save_table_stats(
    session: Session, rows: Sequence[TableRow], *, as_of: dt.date, run_id: uuid.UUID
) -> None:
    """Record one run's measurements."""
    if rows:
        session.execute(
            insert(TableStat).values(
                [{**row.__dict__, "run_id": run_id, "as_of_date": as_of} for row in rows]
            )
        )
