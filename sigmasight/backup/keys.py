"""Pure backup logic: object keys, row-count comparison and the retention policy.

A dump is stored as ``<prefix>YYYY/MM/DD/sigmasight-YYYYMMDDTHHMMSSZ-<run8>.dump`` (UTC, from
the moment it was taken) with its manifest, ``….manifest.json``, next to it. Retention reads
the date back from the key, so it needs nothing but the key and the backup's status.

No database, S3 or subprocess here: functions take values and return values.
"""

import datetime as dt
import re
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

DUMP_SUFFIX = ".dump"
MANIFEST_SUFFIX = ".manifest.json"
MANIFEST_FORMAT = "sigmasight.backup/1"
#: Statuses of a backup that counts: uploaded, checksummed, manifest written (and restored).
GOOD_STATUSES = ("completed", "verified")
_KEY_RE = re.compile(r"(?:^|/)sigmasight-(?P<stamp>\d{8}T\d{6}Z)-(?P<run>[0-9a-f]{8})\.dump$")


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


# ---- retention ------------------------------------------------------------------------------
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


def stored_backups(
    dumps: Iterable[str], manifests: Collection[str], recorded: Mapping[str, str]
) -> list[StoredBackup]:
    """The dumps in the bucket with their status, as retention sees them.

    The status is the recorded one; a dump with no record (e.g. after the database itself
    was restored from an older backup) counts as completed when its manifest exists, else
    as incomplete. Every key in ``dumps`` must follow SigmaSight's naming.
    """
    stored = []
    for key in dumps:
        taken_at = key_timestamp(key)
        if taken_at is None:
            raise ValueError(f"{key!r} is not a SigmaSight backup key")
        default = "completed" if manifest_key(key) in manifests else "incomplete"
        stored.append(StoredBackup(key=key, taken_at=taken_at, status=recorded.get(key, default)))
    return stored


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
