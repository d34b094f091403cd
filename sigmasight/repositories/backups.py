"""Backup rows (``backup``) and the catalog reads a backup needs (snapshot, row counts).

The catalog functions work on any database (the source, a scratch restore, a restore target):
they take a session bound to it.
"""

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, func, select, table, text, update
from sqlalchemy.orm import Session

from models import Backup, FlowRun
from sigmasight.backup.keys import GOOD_STATUSES as GOOD_STATUSES  # re-export


@dataclass(frozen=True)
class BackupRecord:
    """One row of ``backup``."""

    key: str
    bucket: str
    status: str
    database_name: str
    server_version: str | None
    size_bytes: int | None
    sha256: str | None
    created_at: dt.datetime
    verified_at: dt.datetime | None
    error: str | None
    as_of_date: dt.date
    run_id: uuid.UUID


@dataclass(frozen=True)
class ServerInfo:
    """The server and database a session is connected to."""

    database: str
    version: str
    version_num: int
    database_size_bytes: int

    @property
    def major(self) -> int:
        """Major version (``180001`` -> 18)."""
        return self.version_num // 10000


def _record(row: Backup) -> BackupRecord:
    return BackupRecord(
        key=row.key,
        bucket=row.bucket,
        status=row.status,
        database_name=row.database_name,
        server_version=row.server_version,
        size_bytes=row.size_bytes,
        sha256=row.sha256,
        created_at=row.created_at,
        verified_at=row.verified_at,
        error=row.error,
        as_of_date=row.as_of_date,
        run_id=row.run_id,
    )


# ---- backup rows ----------------------------------------------------------------------------
def start_backup(
    session: Session,
    *,
    bucket: str,
    key: str,
    database_name: str,
    server_version: str,
    as_of: dt.date,
    run_id: uuid.UUID,
) -> None:
    """Insert the row of a backup being uploaded (status ``uploading``)."""
    session.add(
        Backup(
            bucket=bucket,
            key=key,
            status="uploading",
            database_name=database_name,
            server_version=server_version,
            as_of_date=as_of,
            run_id=run_id,
        )
    )
    session.flush()


def complete_backup(
    session: Session, key: str, *, size_bytes: int, sha256: str, manifest: Mapping[str, Any]
) -> None:
    """The upload completed and the manifest is stored: status ``completed``."""
    session.execute(
        update(Backup)
        .where(Backup.key == key)
        .values(
            status="completed",
            size_bytes=size_bytes,
            sha256=sha256,
            manifest=dict(manifest),
            error=None,
        )
    )


def fail_backup(session: Session, key: str, error: str) -> None:
    """The backup must never count: status ``failed`` with the reason."""
    session.execute(
        update(Backup).where(Backup.key == key).values(status="failed", error=error[:4000])
    )


def mark_verified(session: Session, key: str) -> None:
    """A restore of the backup matched its manifest: status ``verified``, now."""
    session.execute(
        update(Backup)
        .where(Backup.key == key)
        .values(status="verified", verified_at=func.now(), error=None)
    )


def mark_deleted(session: Session, keys: Iterable[str]) -> int:
    """Retention deleted these objects: status ``deleted`` (the row stays as history)."""
    keys = list(keys)
    if not keys:
        return 0
    result = session.execute(update(Backup).where(Backup.key.in_(keys)).values(status="deleted"))
    return int(getattr(result, "rowcount", 0) or 0)


def get_backup(session: Session, key: str) -> BackupRecord | None:
    """The row of ``key``, if recorded."""
    row = session.scalar(select(Backup).where(Backup.key == key))
    return _record(row) if row is not None else None


def list_backups(session: Session, *, include_deleted: bool = False) -> list[BackupRecord]:
    """Every recorded backup, newest first."""
    stmt = select(Backup).order_by(Backup.created_at.desc(), Backup.id.desc())
    if not include_deleted:
        stmt = stmt.where(Backup.status != "deleted")
    return [_record(row) for row in session.scalars(stmt)]


def newest_good_backup(session: Session) -> BackupRecord | None:
    """The newest backup with status completed or verified."""
    row = session.scalar(
        select(Backup)
        .where(Backup.status.in_(GOOD_STATUSES))
        .order_by(Backup.created_at.desc(), Backup.id.desc())
        .limit(1)
    )
    return _record(row) if row is not None else None


def statuses(session: Session, keys: Iterable[str]) -> dict[str, str]:
    """Status per recorded key among ``keys``."""
    keys = list(keys)
    if not keys:
        return {}
    rows = session.execute(select(Backup.key, Backup.status).where(Backup.key.in_(keys)))
    return {str(key): str(status) for key, status in rows.tuples()}


# ---- catalog reads (any database) ------------------------------------------------------------
_USER_TABLES = text(
    """
    SELECT n.nspname, c.relname
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = 'r'
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
      AND NOT EXISTS (  -- tables of extensions: pg_dump leaves their data to the extension
          SELECT 1 FROM pg_depend d
          WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
    ORDER BY 1, 2
    """
)


def server_info(session: Session) -> ServerInfo:
    """Database name, server version and database size."""
    row = session.execute(
        text(
            "SELECT current_database(), current_setting('server_version'), "
            "current_setting('server_version_num')::int, pg_database_size(current_database())"
        )
    ).one()
    return ServerInfo(
        database=str(row[0]),
        version=str(row[1]).split()[0],
        version_num=int(row[2]),
        database_size_bytes=int(row[3]),
    )


def export_snapshot(session: Session) -> str:
    """Export the transaction's snapshot for ``pg_dump --snapshot`` (repeatable read first)."""
    return str(session.execute(text("SELECT pg_export_snapshot()")).scalar_one())


def table_row_counts(session: Session) -> dict[str, int]:
    """Exact row count of every user table, keyed ``schema.table``, in the session's snapshot."""
    counts: dict[str, int] = {}
    for schema, name in session.execute(_USER_TABLES).all():
        stmt = select(func.count()).select_from(table(name, schema=schema))
        counts[f"{schema}.{name}"] = int(session.execute(stmt).scalar_one())
    return counts


def user_relation_count(session: Session) -> int:
    """Tables, views, sequences and foreign tables outside the system schemas."""
    return int(
        session.execute(
            text(
                """
                SELECT count(*)
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
                  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
                  AND NOT EXISTS (
                      SELECT 1 FROM pg_depend d
                      WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                        AND d.deptype = 'e')
                """
            )
        ).scalar_one()
    )


def fail_orphaned_uploads(session: Session, reason: str) -> int:
    """Backups left ``uploading`` by a run that is no longer running become ``failed``."""
    result = session.execute(
        update(Backup)
        .where(
            Backup.status == "uploading",
            ~exists().where(FlowRun.id == Backup.run_id, FlowRun.status == "running"),
        )
        .values(status="failed", error=reason)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
