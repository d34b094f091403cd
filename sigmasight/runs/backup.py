"""Backup run steps: back the database up to S3, apply retention, verify, restore, list.

A backup is ``pg_dump -Fc --no-owner --no-privileges`` of the configured database, run by
a ``pg_dump`` of the server's own major version, streamed from its stdout straight into an
S3 multipart upload in fixed-size parts (nothing is written to local disk and memory stays
flat: a few parts in flight). The sha256 is computed while streaming. Row counts per table
are taken in the dump's own snapshot: a repeatable-read transaction exports its snapshot,
``pg_dump --snapshot`` uses it, and the counts run in that transaction while it stays open.
A manifest (``<key>.manifest.json``) next to the dump records database, server version,
sizes, sha256, row counts and run id.

A backup counts only when its upload completed, its manifest was written and (later) a
restore matched it. A failing ``pg_dump`` or upload aborts the multipart upload, so no
partial object ever appears, and the row says ``failed`` with the reason.

The pieces (keys and retention, client tools, S3 streaming) are in :mod:`sigmasight.backup`;
these steps open the sessions, write the ``backup`` rows and put the pieces in order.
"""

import datetime as dt
import logging
import tempfile
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from sigmasight.backup.errors import BackupError, VerificationError
from sigmasight.backup.keys import (
    MANIFEST_FORMAT,
    compare_counts,
    dump_key,
    key_timestamp,
    manifest_key,
    retention_plan,
    stored_backups,
)
from sigmasight.backup.pgtools import pg_restore_into, pg_tool, safe_url, start_pg_dump
from sigmasight.backup.s3stream import (
    MiB,
    MultipartUpload,
    ProgressFn,
    delete_objects,
    download_verified,
    list_dump_keys,
    load_manifest,
    object_exists,
    put_manifest,
)
from sigmasight.db import (
    create_database,
    database_url,
    drop_database,
    get_sessionmaker,
    session_for,
    session_scope,
)
from sigmasight.domain import InputError
from sigmasight.objectstore import ObjectStore, object_store
from sigmasight.repositories import backups
from sigmasight.repositories.backups import ServerInfo
from sigmasight.settings import Settings

# One logger for the whole backup path, so log lines keep the name they always had.
log = logging.getLogger("sigmasight.backup")


