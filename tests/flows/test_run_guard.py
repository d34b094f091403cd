"""One run per flow and date at a time; runs whose process died are found and marked crashed."""

import datetime as dt
import uuid

import pytest
from sqlalchemy import text

from flows.nightly import nightly
from flows.nightly_risk import nightly_risk
from sigmasight.db import advisory_lock
from sigmasight.runs.ledger import RunAlreadyActive, lock_name, run_guard

AS_OF = dt.date(2026, 11, 25)


def _rows(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).all()


def _insert_run(engine, flow: str, day: dt.date) -> uuid.UUID:
    run_id = uuid.uuid4()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO flow_run (id, flow, as_of_date, status) VALUES (:i, :f, :d, 'running')"
            ),
            {"i": run_id, "f": flow, "d": day},
        )
    return run_id


def test_a_second_run_of_the_same_flow_and_date_is_refused(engine):
    with run_guard("nightly-risk", AS_OF):
        with (
            pytest.raises(RunAlreadyActive, match="nightly-risk for 2026-11-25 is already running"),
            run_guard("nightly-risk", AS_OF),
        ):
            pass
        with run_guard("nightly-risk", AS_OF - dt.timedelta(days=1)):  # another date is free
            pass
    with run_guard("nightly-risk", AS_OF):  # released when the first one ended
        pass


def test_the_flow_skips_with_a_clear_message_while_another_holds_the_date(engine):
    with advisory_lock(lock_name("nightly-risk", AS_OF)) as taken:
        assert taken
        state = nightly_risk(as_of=AS_OF, return_state=True)
    assert state.is_completed() and state.name == "Skipped"
    assert "already running in another process" in str(state.message)
    # it did nothing: no ledger row, no results
    assert _rows(engine, "SELECT count(*) FROM flow_run")[0][0] == 0
    assert _rows(engine, "SELECT count(*) FROM portfolio_snapshot")[0][0] == 0


def test_runs_whose_process_died_are_marked_crashed_and_their_uploads_failed(engine):
    dead = _insert_run(engine, "nightly-risk", AS_OF)
    alive = _insert_run(engine, "market-data", AS_OF)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO backup (run_id, as_of_date, bucket, key, status, database_name) "
                "VALUES (:r, :d, 'b', 'backups/x.dump', 'uploading', 'db')"
            ),
            {"r": dead, "d": AS_OF},
        )
    # the market-data run is still alive: its process holds its guard
    with advisory_lock(lock_name("market-data", AS_OF)) as taken:
        assert taken
        with run_guard("reports", AS_OF):
            pass
        statuses = dict(_rows(engine, "SELECT id, status FROM flow_run"))
    assert statuses == {dead: "crashed", alive: "running"}
    error = _rows(engine, "SELECT error FROM flow_run WHERE id = :i", i=dead)[0][0]
    assert "stopped without closing it" in error
    backup = _rows(engine, "SELECT status, error FROM backup")[0]
    assert backup[0] == "failed" and "stopped before it finished" in backup[1]


def test_the_nightly_parent_has_a_ledger_row_and_a_failure_hook(engine, monkeypatch):
    """A failing nightly run leaves a failed `nightly` row (the hook), not just its children."""
    import flows.nightly as module

    def broken(**_: object) -> None:
        raise RuntimeError("vendor down")

    monkeypatch.setattr(module, "pull_market_data", broken)
    state = nightly(as_of=AS_OF, return_state=True)
    assert state.is_failed()
    rows = _rows(engine, "SELECT flow, status, error FROM flow_run WHERE flow = 'nightly'")
    assert len(rows) == 1 and rows[0][1] == "failed" and "vendor down" in rows[0][2]
