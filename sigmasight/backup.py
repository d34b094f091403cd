"""Database backups to S3: streamed ``pg_dump``, checksums, manifests, retention, restore.

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

Passwords travel in ``PGPASSWORD`` only, never in argv, logs or error messages.
"""

import datetime as dt
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from sigmasight.db import (
    DatabaseConfigError,
    EmbeddedPostgresError,
    create_database,
    database_url,
    drop_database,
    get_sessionmaker,
    normalize_url,
    session_for,
    session_scope,
)
from sigmasight.domain import InputError
from sigmasight.embedded_pg import wheel_bin_dir
from sigmasight.objectstore import ObjectStore, S3Client, object_store
from sigmasight.repositories import backups
from sigmasight.repositories.backups import GOOD_STATUSES, ServerInfo
from sigmasight.settings import Settings, get_settings

log = logging.getLogger(__name__)

MiB = 1024 * 1024
#: S3 parts are at least 5 MiB (but the last); 8 MiB parts x 10,000 parts = 78 GiB before
#: the part size has to grow (see :func:`part_size_for`).
PART_SIZE = 8 * MiB
#: Parts uploading at once while the next one is read: memory is about (this + 2) parts.
MAX_PARTS_IN_FLIGHT = 3
DUMP_SUFFIX = ".dump"
MANIFEST_SUFFIX = ".manifest.json"
MANIFEST_FORMAT = "sigmasight.backup/1"
_KEY_RE = re.compile(r"(?:^|/)sigmasight-(?P<stamp>\d{8}T\d{6}Z)-(?P<run>[0-9a-f]{8})\.dump$")
_VERSION_RE = re.compile(r"\(PostgreSQL\)\s+(?P<version>(?P<major>\d+)(?:\.\d+)*)")
ProgressFn = Callable[[int], None]


class BackupError(RuntimeError):
    """A backup, verification or restore could not be done; the message says why."""


class PgToolVersionError(BackupError):
    """No ``pg_dump``/``pg_restore`` of the server's major version was found."""


class VerificationError(BackupError):
    """The backup is not good: missing object, checksum mismatch, restore or count mismatch."""


# ---- pure builders ---------------------------------------------------------------------------
def dump_key(prefix: str, taken_at: dt.datetime, run_id: uuid.UUID) -> str:
    """``<prefix>YYYY/MM/DD/sigmasight-YYYYMMDDTHHMMSSZ-<run8>.dump`` (UTC)."""
    utc = taken_at.astimezone(dt.UTC)
    return f"{prefix}{utc:%Y/%m/%d}/sigmasight-{utc:%Y%m%dT%H%M%SZ}-{run_id.hex[:8]}{DUMP_SUFFIX}"


def manifest_key(key: str) -> str:
    """The manifest that sits next to dump ``key``."""
    return key.removesuffix(DUMP_SUFFIX) + MANIFEST_SUFFIX