# ---- backup ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class BackupOutcome:
    """A completed backup."""

    key: str
    bucket: str
    size_bytes: int
    sha256: str
    parts: int
    tables: int
    rows: int
    database_name: str
    server_version: str
    seconds: float
    manifest: dict[str, Any] = field(repr=False)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def mib_per_s(self) -> float:
        """Upload throughput of the dump bytes."""
        return self.size_bytes / MiB / self.seconds if self.seconds else 0.0


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _s3_message(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def run_backup(
    settings: Settings,
    run_id: uuid.UUID,
    *,
    store: ObjectStore | None = None,
    progress: ProgressFn | None = None,
) -> BackupOutcome:
    """Dump the configured database into S3 with its manifest; record the ``backup`` row.

    Raises :class:`BackupError` (after marking the row failed and aborting the upload) when
    ``pg_dump`` or the upload fails.
    """
    store = store or object_store(settings)
    url = database_url(settings)
    started = time.perf_counter()
    snapshot_session = get_sessionmaker()()
    try:
        snapshot_session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        info = backups.server_info(snapshot_session)
        snapshot = backups.export_snapshot(snapshot_session)
        pg_dump, pg_dump_version = pg_tool("pg_dump", info.version)
        created_at = _utc_now()
        key = dump_key(settings.backup_prefix, created_at, run_id)
        with session_scope() as session:
            backups.start_backup(
                session,
                bucket=store.bucket,
                key=key,
                database_name=info.database,
                server_version=info.version,
                as_of=created_at.date(),
                run_id=run_id,
            )
        log.info(
            "backing up %s (PostgreSQL %s, %.1f MiB on disk) to s3://%s/%s with %s",
            info.database,
            info.version,
            info.database_size_bytes / MiB,
            store.bucket,
            key,
            pg_dump,
        )
        try:
            outcome = _dump_and_upload(
                store,
                key,
                url,
                info,
                snapshot_session,
                snapshot,
                pg_dump,
                pg_dump_version,
                run_id,
                created_at,
                started,
                progress,
            )
        except BaseException as exc:
            reason = str(exc) if isinstance(exc, BackupError) else _s3_message(exc)
            with session_scope() as session:
                backups.fail_backup(session, key, reason)
            log.error("backup %s failed: %s", key, reason)
            if isinstance(exc, BackupError) or not isinstance(exc, Exception):
                raise
            raise BackupError(f"backup {key} failed: {reason}") from exc
    finally:
        try:
            snapshot_session.rollback()
            snapshot_session.close()
        except Exception as exc:  # e.g. idle_in_transaction_session_timeout ended it: harmless
            log.warning("closing the snapshot transaction: %s", exc)
            snapshot_session.invalidate()
    with session_scope() as session:
        backups.complete_backup(
            session,
            key,
            size_bytes=outcome.size_bytes,
            sha256=outcome.sha256,
            manifest=outcome.manifest,
        )
    return outcome


def _dump_and_upload(
    store: ObjectStore,
    key: str,
    url: URL,
    info: ServerInfo,
    snapshot_session: Session,
    snapshot: str,
    pg_dump: Path,
    pg_dump_version: str,
    run_id: uuid.UUID,
    created_at: dt.datetime,
    started: float,
    progress: ProgressFn | None,
) -> BackupOutcome:
    clock = {"start": time.perf_counter()}
    process, stderr = start_pg_dump(pg_dump, url, snapshot)
    assert process.stdout is not None
    # pg_dump imports the snapshot before it writes a byte; counting only then means a
    # failing count cannot end the exporting transaction under pg_dump's feet.
    process.stdout.peek(1)  # type: ignore[attr-defined]
    # Counted while pg_dump runs, in the exporting transaction: the dump's own snapshot.
    with ThreadPoolExecutor(1, thread_name_prefix="row-counts") as counter:
        counts_future = counter.submit(backups.table_row_counts, snapshot_session)
        try:
            with MultipartUpload(store.client, store.bucket, key, progress=progress) as upload:
                sha256 = upload.pump(process.stdout)
                clock["uploaded"] = time.perf_counter()
                returncode = process.wait()
                if returncode != 0:
                    raise BackupError(
                        f"pg_dump exited with status {returncode}: {stderr.text() or 'no message'}"
                    )
                if upload.size == 0:
                    raise BackupError("pg_dump produced no output")
                counts = counts_future.result()
                clock["counted"] = time.perf_counter()
                finished_at = _utc_now()
                manifest = build_manifest(
                    key=key,
                    bucket=store.bucket,
                    info=info,
                    pg_dump_version=pg_dump_version,
                    run_id=run_id,
                    created_at=created_at,
                    finished_at=finished_at,
                    size_bytes=upload.size,
                    sha256=sha256,
                    parts=upload.parts,
                    tables=counts,
                )
                upload.complete()
                clock["completed"] = time.perf_counter()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            process.stdout.close()
            stderr.close()
            counts_future.cancel()
    put_manifest(store, key, manifest)
    clock["manifest"] = time.perf_counter()
    timings = {
        "prepare_s": clock["start"] - started,
        "dump_s": upload.eof_at - clock["start"],
        "upload_tail_s": clock["uploaded"] - upload.eof_at,
        "counts_wait_s": clock["counted"] - clock["uploaded"],
        "complete_s": clock["completed"] - clock["counted"],
        "manifest_s": clock["manifest"] - clock["completed"],
    }
    seconds = time.perf_counter() - started
    log.info(
        "backup %s: %.1f MiB in %d part(s), %d tables, %d rows, %.1f s",
        key,
        upload.size / MiB,
        upload.parts,
        len(counts),
        sum(counts.values()),
        seconds,
    )
    return BackupOutcome(
        key=key,
        bucket=store.bucket,
        size_bytes=upload.size,
        sha256=sha256,
        parts=upload.parts,
        tables=len(counts),
        rows=sum(counts.values()),
        database_name=info.database,
        server_version=info.version,
        seconds=round(seconds, 3),
        manifest=manifest,
        timings={k: round(v, 3) for k, v in timings.items()},
    )


def build_manifest(
    *,
    key: str,
    bucket: str,
    info: ServerInfo,
    pg_dump_version: str,
    run_id: uuid.UUID,
    created_at: dt.datetime,
    finished_at: dt.datetime,
    size_bytes: int,
    sha256: str,
    parts: int,
    tables: Mapping[str, int],
) -> dict[str, Any]:
    """The manifest stored next to the dump (``sigmasight.backup/1``)."""
    return {
        "format": MANIFEST_FORMAT,
        "key": key,
        "bucket": bucket,
        "database_name": info.database,
        "server_version": info.version,
        "server_version_num": info.version_num,
        "pg_dump_version": pg_dump_version,
        "dump_format": "custom",
        "run_id": str(run_id),
        "created_at": created_at.isoformat(),
        "finished_at": finished_at.isoformat(),
        "size_bytes": size_bytes,
        "database_size_bytes": info.database_size_bytes,
        "sha256": sha256,
        "parts": parts,
        "tables": dict(sorted(tables.items())),
        "total_rows": sum(tables.values()),
    }


# ---- retention --------------------------------------------------------------------------------
@dataclass(frozen=True)
class RetentionOutcome:
    """What retention kept and deleted."""

    kept: dict[str, str]
    deleted: list[str]


def apply_retention(
    settings: Settings,
    *,
    store: ObjectStore | None = None,
    today: dt.date | None = None,
) -> RetentionOutcome:
    """Delete the dumps (and manifests) the policy does not keep; mark their rows deleted.

    Status comes from the ``backup`` table; a dump with no row (e.g. after the database
    itself was restored from an older backup) counts as completed when its manifest exists.
    """
    store = store or object_store(settings)
    today = today or dt.datetime.now(dt.UTC).date()
    dumps, manifests = list_dump_keys(store, settings.backup_prefix)
    with session_scope() as session:
        recorded = backups.statuses(session, dumps)
    plan = retention_plan(
        stored_backups(dumps, manifests, recorded),
        today=today,
        keep_daily_days=settings.backup_keep_daily_days,
        keep_weekly_weeks=settings.backup_keep_weekly_weeks,
    )
    present = dumps | manifests
    objects = [k for key in plan.delete for k in (key, manifest_key(key)) if k in present]
    delete_objects(store, objects)
    with session_scope() as session:
        backups.mark_deleted(session, plan.delete)
    for key in plan.delete:
        log.info("retention deleted %s", key)
    return RetentionOutcome(kept=plan.keep, deleted=plan.delete)


# ---- verify and restore ----------------------------------------------------------------------
def _target_info(url: URL) -> tuple[ServerInfo, int]:
    with session_for(url) as session:
        return backups.server_info(session), backups.user_relation_count(session)


def _counts(url: URL) -> dict[str, int]:
    with session_for(url) as session:
        return backups.table_row_counts(session)


def _check_versions(manifest: Mapping[str, Any], target: ServerInfo) -> None:
    source_major = int(manifest["server_version_num"]) // 10000
    if target.major < source_major:
        raise BackupError(
            f"the backup is from PostgreSQL {manifest['server_version']}; the target runs "
            f"PostgreSQL {target.version}: restore into a server of version {source_major} or newer"
        )


def newest_good_key() -> str | None:
    """Key of the newest backup with status completed or verified."""
    with session_scope() as session:
        newest = backups.newest_good_backup(session)
    return newest.key if newest is not None else None


@dataclass(frozen=True)
class VerifyOutcome:
    """A backup restored into a scratch database and matched its manifest."""

    key: str
    sha256: str
    size_bytes: int
    tables: dict[str, int]
    seconds: float


def recorded_backup(key: str) -> backups.BackupRecord:
    """The ledger row of backup ``key``; :class:`InputError` naming it when there is none."""
    with session_scope() as session:
        record = backups.get_backup(session, key)
    if record is None:
        raise InputError(f"--key {key[:200]}: no backup of that key is recorded in the database")
    return record


def verify_backup(
    settings: Settings,
    key: str,
    *,
    store: ObjectStore | None = None,
    progress: ProgressFn | None = None,
) -> VerifyOutcome:
    """Download, check the sha256, restore into a scratch database, compare row counts.

    Marks the row ``verified``, or ``failed`` with the reason and raises
    :class:`VerificationError`. The scratch database is dropped either way.
    """
    store = store or object_store(settings)
    started = time.perf_counter()
    record = recorded_backup(key)
    try:
        outcome = _verify(key, record.sha256, store, settings, started, progress)
    except VerificationError as exc:
        with session_scope() as session:
            backups.fail_backup(session, key, f"verification failed: {exc}")
        log.error("backup %s failed verification: %s", key, exc)
        raise
    with session_scope() as session:
        backups.mark_verified(session, key)
    return outcome


def _verify(
    key: str,
    recorded_sha256: str | None,
    store: ObjectStore,
    settings: Settings,
    started: float,
    progress: ProgressFn | None,
) -> VerifyOutcome:
    manifest = load_manifest(store, key)
    source = database_url(settings)
    with tempfile.TemporaryDirectory(prefix="sigmasight-verify-") as folder:
        archive = Path(folder) / "backup.dump"
        sha256 = download_verified(
            store, key, manifest, archive, expected_sha256=recorded_sha256, progress=progress
        )
        scratch = f"sigmasight_verify_{uuid.uuid4().hex[:12]}"
        try:
            create_database(source, scratch)
        except Exception as exc:
            raise BackupError(
                f"cannot create the scratch database {scratch} (the role needs CREATEDB): "
                f"{str(exc).strip().splitlines()[0]}"
            ) from None
        try:
            scratch_url = source.set(database=scratch)
            target, _ = _target_info(scratch_url)
            _check_versions(manifest, target)
            pg_restore_into(scratch_url, archive, target.version)
            restored = _counts(scratch_url)
        finally:
            drop_database(source, scratch)
    problems = compare_counts(manifest["tables"], restored)
    if problems:
        raise VerificationError(
            f"row counts of the restored {key} differ from its manifest: "
            + "; ".join(problems[:10])
        )
    return VerifyOutcome(
        key=key,
        sha256=sha256,
        size_bytes=int(manifest["size_bytes"]),
        tables=restored,
        seconds=round(time.perf_counter() - started, 3),
    )


@dataclass(frozen=True)
class RestoreOutcome:
    """A backup restored into a target database."""

    key: str
    target: str
    tables: int
    rows: int
    seconds: float


def restore_backup(
    settings: Settings,
    key: str,
    target: URL,
    *,
    overwrite: bool = False,
    store: ObjectStore | None = None,
    progress: ProgressFn | None = None,
) -> RestoreOutcome:
    """Restore dump ``key`` into ``target`` after its checksum matched the manifest.

    Refuses a target that holds any table, view or sequence unless ``overwrite`` (then the
    dump's objects are dropped and recreated). The restore runs in one transaction; the row
    counts are compared with the manifest afterwards. Needs no SigmaSight database, so it
    works for disaster recovery.
    """
    store = store or object_store(settings)
    started = time.perf_counter()
    if key_timestamp(key) is None:
        raise InputError(f"{key!r} is not a SigmaSight backup key (…/sigmasight-<UTC>-<run>.dump)")
    if not object_exists(store, key):
        raise InputError(f"no backup {key} in {store.describe()}")
    manifest = load_manifest(store, key)
    where = safe_url(target)
    try:
        info, relations = _target_info(target)
    except Exception as exc:
        reason = str(getattr(exc, "orig", exc) or exc).strip().splitlines()
        raise BackupError(
            f"cannot connect to the target {where}: {reason[0] if reason else type(exc).__name__}"
        ) from None
    if relations and not overwrite:
        raise InputError(
            f"the target {where} is not empty ({relations} tables, views or sequences); "
            "pass --yes to overwrite the objects the backup contains"
        )
    _check_versions(manifest, info)
    pg_tool("pg_restore", info.version)  # fail on a missing client before downloading
    with tempfile.TemporaryDirectory(prefix="sigmasight-restore-") as folder:
        archive = Path(folder) / "backup.dump"
        download_verified(store, key, manifest, archive, progress=progress)
        log.info("checksum of %s matches its manifest; restoring into %s", key, where)
        pg_restore_into(target, archive, info.version, clean=bool(relations))
    restored = _counts(target)
    expected: dict[str, int] = manifest["tables"]
    problems = compare_counts(expected, {k: v for k, v in restored.items() if k in expected})
    if problems:
        raise BackupError(
            f"restored {key} into {where}, but row counts differ from the manifest: "
            + "; ".join(problems[:10])
        )
    return RestoreOutcome(
        key=key,
        target=where,
        tables=len(expected),
        rows=sum(expected.values()),
        seconds=round(time.perf_counter() - started, 3),
    )


# ---- listing -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ListedBackup:
    """One line of ``sigmasight backup list``."""

    key: str
    taken_at: dt.datetime | None
    size_bytes: int | None
    status: str
    verified_at: dt.datetime | None
    stored: bool


def list_all(
    settings: Settings,
    *,
    store: ObjectStore | None = None,
    include_deleted: bool = False,
) -> list[ListedBackup]:
    """Recorded backups, newest first, and whether their dump is still in the bucket.

    Dumps in the bucket that the database does not know are listed as ``unrecorded``.
    """
    store = store or object_store(settings)
    dumps, _ = list_dump_keys(store, settings.backup_prefix)
    with session_scope() as session:
        records = backups.list_backups(session, include_deleted=include_deleted)
        known = {r.key for r in records} | set(backups.statuses(session, dumps))
    listed = [
        ListedBackup(
            key=r.key,
            taken_at=key_timestamp(r.key) or r.created_at,
            size_bytes=r.size_bytes,
            status=r.status,
            verified_at=r.verified_at,
            stored=r.key in dumps,
        )
        for r in records
    ]
    listed += [
        ListedBackup(
            key=k,
            taken_at=key_timestamp(k),
            size_bytes=None,
            status="unrecorded",
            verified_at=None,
            stored=True,
        )
        for k in dumps - known
    ]
    return sorted(
        listed,
        key=lambda b: b.taken_at or dt.datetime.min.replace(tzinfo=dt.UTC),
        reverse=True,
    )
