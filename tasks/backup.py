"""Backup tasks: thin wrappers over the run steps in ``sigmasight.runs.backup``."""

import time
import uuid
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from sigmasight.backup.errors import VerificationError
from sigmasight.runs import backup
from sigmasight.settings import get_settings

MiB = 1024 * 1024


class _ProgressLog:
    """Log bytes done at most every ``every_s`` seconds (a dump can take minutes)."""

    def __init__(self, label: str, every_s: float = 10.0) -> None:
        self.label = label
        self.every_s = every_s
        self.last = time.monotonic()

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        if now - self.last >= self.every_s:
            self.last = now
            get_run_logger().info("%s: %.0f MiB so far", self.label, done / MiB)


# No Prefect retries: boto3 retries each request itself, and a retried dump is a new backup.
@task
def dump_database(run_id: uuid.UUID) -> dict[str, Any]:
    """Stream ``pg_dump`` into S3 with its sha256 and manifest; the backup row says how it went."""
    outcome = backup.run_backup(get_settings(), run_id, progress=_ProgressLog("uploaded"))
    get_run_logger().info(
        "backup %s: %.1f MiB in %d parts (%.1f MiB/s), %d tables, %d rows, sha256 %s",
        outcome.key,
        outcome.size_bytes / MiB,
        outcome.parts,
        outcome.mib_per_s,
        outcome.tables,
        outcome.rows,
        outcome.sha256,
    )
    return {
        "key": outcome.key,
        "bucket": outcome.bucket,
        "size_bytes": outcome.size_bytes,
        "sha256": outcome.sha256,
        "parts": outcome.parts,
        "tables": outcome.tables,
        "rows": outcome.rows,
        "database": outcome.database_name,
        "server_version": outcome.server_version,
        "seconds": outcome.seconds,
        "timings": outcome.timings,
    }


@task
def apply_retention() -> dict[str, Any]:
    """Delete the backups the retention policy does not keep."""
    outcome = backup.apply_retention(get_settings())
    get_run_logger().info(
        "retention: kept %d backups, deleted %d%s",
        len(outcome.kept),
        len(outcome.deleted),
        (": " + ", ".join(outcome.deleted)) if outcome.deleted else "",
    )
    return {"kept": outcome.kept, "deleted": outcome.deleted}


@task
def publish_backup_summary(result: dict[str, Any], retention: dict[str, Any]) -> None:
    """A markdown artifact: the new backup and what retention kept and deleted."""
    kept = retention["kept"]
    lines = [
        f"# Backup `{result['key']}`",
        "",
        "| | |",
        "|---|---|",
        f"| bucket | `{result['bucket']}` |",
        f"| database | `{result['database']}` (PostgreSQL {result['server_version']}) |",
        f"| size | {result['size_bytes'] / MiB:,.1f} MiB in {result['parts']} parts |",
        f"| sha256 | `{result['sha256']}` |",
        f"| tables / rows | {result['tables']} / {result['rows']:,} |",
        f"| duration | {result['seconds']:.1f} s |",
        "",
        f"## Retention: {len(kept)} kept, {len(retention['deleted'])} deleted",
        "",
        "| key | kept because |",
        "|---|---|",
        *(f"| `{key}` | {reason} |" for key, reason in sorted(kept.items(), reverse=True)),
        *(f"| `{key}` | deleted |" for key in retention["deleted"]),
    ]
    create_markdown_artifact(
        markdown="\n".join(lines), key="backup-summary", description="Database backup"
    )


@task
def choose_backup_to_verify(key: str | None) -> str:
    """``key`` when given, else the newest completed (or verified) backup."""
    if key:
        return key
    newest = backup.newest_good_key()
    if newest is None:
        raise VerificationError("there is no completed backup to verify: run the backup flow first")
    get_run_logger().info("verifying the newest completed backup, %s", newest)
    return newest


@task
def verify_dump(key: str) -> dict[str, Any]:
    """Download, check the sha256, restore into a scratch database and compare row counts."""
    outcome = backup.verify_backup(get_settings(), key, progress=_ProgressLog("downloaded"))
    get_run_logger().info(
        "backup %s verified: sha256 matches, %d tables restored with the manifest's row counts "
        "(%.1f s)",
        key,
        len(outcome.tables),
        outcome.seconds,
    )
    create_table_artifact(
        key="backup-verify",
        table=[{"table": name, "rows": rows} for name, rows in sorted(outcome.tables.items())],
        description=f"Backup {key} restored into a scratch database; every count matched its manifest",
    )
    return {
        "key": key,
        "sha256": outcome.sha256,
        "size_bytes": outcome.size_bytes,
        "tables": len(outcome.tables),
        "rows": sum(outcome.tables.values()),
        "seconds": outcome.seconds,
    }
