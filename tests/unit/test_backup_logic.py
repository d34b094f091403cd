"""Pure backup logic: keys, argv, version matching, retention policy, part sizes."""

import datetime as dt
import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import URL

from sigmasight.backup.errors import PgToolVersionError
from sigmasight.backup.keys import (
    StoredBackup,
    compare_counts,
    dump_key,
    key_timestamp,
    manifest_key,
    retention_plan,
    stored_backups,
)
from sigmasight.backup.pgtools import (
    candidate_bin_dirs,
    check_tool_version,
    find_pg_tool,
    parse_tool_version,
    pg_dump_argv,
    pg_env,
    pg_restore_argv,
    safe_url,
    without_password,
)
from sigmasight.backup.s3stream import part_size_for
from sigmasight.settings import Settings

PASSWORD = "s3cr3t-p@ss/word"
URL_WITH_PASSWORD = URL.create(
    "postgresql+psycopg",
    username="sigmasight",
    password=PASSWORD,
    host="db.internal",
    port=5433,
    database="risk",
    query={"sslmode": "require"},
)
RUN = uuid.UUID("0123456789abcdef0123456789abcdef")


def test_keys_carry_the_utc_date_and_run():
    taken = dt.datetime(2026, 11, 26, 7, 0, tzinfo=dt.UTC)
    key = dump_key("backups/", taken, RUN)
    assert key == "backups/2026/11/26/sigmasight-20261126T070000Z-01234567.dump"
    assert manifest_key(key) == (
        "backups/2026/11/26/sigmasight-20261126T070000Z-01234567.manifest.json"
    )
    assert key_timestamp(key) == taken
    assert key_timestamp("backups/2026/11/26/notes.txt") is None
    assert key_timestamp(manifest_key(key)) is None


def test_keys_use_utc_whatever_the_clock_zone():
    new_york = dt.timezone(dt.timedelta(hours=-5))
    taken = dt.datetime(2026, 11, 25, 21, 30, tzinfo=new_york)  # 02:30 UTC the next day
    assert dump_key("", taken, RUN) == "2026/11/26/sigmasight-20261126T023000Z-01234567.dump"


def test_pg_dump_argv_has_the_flags_and_never_the_password():
    argv = pg_dump_argv("/opt/pg/bin/pg_dump", URL_WITH_PASSWORD, snapshot="00000003-0000001B-1")
    assert argv[:5] == [
        "/opt/pg/bin/pg_dump",
        "-Fc",
        "--no-owner",
        "--no-privileges",
        "--no-password",
    ]
    assert "--snapshot=00000003-0000001B-1" in argv
    assert argv[-1] == "--dbname=postgresql://sigmasight@db.internal:5433/risk?sslmode=require"
    assert not any(PASSWORD in arg or "s3cr3t" in arg for arg in argv)


def test_pg_restore_argv_never_has_the_password():
    argv = pg_restore_argv("pg_restore", URL_WITH_PASSWORD, "/tmp/x.dump", clean=True)
    assert {"--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"} <= set(argv)
    assert {"--clean", "--if-exists"} <= set(argv)
    assert argv[-1] == "/tmp/x.dump"
    assert not any("s3cr3t" in arg for arg in argv)
    assert "--clean" not in pg_restore_argv("pg_restore", URL_WITH_PASSWORD, "/tmp/x.dump")


def test_password_goes_through_pgpassword_only():
    env = pg_env(URL_WITH_PASSWORD, {"PATH": "/usr/bin"})
    assert env["PGPASSWORD"] == PASSWORD
    assert env["PATH"] == "/usr/bin"
    assert "PGPASSWORD" not in pg_env(without_password(URL_WITH_PASSWORD), {})
    assert PASSWORD not in safe_url(URL_WITH_PASSWORD)


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("pg_dump (PostgreSQL) 18.1\n", (18, "18.1")),
        ("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n", (15, "15.18")),
        ("pg_restore (PostgreSQL) 17beta2", (17, "17")),
        ("pg_dump (PostgreSQL) 9.6.24", (9, "9.6.24")),
    ],
)
def test_parse_tool_version(output, expected):
    assert parse_tool_version(output) == expected


