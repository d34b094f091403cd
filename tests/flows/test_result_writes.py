"""Stored results are the computed doubles bit for bit, and writing them again changes no row."""

import datetime as dt
import math
import struct
import uuid
from typing import Any

import numpy as np
import orjson
import pandas as pd
from sqlalchemy import text

from flows.market_data import pull_market_data
from flows.nightly_risk import nightly_risk
from sigmasight.dated_risk import compute_chunk, previous_of
from sigmasight.db import session_scope
from sigmasight.repositories import results as results_repo
from sigmasight.repositories import risk_inputs
from sigmasight.runs import risk as risk_run
from sigmasight.runs.seed import seed_demo
from sigmasight.settings import get_settings
from tests.dbstate import table_digests

AS_OF = dt.date(2026, 11, 25)


def bits(value: Any) -> Any:
    """Doubles as their 64 bits (NaN and None as None: both are stored as NULL)."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else struct.pack(">d", float(value))
    if isinstance(value, np.ndarray):
        return bits(value.tolist())
    if isinstance(value, list | tuple):
        return [bits(v) for v in value]
    if isinstance(value, dict):
        return {k: bits(v) for k, v in value.items()}
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def computed_again(run_id: uuid.UUID) -> dict[str, pd.DataFrame]:
    """The run's frames computed once more, in this process, from the same inputs."""
    settings = get_settings()
    prepared = risk_run.load_market(settings, AS_OF)
    with session_scope() as session:
        ids = risk_inputs.list_portfolio_ids(session)
        rows = risk_inputs.load_timelines(
            session, ids, through=AS_OF, actions=prepared.book_actions
        )
        previous = previous_of(results_repo.previous_snapshots(session, ids, before=AS_OF))
    return compute_chunk(prepared, rows, previous, run_id=run_id, detail=prepared.detail).frames


def stored(table: str, columns: list[str]) -> list[tuple[Any, ...]]:
    with session_scope() as session:
        names = ", ".join(f'"{c}"' for c in columns)
        found = session.execute(text(f"SELECT {names} FROM {table}")).all()
    return [tuple(r) for r in found]


def by_key(rows: list[tuple[Any, ...]], columns: list[str], table: str) -> dict[Any, Any]:
    key = [columns.index(k) for k in results_repo.RESULT_KEYS[table] if k in columns]
    found = {tuple(bits([r[i] for i in key])): bits(r) for r in rows}
    assert len(found) == len(rows), f"{table}: duplicate keys"
    return found


def test_stored_doubles_are_the_computed_ones_and_a_rewrite_changes_nothing(engine):
    seed_demo(AS_OF)
    assert pull_market_data(
        as_of=AS_OF, provider="synthetic", backfill_years=1, return_state=True
    ).is_completed()
    assert nightly_risk(as_of=AS_OF, return_state=True).is_completed()
    with engine.connect() as conn:
        run_id = conn.execute(text("SELECT DISTINCT run_id FROM position_risk")).scalar_one()

    frames = computed_again(run_id)
    assert set(frames) == set(results_repo.RESULT_KEYS)
    checked_doubles = 0
    for table, frame in frames.items():
        columns = [str(c) for c in frame.columns]
        expected = [
            tuple(
                orjson.loads(v) if c in ("document", "warnings", "clusters") else v
                for c, v in zip(columns, row, strict=True)
            )
            for row in frame.itertuples(index=False)
        ]
        assert expected, table
        found = stored(table, columns)
        assert by_key(found, columns, table) == by_key(expected, columns, table), table
        checked_doubles += sum(1 for r in found for v in r if isinstance(v, float))
    assert checked_doubles > 1000

    # The same rows written again (the COPY meets the unique keys and falls back to the
    # merge): nothing is rewritten, every row keeps its run id and its xmin.
    before = table_digests(engine)
    with engine.connect() as conn:
        versions = conn.execute(
            text("SELECT string_agg(xmin::text, ',' ORDER BY id) FROM position_risk")
        ).scalar()
    rerun = uuid.uuid4()
    again = {t: f.assign(run_id=str(rerun)) for t, f in frames.items()}
    with session_scope() as session:
        assert results_repo.save_chunk(session, again) == dict.fromkeys(frames, 0)
    assert table_digests(engine) == before
    with engine.connect() as conn:
        assert conn.execute(
            text("SELECT string_agg(xmin::text, ',' ORDER BY id) FROM position_risk")
        ).scalar() == (versions)
        assert (
            conn.execute(
                text("SELECT count(*) FROM position_risk WHERE run_id = :r"), {"r": rerun}
            ).scalar_one()
            == 0
        )
