"""The ``backup-verify`` flow: prove the newest backup restores and matches its manifest."""

from typing import Any

from prefect import State, flow

from flows.backup import utc_today
from tasks.backup import choose_backup_to_verify, verify_dump
from tasks.ledger import close_run, guarded, mark_run_failed, open_run


@flow(name="backup-verify", on_failure=[mark_run_failed], on_crashed=[mark_run_failed])
def verify_backup(key: str | None = None) -> dict[str, Any] | State[Any]:
    """Restore the newest completed backup (or ``key``) into a scratch database and check it.

    A checksum or row-count mismatch marks the backup failed and fails this run with the reason.
    """
    with guarded("backup-verify", utc_today()) as refused:
        if refused is not None:
            return refused
        run_id = open_run("backup-verify", utc_today(), {"key": key})
        chosen = choose_backup_to_verify(key)
        result = verify_dump(chosen)
        close_run(
            run_id,
            "succeeded",
            {
                "tables": result["tables"],
                "rows": result["rows"],
                "size_bytes": result["size_bytes"],
            },
            {"verify_s": result["seconds"]},
        )
        return {"run_id": str(run_id), **result}
