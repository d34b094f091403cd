"""The run ledger as seen by the flows: open a run row, close it with its outcome."""

import datetime as dt
import uuid
from collections.abc import Mapping

from sigmasight.db import session_scope
from sigmasight.repositories import runs


def open_run(
    flow: str,
    *,
    as_of: dt.date | None,
    inputs: Mapping[str, object],
    run_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Insert (or restart) the run row; its id is the Prefect flow-run id when there is one."""
    with session_scope() as session:
        return runs.start_run(session, flow, as_of=as_of, inputs=inputs, run_id=run_id)


def close_run(
    run_id: uuid.UUID,
    status: str,
    *,
    counts: Mapping[str, object] | None = None,
    timings: Mapping[str, object] | None = None,
    error: str | None = None,
) -> None:
    """Record how the run ended (succeeded, failed or skipped)."""
    with session_scope() as session:
        runs.finish_run(session, run_id, status, counts=counts, timings=timings, error=error)
