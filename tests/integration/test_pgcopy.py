"""The binary COPY encoder against PostgreSQL: every kind, NULLs, and doubles bit for bit.

The reference is psycopg's own binary ``write_row`` of the same rows (an independent
encoder); what each loads is read back and compared exactly, doubles by their bits.
"""

import datetime as dt
import math
import struct
import uuid
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pytest
from sqlalchemy import Engine

from sigmasight import db as sdb
from sigmasight import pgcopy

KINDS = {
    "i4": "int4",
    "i8": "int8",
    "i2": "int2",
    "f": "float8",
    "b": "bool",
    "d": "date",
    "u": "uuid",
    "t": "text",
    "j": "jsonb",
    "fa": "float8[]",
    "ta": "text[]",
}
SQL_TYPES = {
    "int4": "integer",
    "int8": "bigint",
    "int2": "smallint",
    "float8": "double precision",
    "bool": "boolean",
    "date": "date",
    "uuid": "uuid",
    "text": "text",
    "jsonb": "jsonb",
    "float8[]": "double precision[]",
    "text[]": "text[]",
}
SPECIAL = [
    0.0,
    -0.0,
    5e-324,
    2.2250738585072014e-308,
    1.7976931348623157e308,
    -1e-300,
    0.1 + 0.2,
    math.inf,
    -math.inf,
]


def bits(value: Any) -> Any:
    """A value with every double replaced by its 64 bits (so -0.0 != 0.0, NaN is exact)."""
    if isinstance(value, float):
        return struct.pack(">d", value)
    if isinstance(value, list | tuple):
        return [bits(v) for v in value]
    return value


def rows_frame(n: int, seed: int) -> tuple[pd.DataFrame, list[tuple[Any, ...]]]:
    """A frame of ``n`` rows with NULLs in every column, and the same rows as Python values."""
    rng = np.random.default_rng(seed)
    floats = rng.standard_normal(n) * 10.0 ** rng.integers(-300, 300, n)
    floats[: len(SPECIAL)] = SPECIAL[:n]
    null = rng.random(n) < 0.2
    run = uuid.uuid4()
    day = dt.date(2026, 12, 2)
    symbols = [f"S{i % 37}é" if i % 5 else "" for i in range(n)]
    factors = ("SPY", "QQQ", "IWM")
    betas = [rng.standard_normal(3) for _ in range(n)]
    for i in range(0, n, 7):
        betas[i][1] = np.nan
    matrices = [rng.standard_normal((i % 4, i % 4)) for i in range(n)]
    for m in matrices[3::5]:
        if m.size:
            m[0, -1] = np.nan
    frame = pd.DataFrame(
        {
            "i4": np.arange(n, dtype=np.int64),
            "i8": pd.array([None if x else i * 2**40 for i, x in enumerate(null)], dtype="Int64"),
            "i2": np.arange(n, dtype=np.int64) % 300 - 150,
            "f": np.where(null, np.nan, floats),
            "b": pd.array([None if x else i % 2 == 0 for i, x in enumerate(null)], dtype="boolean"),
            "d": [None if x else day - dt.timedelta(days=i) for i, x in enumerate(null)],
            "u": [None if x else str(run) for x in null],
            "t": [None if x else s for s, x in zip(symbols, null, strict=True)],
            "j": [None if x else f'{{"k": [{i}, null, "x"]}}' for i, x in enumerate(null)],
            "fa": betas,
            "ta": [None if x else factors for x in null],
        }
    )
    frame["m"] = pd.Series(matrices, dtype=object)
    expected = []
    for i in range(n):

        def opt(value: Any, i: int = i) -> Any:
            return None if null[i] else value

        expected.append(
            (
                i,
                opt(i * 2**40),
                i % 300 - 150,
                opt(float(floats[i])),
                opt(i % 2 == 0),
                opt(day - dt.timedelta(days=i)),
                opt(run),
                opt(symbols[i]),
                opt({"k": [i, None, "x"]}),
                [None if math.isnan(v) else v for v in betas[i].tolist()],
                opt(list(factors)),
                [[None if math.isnan(v) else v for v in r] for r in matrices[i].tolist()],
            )
        )
    return frame, expected


def kinds_of(frame: pd.DataFrame) -> list[str]:
    return [KINDS.get(str(c), "float8[]") for c in frame.columns]


def load(conn: psycopg.Connection[Any], payload: bytes) -> list[tuple[Any, ...]]:
    conn.execute("TRUNCATE copy_test")
    with conn.cursor() as cursor, cursor.copy("COPY copy_test FROM STDIN (FORMAT binary)") as copy:
        copy.write(payload)
    return conn.execute("SELECT * FROM copy_test ORDER BY i4").fetchall()


@pytest.fixture
def conn(engine: Engine) -> Any:
    with psycopg.connect(sdb.libpq_conninfo(engine.url)) as connection:
        frame, _ = rows_frame(1, 0)
        columns = ", ".join(
            f"{c} {SQL_TYPES[k]}" for c, k in zip(frame.columns, kinds_of(frame), strict=True)
        )
        connection.execute(f"CREATE TEMP TABLE copy_test ({columns})")
        yield connection


@pytest.mark.parametrize(
    ("n", "part_rows"),
    [(1, 8192), (40, 8192), (pgcopy.JOIN_ROWS + 300, 8192), (5000, 1500)],
    ids=["one-row", "joined", "records", "several-parts"],
)
def test_every_kind_loads_exactly_as_computed(conn, n, part_rows):
    frame, expected = rows_frame(n, n)
    payload = b"".join(pgcopy.encode_parts(frame, kinds_of(frame), part_rows))
    stored = load(conn, payload)
    assert [bits(tuple(r)) for r in stored] == [bits(r) for r in expected]


def test_it_loads_what_psycopg_write_row_loads(conn):
    frame, expected = rows_frame(3000, 7)
    ours = load(conn, pgcopy.encode(frame, kinds_of(frame)))
    conn.execute("TRUNCATE copy_test")
    with conn.cursor() as cursor, cursor.copy("COPY copy_test FROM STDIN (FORMAT binary)") as copy:
        copy.set_types([SQL_TYPES[k] for k in kinds_of(frame)])
        for row in expected:
            copy.write_row(row)
    theirs = conn.execute("SELECT * FROM copy_test ORDER BY i4").fetchall()
    assert [bits(tuple(r)) for r in ours] == [bits(tuple(r)) for r in theirs]


def test_an_empty_frame_and_unknown_kinds():
    frame, _ = rows_frame(3, 1)
    assert pgcopy.encode(frame.iloc[:0], kinds_of(frame)) == pgcopy.SIGNATURE + pgcopy.TRAILER
    with pytest.raises(ValueError, match="'i4': 'numeric'"):
        pgcopy.encode(frame, ["numeric", *kinds_of(frame)[1:]])
    with pytest.raises(ValueError, match="columns but"):
        pgcopy.encode(frame, kinds_of(frame)[1:])
