"""The ``backup`` flow: stream ``pg_dump`` into S3 with a checksum and manifest, then retention."""

import datetime as dt
from typing import Any

from prefect import State, flow

from tasks.backup import apply_retention, dump_database, publish_backup_summary
from tasks.ledger import close_run, guarded, mark_run_failed, open_run


def utc_today() -> dt.date:
    """The UTC date: backup keys and retention use UTC dates."""
    return dt.datetime.now(dt.UTC).date()


@flow(name="backup", on_failure=[mark_run_failed], on_crashed=[mark_run_failed])
def backup_database() -> dict[str, Any] | State[Any]:
    """Back the database up to S3 (streamed, checksummed, with a manifest); apply retention."""
    with guarded("backup", utc_today()) as refused:
        if refused is not None:
            return refused
        run_id = open_run("backup", utc_today(), {})
        result = dump_database(run_id)
        retention = apply_retention()
        publish_backup_summary(result, retention)
        counts = {
            "size_bytes": result["size_bytes"],
            "tables": result["tables"],
            "rows": result["rows"],
            "kept": len(retention["kept"]),
            "deleted": len(retention["deleted"]),
        }
        close_run(run_id, "succeeded", counts, {"backup_s": result["seconds"], **result["timings"]})
        return {"run_id": str(run_id), **result, "retention_deleted": retention["deleted"]}
