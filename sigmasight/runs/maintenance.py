"""Database maintenance: VACUUM (ANALYZE) every SigmaSight table and record sizes and bloat.

Bloat is estimated from PostgreSQL's own statistics (dead tuples as a share of all tuples in
``pg_stat_user_tables``), which needs no extension and is what autovacuum itself looks at.
"""

import datetime as dt
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import text

from models import Base
from sigmasight.db import autocommit_connection, session_scope
from sigmasight.repositories.maintenance import TableRow, save_table_stats, table_stats


@dataclass(frozen=True)
class MaintenanceReport:
    """What a maintenance run did and found."""

    vacuumed: tuple[str, ...]
    seconds: float
    tables: tuple[TableRow, ...]

    @property
    def total_bytes(self) -> int:
        """Size of every SigmaSight table with its indexes."""
        return sum(row.total_bytes for row in self.tables)


def run_maintenance(*, as_of: dt.date, run_id: uuid.UUID, vacuum: bool = True) -> MaintenanceReport:
    """VACUUM (ANALYZE) each table (ANALYZE only when ``vacuum`` is false), then measure."""
    started = time.perf_counter()
    names = [table.name for table in Base.metadata.sorted_tables]
    with autocommit_connection() as conn:
        for name in names:
            # Table names come from our own metadata, never from input.
            conn.execute(text(f'{"VACUUM (ANALYZE)" if vacuum else "ANALYZE"} "{name}"'))
    with session_scope() as session:
        rows = table_stats(session, names)
        save_table_stats(session, rows, as_of=as_of, run_id=run_id)
    return MaintenanceReport(tuple(names), time.perf_counter() - started, tuple(rows))
