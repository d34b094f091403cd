"""The run ledger (``flow_run``): every flow run and import leaves one row."""

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from models import FlowRun


def start_run(
    session: Session,
    flow: str,
    *,
    as_of: dt.date | None = None,
    inputs: Mapping[str, Any] | None = None,
    run_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Insert a ``running`` row and return its id (the Prefect flow-run id when given)."""
    new_id = run_id or uuid.uuid4()
    values = {
        "id": new_id,
        "flow": flow,
        "as_of_date": as_of,
        "status": "running",
        "inputs": dict(inputs or {}),
    }
    stmt = insert(FlowRun).values(**values)
    # A Prefect retry of the same flow run reuses its id: start it over.
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[FlowRun.id],
            set_={
                "status": "running",
                "started_at": func.now(),
                "finished_at": None,
                "error": None,
            },
        )
    )
    return new_id


def finish_run(
    session: Session,
    run_id: uuid.UUID,
    status: str,
    *,
    counts: Mapping[str, Any] | None = None,
    timings: Mapping[str, Any] | None = None,
    error: str | None = None,
) -> None:
    """Record how a run ended."""
    values: dict[str, Any] = {"status": status, "finished_at": func.now(), "error": error}
    if counts is not None:
        values["counts"] = dict(counts)
    if timings is not None:
        values["timings"] = dict(timings)
    session.execute(update(FlowRun).where(FlowRun.id == run_id).values(**values))


def record_finished_run(
    session: Session,
    run_id: uuid.UUID,
    flow: str,
    *,
    started_at: dt.datetime,
    inputs: Mapping[str, Any],
    counts: Mapping[str, Any],
) -> None:
    """Insert the ledger row of a short job (an import) that has already succeeded."""
    session.add(
        FlowRun(
            id=run_id,
            flow=flow,
            status="succeeded",
            started_at=started_at,
            finished_at=dt.datetime.now(dt.UTC),
            inputs=dict(inputs),
            counts=dict(counts),
        )
    )
    session.flush()


def list_runs(session: Session, *, limit: int = 20) -> list[FlowRun]:
    """Most recent runs first."""
    return list(session.scalars(select(FlowRun).order_by(FlowRun.started_at.desc()).limit(limit)))


def running_runs(session: Session) -> list[FlowRun]:
    """Ledger rows still marked ``running``, oldest first."""
    return list(
        session.scalars(
            select(FlowRun).where(FlowRun.status == "running").order_by(FlowRun.started_at)
        )
    )


def mark_crashed(session: Session, run_ids: Sequence[uuid.UUID], reason: str) -> int:
    """Mark ``running`` rows crashed (their process is gone); returns how many."""
    if not run_ids:
        return 0
    result = session.execute(
        update(FlowRun)
        .where(FlowRun.id.in_(list(run_ids)), FlowRun.status == "running")
        .values(status="crashed", finished_at=func.now(), error=reason)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