def key_timestamp(key: str) -> dt.datetime | None:
    """When the backup in ``key`` was taken (UTC, from the key itself), None if not ours."""
    match = _KEY_RE.search(key)
    if match is None:
        return None
    return dt.datetime.strptime(match["stamp"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)


def without_password(url: URL) -> URL:
    """``url`` minus its password (``URL.set(password=None)`` would keep it)."""
    return URL.create(
        url.drivername,
        username=url.username,
        host=url.host,
        port=url.port,
        database=url.database,
        query=url.query,
    )


def libpq_url(url: URL) -> str:
    """The libpq URL of ``url`` WITHOUT its password (safe for argv and messages)."""
    return without_password(url).set(drivername="postgresql").render_as_string(hide_password=False)


def safe_url(url: URL) -> str:
    """``url`` for humans: password masked, driver name dropped."""
    return url.set(drivername="postgresql").render_as_string(hide_password=True)


def pg_env(url: URL, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for a client tool: ``base`` plus ``PGPASSWORD`` when the URL has one."""
    env = dict(os.environ if base is None else base)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    env.setdefault("PGAPPNAME", "sigmasight-backup")
    return env


def pg_dump_argv(pg_dump: Path | str, url: URL, snapshot: str | None = None) -> list[str]:
    """``pg_dump -Fc --no-owner --no-privileges`` of ``url``, never prompting for a password."""
    argv = [str(pg_dump), "-Fc", "--no-owner", "--no-privileges", "--no-password"]
    if snapshot:
        argv.append(f"--snapshot={snapshot}")
    argv.append(f"--dbname={libpq_url(url)}")
    return argv


def pg_restore_argv(
    pg_restore: Path | str, url: URL, archive: Path | str, *, clean: bool = False
) -> list[str]:
    """``pg_restore`` of ``archive`` into ``url`` in one transaction, stopping at the first error."""
    argv = [
        str(pg_restore),
        "--no-owner",
        "--no-privileges",
        "--no-password",
        "--exit-on-error",
        "--single-transaction",
    ]
    if clean:
        argv += ["--clean", "--if-exists"]
    argv += [f"--dbname={libpq_url(url)}", str(archive)]
    return argv


def parse_tool_version(output: str) -> tuple[int, str]:
    """``(major, version)`` from ``pg_dump --version`` output such as ``pg_dump (PostgreSQL) 18.1``."""
    match = _VERSION_RE.search(output)
    if match is None:
        raise BackupError(f"cannot read a PostgreSQL version from {output.strip()!r}")
    return int(match["major"]), match["version"]


def check_tool_version(tool: str, output: str, server_version: str) -> str:
    """The tool's version when its major equals the server's; else an error naming both."""
    tool_major, tool_version = parse_tool_version(output)
    server_major = int(server_version.split(".")[0])
    if tool_major != server_major:
        raise PgToolVersionError(
            f"{tool} {tool_version} does not match the server, PostgreSQL {server_version}: "
            f"{tool} must have major version {server_major}"
        )
    return tool_version


def candidate_bin_dirs(
    major: int, *, path: str | None = None, wheel_bin: Path | None = None
) -> list[Path]:
    """Where to look for client tools of ``major``: the embedded wheel, PATH, distro folders."""
    dirs: list[Path] = []
    if wheel_bin is not None:
        dirs.append(wheel_bin)
    dirs += [
        Path(p)
        for p in (path if path is not None else os.environ.get("PATH", "")).split(os.pathsep)
        if p
    ]
    dirs += [
        Path(f"/usr/lib/postgresql/{major}/bin"),  # Debian, Ubuntu
        Path(f"/usr/pgsql-{major}/bin"),  # RHEL, Fedora (PGDG)
        Path(f"/opt/homebrew/opt/postgresql@{major}/bin"),
        Path(f"/usr/local/opt/postgresql@{major}/bin"),
    ]
    unique: list[Path] = []
    for folder in dirs:
        if folder not in unique:
            unique.append(folder)
    return unique


def _tool_version_output(binary: Path) -> str | None:
    try:
        result = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError:
        return None
    return result.stdout if result.returncode == 0 else None


def find_pg_tool(tool: str, server_version: str, dirs: Iterable[Path]) -> tuple[Path, str]:
    """The first ``tool`` in ``dirs`` whose major version is the server's; else a clear error."""
    found: list[str] = []
    for folder in dirs:
        binary = folder / tool
        if not (binary.is_file() and os.access(binary, os.X_OK)):
            continue
        output = _tool_version_output(binary)
        if output is None:
            continue
        try:
            return binary, check_tool_version(tool, output, server_version)
        except PgToolVersionError:
            found.append(f"{tool} {parse_tool_version(output)[1]} ({binary})")
        except BackupError:
            continue
    major = server_version.split(".")[0]
    seen = "; found only " + ", ".join(found) if found else f"; no {tool} found at all"
    raise PgToolVersionError(
        f"no {tool} of major version {major} for the server, PostgreSQL {server_version}{seen}. "
        f"Install the PostgreSQL {major} client tools (e.g. postgresql-client-{major}) "
        f"or put their bin folder on PATH"
    )


def pg_tool(tool: str, server_version: str) -> tuple[Path, str]:
    """``tool`` matching ``server_version``: the embedded wheel's, PATH's or a distro's."""
    try:
        wheel: Path | None = wheel_bin_dir()
    except EmbeddedPostgresError:
        wheel = None
    major = int(server_version.split(".")[0])
    return find_pg_tool(tool, server_version, candidate_bin_dirs(major, wheel_bin=wheel))


def part_size_for(part_number: int) -> int:
    """Part size: 8 MiB, doubling every 2,000 parts, so 10,000 parts reach ~500 GiB."""
    return PART_SIZE << ((part_number - 1) // 2000)


def compare_counts(expected: Mapping[str, int], actual: Mapping[str, int]) -> list[str]:
    """Human-readable differences between two per-table row counts (empty when equal)."""
    problems = []
    for name in sorted(set(expected) | set(actual)):
        if name not in actual:
            problems.append(f"{name}: missing (manifest {expected[name]} rows)")
        elif name not in expected:
            problems.append(f"{name}: not in the manifest ({actual[name]} rows)")
        elif expected[name] != actual[name]:
            problems.append(f"{name}: {actual[name]} rows, manifest {expected[name]}")
    return problems


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


# ---- retention (pure) -------------------------------------------------------------------------
@dataclass(frozen=True)
class StoredBackup:
    """A dump in the bucket: its key, when it was taken (from the key) and its status."""

    key: str
    taken_at: dt.datetime
    status: str


@dataclass(frozen=True)
class RetentionPlan:
    """What retention keeps (with the reason) and deletes."""

    keep: dict[str, str]
    delete: list[str]


def retention_plan(
    stored: Sequence[StoredBackup],
    *,
    today: dt.date,
    keep_daily_days: int,
    keep_weekly_weeks: int,
) -> RetentionPlan:
    """Decide which backups stay.

    - every good backup (completed or verified) taken within the last ``keep_daily_days``
      days (age 0 .. N-1, UTC dates from the key) stays;
    - the newest good backup of each Sunday within the last ``keep_weekly_weeks`` weeks
      (age < 7*M days) stays;
    - the newest verified backup always stays, however old;
    - a backup that is not good (failed, incomplete) never fills a slot; it stays only while
      inside the daily window, for inspection, then goes;
    - everything else is deleted.
    """
    keep: dict[str, str] = {}
    sundays: dict[dt.date, StoredBackup] = {}
    for backup in stored:
        day = backup.taken_at.date()
        age = (today - day).days
        good = backup.status in GOOD_STATUSES
        if age < keep_daily_days:
            keep[backup.key] = "daily" if good else f"{backup.status}, kept for inspection"
        if good and day.weekday() == 6 and age < 7 * keep_weekly_weeks:
            best = sundays.get(day)
            if best is None or backup.taken_at > best.taken_at:
                sundays[day] = backup
    for backup in sundays.values():
        keep.setdefault(backup.key, "weekly")
    verified = [b for b in stored if b.status == "verified"]
    if verified:
        newest = max(verified, key=lambda b: b.taken_at)
        keep.setdefault(newest.key, "newest verified")
    delete = sorted(b.key for b in stored if b.key not in keep)
    return RetentionPlan(keep=keep, delete=delete)


# ---- streaming upload ---------------------------------------------------------------------------
class MultipartUpload:
    """An S3 multipart upload fed from a stream; aborted unless :meth:`complete` succeeded.

    The reading thread hashes each part and hands it to a small pool that uploads up to
    ``max_in_flight`` parts at once, so memory holds at most ``max_in_flight + 1`` parts
    whatever the stream's length.
    """

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        key: str,
        *,
        max_in_flight: int = MAX_PARTS_IN_FLIGHT,
        part_size: Callable[[int], int] = part_size_for,
        progress: ProgressFn | None = None,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.key = key
        self.max_in_flight = max_in_flight
        self.part_size = part_size
        self.progress = progress
        self.upload_id: str | None = None
        self.completed = False
        self.size = 0
        self.parts = 0
        self._etags: dict[int, str] = {}
        self._uploaded = 0
        self._lock = threading.Lock()
        self.eof_at = 0.0

    def __enter__(self) -> "MultipartUpload":
        response = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=self.key, ContentType="application/octet-stream"
        )
        self.upload_id = response["UploadId"]
        return self

    def __exit__(self, *exc_info: object) -> None:
        if not self.completed:
            self.abort()

    def abort(self) -> None:
        """Abort the multipart upload so S3 drops every part (best effort, logged)."""
        if self.upload_id is None:
            return
        try:
            self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id
            )
            log.info("aborted the multipart upload of %s", self.key)
        except (BotoCoreError, ClientError) as exc:
            log.error("could not abort the multipart upload of %s: %s", self.key, exc)

    def _upload_part(self, number: int, data: bytes) -> None:
        response = self.client.upload_part(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=str(self.upload_id),
            PartNumber=number,
            Body=data,
        )
        with self._lock:
            self._etags[number] = response["ETag"]
            self._uploaded += len(data)
            uploaded = self._uploaded
        if self.progress is not None:
            self.progress(uploaded)

    def pump(self, stream: IO[bytes]) -> str:
        """Upload everything ``stream`` yields; returns the sha256 (hex) of the bytes."""
        digest = hashlib.sha256()
        slots = threading.BoundedSemaphore(self.max_in_flight)
        pending: list[Future[None]] = []

        def settle() -> None:
            # Drop finished parts; re-raise the first failure (after boto3's own retries).
            still = []
            for future in pending:
                if not future.done():
                    still.append(future)
                elif (error := future.exception()) is not None:
                    raise error
            pending[:] = still

        with ThreadPoolExecutor(self.max_in_flight, thread_name_prefix="s3-part") as workers:
            try:
                while True:
                    number = self.parts + 1
                    data = stream.read(self.part_size(number))
                    if not data:
                        break
                    digest.update(data)
                    self.size += len(data)
                    self.parts = number
                    slots.acquire()
                    try:
                        settle()
                    except BaseException:
                        slots.release()
                        raise
                    future = workers.submit(self._upload_part, number, data)
                    future.add_done_callback(lambda _f: slots.release())
                    pending.append(future)
                    del data
                self.eof_at = time.perf_counter()
                for future in pending:
                    future.result()
            except BaseException:
                workers.shutdown(wait=True, cancel_futures=True)
                raise
        return digest.hexdigest()

    def complete(self) -> None:
        """Assemble the parts into the object."""
        if not self._etags:
            raise BackupError(f"nothing to upload for {self.key}")
        self.client.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=str(self.upload_id),
            MultipartUpload={
                "Parts": [{"PartNumber": n, "ETag": self._etags[n]} for n in sorted(self._etags)]
            },
        )
        self.completed = True


