"""The reference the write stage is held to (issue 15): a raw binary COPY of the same rows.

After a risk run, :func:`measure_raw_copy` reads the rows the run stored for one date out of
each result table in PostgreSQL's binary COPY format (not timed), then times loading exactly
those bytes with ``COPY ... FROM STDIN (FORMAT binary)`` into a fresh table built ``LIKE`` the
result table ``INCLUDING ALL`` (same columns, defaults, indexes and constraints apart from
foreign keys), and drops it. No row is converted in Python and nothing is merged, so the
figure is what the server needs to take these rows at all: the floor a write path can reach.
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from sigmasight.repositories.results import RESULT_KEYS

#: The result tables a risk run writes, each filtered by its date column.
RESULT_TABLES: tuple[str, ...] = tuple(RESULT_KEYS)


@dataclass
class CopyReference:
    """Rows and seconds of the raw binary COPY, in total and per table."""

    rows: int = 0
    seconds: float = 0.0
    bytes: int = 0
    per_table: dict[str, tuple[int, float]] = field(default_factory=dict)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("nan")


def measure_raw_copy(
    conninfo: str, as_of: str, tables: Sequence[str] = RESULT_TABLES
) -> CopyReference:
    """Time a raw binary COPY of the rows of ``as_of`` (ISO date) in ``tables``."""
    found = CopyReference()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for table in tables:
            source = sql.Identifier(table)
            scratch = sql.Identifier(f"copy_reference_{table}")
            payload = bytearray()
            with (
                conn.cursor() as cursor,
                cursor.copy(
                    sql.SQL(
                        "COPY (SELECT * FROM {} WHERE as_of_date = {}) TO STDOUT (FORMAT binary)"
                    ).format(source, sql.Literal(as_of))
                ) as copy,
            ):
                for block in copy:
                    payload += block
            count = conn.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE as_of_date = {}").format(
                    source, sql.Literal(as_of)
                )
            ).fetchone()
            rows = int(count[0]) if count else 0
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(scratch))
            conn.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(scratch, source))
            try:
                started = time.perf_counter()
                with (
                    conn.transaction(),
                    conn.cursor() as cursor,
                    cursor.copy(
                        sql.SQL("COPY {} FROM STDIN (FORMAT binary)").format(scratch)
                    ) as copy,
                ):
                    copy.write(bytes(payload))
                seconds = time.perf_counter() - started
            finally:
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(scratch))
            found.per_table[table] = (rows, seconds)
            found.rows += rows
            found.seconds += seconds
            found.bytes += len(payload)
    return found
