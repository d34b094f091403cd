"""The db-maintenance flow vacuums, measures every table and records the measurements."""

import datetime as dt

from sqlalchemy import text

from flows.db_maintenance import db_maintenance
from models import Base
from sigmasight.runs.seed import seed_demo


def test_maintenance_records_every_table(engine):
    seed_demo(dt.date(2025, 11, 24))
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM position WHERE symbol = 'AAPL'"))  # leaves dead tuples
    state = db_maintenance(return_state=True)
    assert state.is_completed(), state.message
    result = state.result()
    assert isinstance(result, dict)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT table_name, total_bytes, live_rows, last_vacuum FROM table_stat")
        ).all()
        run = conn.execute(
            text("SELECT status, counts FROM flow_run WHERE flow = 'db-maintenance'")
        ).one()
    assert {r.table_name for r in rows} == {t.name for t in Base.metadata.sorted_tables}
    by_name = {r.table_name: r for r in rows}
    assert by_name["position"].live_rows == 63 - 3  # three demo books hold AAPL
    assert by_name["position"].last_vacuum is not None
    assert all(r.total_bytes > 0 for r in rows)
    assert run.status == "succeeded"
    assert run.counts["tables"] == len(rows) == result["tables"]