def test_version_mismatch_names_both_versions():
    with pytest.raises(PgToolVersionError) as info:
        check_tool_version("pg_dump", "pg_dump (PostgreSQL) 15.18", "18.1")
    message = str(info.value)
    assert "pg_dump 15.18" in message
    assert "PostgreSQL 18.1" in message
    assert check_tool_version("pg_dump", "pg_dump (PostgreSQL) 18.6", "18.1") == "18.6"


def _fake_tool(folder: Path, name: str, version: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / name
    script.write_text(f"#!/bin/sh\necho '{name} (PostgreSQL) {version}'\n")
    script.chmod(0o755)
    return script


def test_wrong_pg_dump_on_path_gives_a_clear_error(tmp_path):
    old = tmp_path / "old"
    _fake_tool(old, "pg_dump", "15.18")
    with pytest.raises(PgToolVersionError) as info:
        find_pg_tool("pg_dump", "18.1", [old, tmp_path / "missing"])
    message = str(info.value)
    assert "PostgreSQL 18.1" in message
    assert f"pg_dump 15.18 ({old / 'pg_dump'})" in message
    assert "postgresql-client-18" in message


def test_the_matching_pg_dump_wins_whatever_its_place(tmp_path):
    _fake_tool(tmp_path / "a", "pg_dump", "15.18")
    good = _fake_tool(tmp_path / "b", "pg_dump", "18.3")
    assert find_pg_tool("pg_dump", "18.1", [tmp_path / "a", tmp_path / "b"]) == (good, "18.3")


def test_no_pg_dump_at_all(tmp_path):
    with pytest.raises(PgToolVersionError, match="no pg_dump found at all"):
        find_pg_tool("pg_dump", "16.4", [tmp_path])


def test_candidate_dirs_search_wheel_then_path_then_distro_folders():
    dirs = candidate_bin_dirs(18, path=f"/usr/bin{os.pathsep}/usr/bin", wheel_bin=Path("/w"))
    assert dirs[:3] == [Path("/w"), Path("/usr/bin"), Path("/usr/lib/postgresql/18/bin")]


def test_part_size_stays_flat_then_grows_for_huge_dumps():
    assert part_size_for(1) == part_size_for(2000) == 8 * 1024 * 1024
    assert part_size_for(2001) == 16 * 1024 * 1024
    total = sum(part_size_for(n) for n in range(1, 10_001))
    assert total > 400 * 1024**3  # S3's 10,000-part limit is far away


def test_compare_counts_names_each_difference():
    assert compare_counts({"a": 1}, {"a": 1}) == []
    assert compare_counts({"a": 1, "b": 2}, {"a": 3, "c": 4}) == [
        "a: 3 rows, manifest 1",
        "b: missing (manifest 2 rows)",
        "c: not in the manifest (4 rows)",
    ]


def test_backup_settings_defaults_and_prefix(monkeypatch):
    for name in ("PREFIX", "KEEP_DAILY_DAYS", "KEEP_WEEKLY_WEEKS"):
        monkeypatch.delenv(f"SIGMASIGHT_BACKUP_{name}", raising=False)
    settings = Settings()
    assert (settings.backup_prefix, settings.backup_keep_daily_days) == ("backups/", 30)
    assert settings.backup_keep_weekly_weeks == 12
    assert Settings(backup_prefix="/prod/db").backup_prefix == "prod/db/"
    assert Settings(backup_prefix="").backup_prefix == ""


# ---- retention ----------------------------------------------------------------------------
TODAY = dt.date(2026, 11, 26)  # a Thursday


def at(days_ago: int, hour: int = 7) -> dt.datetime:
    day = TODAY - dt.timedelta(days=days_ago)
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC)