class _StderrTail:
    """Drain a process's stderr in a thread, keeping its last lines for error messages."""

    def __init__(self, stream: IO[bytes], lines: int = 20) -> None:
        self.lines: deque[str] = deque(maxlen=lines)
        self._stream = stream
        self._thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self._thread.start()

    def _drain(self, stream: IO[bytes]) -> None:
        for raw in stream:
            self.lines.append(raw.decode("utf-8", "replace").rstrip())

    def text(self) -> str:
        """The kept lines, joined (after the process ended)."""
        self._thread.join(timeout=5)
        return " | ".join(line for line in self.lines if line)

    def close(self) -> None:
        """Wait for the drain to end (the process has exited) and close the pipe."""
        self._thread.join(timeout=5)
        self._stream.close()


def _widen_pipe(stream: IO[bytes]) -> None:
    # A 1 MiB pipe (Linux) lets pg_dump run ahead instead of blocking every 64 KiB.
    try:
        import fcntl

        fcntl.fcntl(stream.fileno(), fcntl.F_SETPIPE_SZ, MiB)
    except (ImportError, AttributeError, OSError):
        pass


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
    run_id: uuid.UUID,
    *,
    store: ObjectStore | None = None,
    settings: Settings | None = None,
    progress: ProgressFn | None = None,
) -> BackupOutcome:
    """Dump the configured database into S3 with its manifest; record the ``backup`` row.

    Raises :class:`BackupError` (after marking the row failed and aborting the upload) when
    ``pg_dump`` or the upload fails.
    """
    settings = settings or get_settings()
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
    process = subprocess.Popen(
        pg_dump_argv(pg_dump, url, snapshot),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=pg_env(url),
    )
    assert process.stdout is not None
    assert process.stderr is not None
    _widen_pipe(process.stdout)
    stderr = _StderrTail(process.stderr)
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
    try:
        store.client.put_object(
            Bucket=store.bucket,
            Key=manifest_key(key),
            Body=json.dumps(manifest, indent=2).encode(),
            ContentType="application/json",
        )
    except (BotoCoreError, ClientError):
        # The dump without its manifest is no backup: remove it, then fail.
        try:
            store.client.delete_object(Bucket=store.bucket, Key=key)
        except (BotoCoreError, ClientError) as exc:
            log.error("could not delete %s after the manifest failed: %s", key, exc)
        raise
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


