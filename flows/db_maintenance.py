"""The ``db-maintenance`` flow: VACUUM (ANALYZE), then table and index sizes and bloat."""

import datetime as dt
from typing import Any

from prefect import State, flow

from tasks.ledger import close_run, guarded, mark_run_failed, open_run
from tasks.maintenance import maintain_database


@flow(name="db-maintenance", on_failure=[mark_run_failed], on_crashed=[mark_run_failed])
def db_maintenance(vacuum: bool = True) -> dict[str, Any] | State[Any]:
    """Vacuum and analyze every SigmaSight table; record and show sizes and dead-tuple shares."""
    today = dt.date.today()
    with guarded("db-maintenance", today) as refused:
        if refused is not None:
            return refused
        run_id = open_run("db-maintenance", today, {"vacuum": vacuum})
        report = maintain_database(today, run_id, vacuum)
        counts = {"tables": len(report.tables), "total_bytes": report.total_bytes}
        close_run(run_id, "succeeded", counts, {"maintenance_s": round(report.seconds, 3)})
        return counts
