"""The run ledger as seen by the flows: guard a run, open its row, close it with its outcome.

Every flow that opens a ledger row runs inside :func:`run_guard`, which holds the
PostgreSQL advisory lock ``sigmasight:<flow>:<as_of>`` for as long as the flow runs. So a
second run of the same flow and date is refused at once (never a duplicate, never a wait
on a lock), and a ``running`` row whose lock nobody holds belongs to a process that died
(``kill -9``, a lost machine): :func:`reconcile_stale_runs` marks it ``crashed``, and a
backup it left ``uploading`` ``failed``, the next time any guarded run starts.
"""

import datetime as dt
import logging
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from sigmasight.db import advisory_lock, lock_is_held, session_scope
from sigmasight.repositories import backups, runs

log = logging.getLogger(__name__)


class RunAlreadyActive(RuntimeError):
    """Another run of the same flow and date holds the guard."""


def lock_name(flow: str, as_of: dt.date | None) -> str:
    """The advisory lock of one flow and date."""
    return f"sigmasight:{flow}:{as_of.isoformat() if as_of else '-'}"


@contextmanager
def run_guard(flow: str, as_of: dt.date | None) -> Iterator[None]:
    """Hold the (flow, date) lock while the block runs; :class:`RunAlreadyActive` if taken."""
    with advisory_lock(lock_name(flow, as_of)) as taken:
        if not taken:
            raise RunAlreadyActive(
                f"{flow} for {as_of or 'today'} is already running in another process; "
                "this run does nothing (re-run it once that one has finished)"
            )
        reconcile_stale_runs()
        yield


def reconcile_stale_runs() -> dict[str, int]:
    """Mark ``running`` rows whose guard is free ``crashed``; fail their orphaned uploads."""
    with session_scope() as session:
        candidates = [(r.id, r.flow, r.as_of_date) for r in runs.running_runs(session)]
    dead = [run_id for run_id, flow, day in candidates if not lock_is_held(lock_name(flow, day))]
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    with session_scope() as session:
        crashed = runs.mark_crashed(
            session, dead, f"the run's process stopped without closing it (found at {stamp})"
        )
        failed = backups.fail_orphaned_uploads(
            session, f"the upload's run stopped before it finished (found at {stamp})"
        )
    if crashed or failed:
        log.warning("reconciled %d crashed run(s) and %d orphaned upload(s)", crashed, failed)
    return {"crashed": crashed, "uploads_failed": failed}


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