# ---- retention --------------------------------------------------------------------------------
@dataclass(frozen=True)
class RetentionOutcome:
    """What retention kept and deleted."""

    kept: dict[str, str]
    deleted: list[str]


def list_dump_keys(store: ObjectStore, prefix: str) -> tuple[set[str], set[str]]:
    """``(dump keys, manifest keys)`` under ``prefix`` that follow SigmaSight's naming."""
    dumps: set[str] = set()
    manifests: set[str] = set()
    paginator = store.client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=store.bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            name = item["Key"]
            if name.endswith(MANIFEST_SUFFIX):
                manifests.add(name)
            elif key_timestamp(name) is not None:
                dumps.add(name)
    return dumps, manifests


def apply_retention(
    *,
    store: ObjectStore | None = None,
    settings: Settings | None = None,
    today: dt.date | None = None,
) -> RetentionOutcome:
    """Delete the dumps (and manifests) the policy does not keep; mark their rows deleted.

    Status comes from the ``backup`` table; a dump with no row (e.g. after the database
    itself was restored from an older backup) counts as completed when its manifest exists.
    """
    settings = settings or get_settings()
    store = store or object_store(settings)
    today = today or dt.datetime.now(dt.UTC).date()
    dumps, manifests = list_dump_keys(store, settings.backup_prefix)
    with session_scope() as session:
        recorded = backups.statuses(session, dumps)
    stored = []
    for key in dumps:
        taken_at = key_timestamp(key)
        assert taken_at is not None
        default = "completed" if manifest_key(key) in manifests else "incomplete"
        stored.append(StoredBackup(key=key, taken_at=taken_at, status=recorded.get(key, default)))
    plan = retention_plan(
        stored,
        today=today,
        keep_daily_days=settings.backup_keep_daily_days,
        keep_weekly_weeks=settings.backup_keep_weekly_weeks,
    )
    present = dumps | manifests
    objects = [k for key in plan.delete for k in (key, manifest_key(key)) if k in present]
    for start in range(0, len(objects), 1000):
        response = store.client.delete_objects(
            Bucket=store.bucket,
            Delete={"Objects": [{"Key": k} for k in objects[start : start + 1000]], "Quiet": True},
        )
        errors = response.get("Errors", [])
        if errors:
            raise BackupError(
                f"S3 refused to delete {len(errors)} object(s), e.g. "
                f"{errors[0].get('Key')}: {errors[0].get('Message')}"
            )
    with session_scope() as session:
        backups.mark_deleted(session, plan.delete)
    for key in plan.delete:
        log.info("retention deleted %s", key)
    return RetentionOutcome(kept=plan.keep, deleted=plan.delete)