def stored(days_ago: int, status: str = "completed", hour: int = 7) -> StoredBackup:
    taken = at(days_ago, hour)
    return StoredBackup(dump_key("backups/", taken, RUN), taken, status)


def plan(backups, daily=30, weekly=12):
    return retention_plan(backups, today=TODAY, keep_daily_days=daily, keep_weekly_weeks=weekly)


def test_retention_over_120_days_keeps_30_dailies_and_12_sundays():
    history = [stored(age) for age in range(120)]
    result = plan(history)
    sundays = [age for age in range(120) if at(age).weekday() == 6]
    assert sundays[:3] == [4, 11, 18]
    expected = set(range(30)) | {age for age in sundays if age < 84}
    assert {b.key for b in history if b.key in result.keep} == {history[a].key for a in expected}
    assert len(result.keep) == 30 + len([a for a in sundays if 30 <= a < 84])  # 30 + 8
    assert len(result.keep) + len(result.delete) == 120
    assert result.keep[history[0].key] == "daily"
    assert result.keep[history[81].key] == "weekly"  # the 12th Sunday back
    assert history[88].key in result.delete  # the 13th Sunday back


def test_failed_backups_never_count_and_leave_with_the_daily_window():
    history = [stored(age) for age in range(120)]
    failed_sunday = stored(32, "failed", hour=9)  # newer than that Sunday's good backup
    failed_recent = stored(2, "failed", hour=9)
    incomplete_old = stored(60, "incomplete", hour=9)
    result = plan([*history, failed_sunday, failed_recent, incomplete_old])
    assert result.keep[history[32].key] == "weekly"
    assert failed_sunday.key in result.delete
    assert result.keep[failed_recent.key] == "failed, kept for inspection"
    assert incomplete_old.key in result.delete


def test_a_sunday_whose_only_backup_failed_keeps_nothing_for_that_week():
    history = [stored(age) for age in range(120) if age != 39]
    result = plan([*history, stored(39, "failed")])
    assert at(39).weekday() == 6
    assert not any(key.startswith("backups/2026/10/18/") for key in result.keep)


def test_the_newest_verified_backup_is_never_deleted():
    history = [stored(age) for age in range(30, 120)]
    old_verified = stored(100, "verified", hour=9)
    older_verified = stored(110, "verified", hour=9)
    result = plan([*history, old_verified, older_verified], daily=7, weekly=1)
    assert result.keep == {old_verified.key: "newest verified"}


def test_only_the_newest_good_backup_of_a_sunday_is_weekly():
    morning, evening = stored(46, hour=7), stored(46, hour=20)
    result = plan([morning, evening])
    assert result.keep == {evening.key: "weekly"}
    assert result.delete == [morning.key]


def test_retention_with_nothing_to_do():
    assert plan([]).keep == {}
    assert plan([]).delete == []


def test_unrecorded_dumps_count_as_completed_only_with_their_manifest():
    recorded_key = stored(0).key
    with_manifest = stored(11).key  # a Sunday, outside the daily window
    without_manifest = stored(1, hour=9).key
    dumps = [recorded_key, with_manifest, without_manifest]
    manifests = {manifest_key(recorded_key), manifest_key(with_manifest)}
    found = stored_backups(dumps, manifests, {recorded_key: "failed"})
    assert found == [
        StoredBackup(recorded_key, at(0), "failed"),
        StoredBackup(with_manifest, at(11), "completed"),
        StoredBackup(without_manifest, at(1, hour=9), "incomplete"),
    ]
    result = plan(found, daily=7, weekly=2)
    assert result.keep == {
        recorded_key: "failed, kept for inspection",
        with_manifest: "weekly",
        without_manifest: "incomplete, kept for inspection",
    }
    with pytest.raises(ValueError, match="not a SigmaSight backup key"):
        stored_backups(["backups/notes.txt"], set(), {})