# ---- download, restore, verify --------------------------------------------------------------
def load_manifest(store: ObjectStore, key: str) -> dict[str, Any]:
    """The manifest of dump ``key``; :class:`VerificationError` when it or the dump is missing."""
    try:
        body = store.client.get_object(Bucket=store.bucket, Key=manifest_key(key))["Body"].read()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in {"NoSuchKey", "404"}:
            raise VerificationError(
                f"no manifest {manifest_key(key)} in s3://{store.bucket}: "
                "the backup never completed or was deleted"
            ) from None
        raise
    manifest: dict[str, Any] = json.loads(body)
    if manifest.get("format") != MANIFEST_FORMAT or not manifest.get("sha256"):
        raise VerificationError(f"{manifest_key(key)} is not a {MANIFEST_FORMAT} manifest")
    return manifest


def download_verified(
    store: ObjectStore,
    key: str,
    manifest: Mapping[str, Any],
    target: Path,
    *,
    expected_sha256: str | None = None,
    progress: ProgressFn | None = None,
) -> str:
    """Stream dump ``key`` into ``target`` and check its size and sha256 against the manifest."""
    _ensure_space(target.parent, int(manifest.get("size_bytes") or 0))
    digest = hashlib.sha256()
    size = 0
    try:
        body = store.client.get_object(Bucket=store.bucket, Key=key)["Body"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in {"NoSuchKey", "404"}:
            raise VerificationError(f"the dump s3://{store.bucket}/{key} is missing") from None
        raise
    with open(target, "wb") as handle:
        for chunk in body.iter_chunks(MiB):
            digest.update(chunk)
            handle.write(chunk)
            size += len(chunk)
            if progress is not None:
                progress(size)
    actual = digest.hexdigest()
    if actual != manifest["sha256"]:
        raise VerificationError(
            f"sha256 mismatch for {key}: the manifest says {manifest['sha256']}, "
            f"the object in S3 hashes to {actual} ({size} bytes, manifest {manifest.get('size_bytes')})"
        )
    if expected_sha256 and actual != expected_sha256:
        raise VerificationError(
            f"sha256 mismatch for {key}: the backup record says {expected_sha256}, "
            f"the object in S3 (and its manifest) {actual}"
        )
    if size != manifest.get("size_bytes", size):
        raise VerificationError(
            f"size mismatch for {key}: {size} bytes, manifest {manifest['size_bytes']}"
        )
    return actual


def pg_restore_into(url: URL, archive: Path, server_version: str, *, clean: bool = False) -> None:
    """Run a version-matched ``pg_restore`` of ``archive`` into ``url``."""
    pg_restore, _ = pg_tool("pg_restore", server_version)
    result = subprocess.run(
        pg_restore_argv(pg_restore, url, archive, clean=clean),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=pg_env(url),
        check=False,
    )
    if result.returncode != 0:
        lines = [line for line in result.stderr.strip().splitlines() if line][-5:]
        raise VerificationError(
            f"pg_restore exited with status {result.returncode}: {' | '.join(lines)}"
        )


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


def verify_backup(
    key: str,
    *,
    store: ObjectStore | None = None,
    settings: Settings | None = None,
    progress: ProgressFn | None = None,
) -> VerifyOutcome:
    """Download, check the sha256, restore into a scratch database, compare row counts.

    Marks the row ``verified``, or ``failed`` with the reason and raises
    :class:`VerificationError`. The scratch database is dropped either way.
    """
    settings = settings or get_settings()
    store = store or object_store(settings)
    started = time.perf_counter()
    with session_scope() as session:
        record = backups.get_backup(session, key)
    if record is None:
        raise InputError(f"no backup {key} is recorded in the database")
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


def parse_target_url(raw: str) -> URL:
    """The ``--target`` URL, checked (the error never echoes it: it may hold a password)."""
    try:
        return normalize_url(raw)
    except DatabaseConfigError:
        raise InputError("--target must be a PostgreSQL URL (postgresql://user@host/db)") from None


def restore_backup(
    key: str,
    target: URL,
    *,
    overwrite: bool = False,
    store: ObjectStore | None = None,
    settings: Settings | None = None,
    progress: ProgressFn | None = None,
) -> RestoreOutcome:
    """Restore dump ``key`` into ``target`` after its checksum matched the manifest.

    Refuses a target that holds any table, view or sequence unless ``overwrite`` (then the
    dump's objects are dropped and recreated). The restore runs in one transaction; the row
    counts are compared with the manifest afterwards. Needs no SigmaSight database, so it
    works for disaster recovery.
    """
    settings = settings or get_settings()
    store = store or object_store(settings)
    started = time.perf_counter()
    if key_timestamp(key) is None:
        raise InputError(f"{key!r} is not a SigmaSight backup key (…/sigmasight-<UTC>-<run>.dump)")
    try:
        store.client.head_object(Bucket=store.bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
            raise InputError(f"no backup {key} in {store.describe()}") from None
        raise
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
    *,
    store: ObjectStore | None = None,
    settings: Settings | None = None,
    include_deleted: bool = False,
) -> list[ListedBackup]:
    """Recorded backups, newest first, and whether their dump is still in the bucket.

    Dumps in the bucket that the database does not know are listed as ``unrecorded``.
    """
    settings = settings or get_settings()
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


def _ensure_space(folder: Path, needed: int) -> None:
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise BackupError(
            f"{folder} has {free / MiB:,.0f} MiB free; the dump needs {needed / MiB:,.0f} MiB "
            "(set TMPDIR to a larger folder)"
        )
