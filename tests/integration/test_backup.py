"""Backups against real components: embedded PostgreSQL, pg_dump/pg_restore 18, moto over HTTP."""

import datetime as dt
import hashlib
import logging
import os
import re
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import URL, Engine, create_engine, pool, text

from sigmasight import db as sdb
from sigmasight.backup.errors import BackupError, VerificationError
from sigmasight.backup.keys import dump_key, manifest_key
from sigmasight.backup.pgtools import parse_target_url
from sigmasight.backup.s3stream import load_manifest
from sigmasight.db import session_scope
from sigmasight.domain import InputError
from sigmasight.objectstore import (
    EMBEDDED_BUCKET,
    ObjectStore,
    embedded_client,
    object_store,
    running_embedded_s3,
    stop_embedded_s3,
)
from sigmasight.repositories import backups
from sigmasight.runs import backup, ledger
from sigmasight.runs.seed import seed_demo
from sigmasight.settings import get_settings
from tests.s3 import FailingParts, failing_upload_proxy, moto_server, use_bucket

AS_OF = dt.date(2025, 11, 24)


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3(moto_endpoint, db_url, monkeypatch, tmp_path) -> ObjectStore:
    return use_bucket(moto_endpoint, monkeypatch, tmp_path)


@pytest.fixture
def target_db(pg_server) -> Iterator[URL]:
    """An empty database to restore into."""
    name = f"sigmasight_restore_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    sdb.create_database(pg_server.admin, name, owner=pg_server.owner)
    yield pg_server.app.set(database=name)
    sdb.drop_database(pg_server.admin, name)


def seed_with_awkward_rows(engine: Engine) -> None:
    seed_demo(AS_OF)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE notes (id int PRIMARY KEY, body text, raw bytea)"))
        conn.execute(
            text(
                "INSERT INTO notes VALUES (1, 'quote '' and \\ backslash', '\\x00ff'), "
                "(2, E'tab\\tnewline\\nend', NULL), (3, NULL, ''), (4, 'ünïcødé ✓', '\\x41')"
            )
        )


def content_digests(url: URL, tables) -> dict[str, str]:
    """md5 of every table's rows (as text, ordered): equal digests mean equal content."""
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return {
                name: conn.execute(
                    text(
                        f"SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') "
                        f"FROM {name} t"
                    )
                ).scalar_one()
                for name in tables
            }
    finally:
        engine.dispose()


def new_run() -> uuid.UUID:
    return ledger.open_run("backup", as_of=AS_OF, inputs={})


def record(key: str) -> backups.BackupRecord:
    with session_scope() as session:
        found = backups.get_backup(session, key)
    assert found is not None
    return found


def test_backup_verify_restore_round_trip(engine, s3, db_url, target_db, caplog):
    seed_with_awkward_rows(engine)
    caplog.set_level(logging.DEBUG)

    outcome = backup.run_backup(get_settings(), new_run())

    assert re.fullmatch(
        r"backups/\d{4}/\d{2}/\d{2}/sigmasight-\d{8}T\d{6}Z-[0-9a-f]{8}\.dump", outcome.key
    )
    body = s3.client.get_object(Bucket=s3.bucket, Key=outcome.key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == outcome.sha256
    assert body[:5] == b"PGDMP"  # pg_dump's custom format
    manifest = load_manifest(s3, outcome.key)
    assert manifest["sha256"] == outcome.sha256
    assert manifest["size_bytes"] == len(body)
    assert manifest["database_name"] == db_url.database
    assert manifest["server_version"].startswith("18")
    assert manifest["tables"]["public.notes"] == 4
    assert manifest["tables"]["public.portfolio"] == 3
    with engine.connect() as conn:
        assert manifest["tables"]["public.position"] == conn.scalar(
            text("SELECT count(*) FROM position")
        )
    saved = record(outcome.key)
    assert (saved.status, saved.sha256, saved.size_bytes) == (
        "completed",
        outcome.sha256,
        len(body),
    )

    verified = backup.verify_backup(get_settings(), outcome.key)
    assert verified.tables == manifest["tables"]
    saved = record(outcome.key)
    assert saved.status == "verified"
    assert saved.verified_at is not None
    with engine.connect() as conn:
        leftovers = conn.scalar(
            text("SELECT count(*) FROM pg_database WHERE datname LIKE 'sigmasight_verify_%'")
        )
    assert leftovers == 0  # the scratch database is dropped

    restored = backup.restore_backup(get_settings(), outcome.key, target_db)
    assert restored.rows == manifest["total_rows"]
    # The backup's own row was written after the dump's snapshot: the dump has none.
    assert manifest["tables"]["public.backup"] == 0
    tables = sorted(set(manifest["tables"]) - {"public.backup"})
    assert content_digests(target_db, tables) == content_digests(db_url, tables)

    with pytest.raises(InputError, match=r"is not empty.*--yes"):
        backup.restore_backup(get_settings(), outcome.key, target_db)
    with engine.begin() as conn:  # the source moves on; the restore brings the target back
        conn.execute(text("DELETE FROM notes WHERE id = 1"))
    again = backup.restore_backup(get_settings(), outcome.key, target_db, overwrite=True)
    assert again.rows == manifest["total_rows"]
    assert (
        content_digests(target_db, ["public.notes"])["public.notes"]
        != (content_digests(db_url, ["public.notes"])["public.notes"])
    )

    password = str(db_url.password)
    assert password not in caplog.text
    assert password not in str(outcome) + str(manifest)


def test_s3_failing_mid_upload_aborts_and_records_failure(engine, moto_endpoint, s3, monkeypatch):
    with engine.begin() as conn:  # ~10 MiB of hex after compression: at least two 8 MiB parts
        conn.execute(
            text(
                "CREATE TABLE noise AS SELECT g, md5(g::text) || md5((g * 7)::text) "
                "|| md5((g * 13)::text) || md5((g * 31)::text) AS hex "
                "FROM generate_series(1, 150000) g"
            )
        )
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    with failing_upload_proxy(moto_endpoint, fail_parts={2}) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", proxy)
        get_settings.cache_clear()
        store = object_store()
        run_id = new_run()
        with pytest.raises(BackupError, match="UploadPart"):
            backup.run_backup(get_settings(), run_id, store=store)
        assert FailingParts.failures == [2, 2]  # boto3 retried, then gave up

    with session_scope() as session:
        rows = backups.list_backups(session)
    assert [(r.status, r.run_id) for r in rows] == [("failed", run_id)]
    assert "UploadPart" in (rows[0].error or "")
    direct = embedded_client(moto_endpoint)
    assert direct.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", []) == []
    assert direct.list_objects_v2(Bucket=s3.bucket).get("KeyCount") == 0
    with session_scope() as session:
        assert backups.newest_good_backup(session) is None


def test_corrupted_object_fails_verification_loudly(engine, s3):
    seed_demo(AS_OF)
    outcome = backup.run_backup(get_settings(), new_run())
    original = s3.client.get_object(Bucket=s3.bucket, Key=outcome.key)["Body"].read()
    tampered = bytearray(original)
    tampered[len(tampered) // 2] ^= 0xFF
    s3.client.put_object(Bucket=s3.bucket, Key=outcome.key, Body=bytes(tampered))

    with pytest.raises(VerificationError, match=f"sha256 mismatch for {outcome.key}"):
        backup.verify_backup(get_settings(), outcome.key)

    saved = record(outcome.key)
    assert saved.status == "failed"
    assert "sha256 mismatch" in (saved.error or "")
    assert hashlib.sha256(tampered).hexdigest() in (saved.error or "")


def test_pg_dump_failure_aborts_upload(engine, s3, monkeypatch):
    seed_demo(AS_OF)
    with engine.begin() as conn:
        # A table the dumping role cannot read makes pg_dump exit non-zero mid-dump.
        conn.execute(text("CREATE TABLE secret (x int)"))
        conn.execute(text("REVOKE ALL ON secret FROM CURRENT_USER"))
    with pytest.raises(BackupError, match=r"pg_dump exited with status 1.*permission denied"):
        backup.run_backup(get_settings(), new_run())
    with session_scope() as session:
        (row,) = backups.list_backups(session)
    assert row.status == "failed"
    assert s3.client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", []) == []
    assert s3.client.list_objects_v2(Bucket=s3.bucket).get("KeyCount") == 0


def _put_backup(store: ObjectStore, run_id: uuid.UUID, when: dt.datetime, status: str | None):
    key = dump_key("backups/", when, uuid.uuid4())
    store.client.put_object(Bucket=store.bucket, Key=key, Body=b"PGDMP")
    store.client.put_object(Bucket=store.bucket, Key=manifest_key(key), Body=b"{}")
    if status is not None:
        with session_scope() as session:
            backups.start_backup(
                session,
                bucket=store.bucket,
                key=key,
                database_name="x",
                server_version="18.1",
                as_of=when.date(),
                run_id=run_id,
            )
            if status != "uploading":
                backups.complete_backup(session, key, size_bytes=5, sha256="0" * 64, manifest={})
            if status == "verified":
                backups.mark_verified(session, key)
            if status == "failed":
                backups.fail_backup(session, key, "broken")
    return key


def test_retention_deletes_exactly_the_unkept_objects(engine, s3, monkeypatch):
    monkeypatch.setenv("SIGMASIGHT_BACKUP_KEEP_DAILY_DAYS", "7")
    monkeypatch.setenv("SIGMASIGHT_BACKUP_KEEP_WEEKLY_WEEKS", "4")
    get_settings.cache_clear()
    today = dt.date(2026, 11, 26)  # a Thursday
    run_id = new_run()

    def at(days_ago: int) -> dt.datetime:
        day = today - dt.timedelta(days=days_ago)
        return dt.datetime(day.year, day.month, day.day, 7, tzinfo=dt.UTC)

    keys = {age: _put_backup(s3, run_id, at(age), "completed") for age in range(0, 60)}
    old_verified = _put_backup(s3, run_id, at(45) + dt.timedelta(hours=1), "verified")
    failed_recent = _put_backup(s3, run_id, at(1) + dt.timedelta(hours=2), "failed")
    failed_sunday = _put_backup(s3, run_id, at(11) + dt.timedelta(hours=3), "failed")
    unrecorded_old = _put_backup(s3, run_id, at(50) + dt.timedelta(hours=4), None)
    stranger = "backups/README.txt"
    s3.client.put_object(Bucket=s3.bucket, Key=stranger, Body=b"not a backup")

    result = backup.apply_retention(get_settings(), today=today)

    sundays = [age for age in range(0, 28) if at(age).weekday() == 6]
    assert sundays == [4, 11, 18, 25]
    expected = {keys[age] for age in range(0, 7)} | {keys[age] for age in sundays}
    expected |= {old_verified, failed_recent}
    assert set(result.kept) == expected
    assert result.kept[old_verified] == "newest verified"
    assert result.kept[keys[11]] == "weekly"  # the failed backup of that Sunday did not count
    listed = {
        item["Key"]
        for page in s3.client.get_paginator("list_objects_v2").paginate(Bucket=s3.bucket)
        for item in page.get("Contents", [])
    }
    assert listed == expected | {manifest_key(k) for k in expected} | {stranger}
    assert failed_sunday in result.deleted
    assert unrecorded_old in result.deleted
    with session_scope() as session:
        assert backups.statuses(session, [keys[40], keys[0], failed_sunday]) == {
            keys[40]: "deleted",
            keys[0]: "completed",
            failed_sunday: "deleted",
        }


def test_restore_rejects_bad_input(s3, target_db):
    with pytest.raises(InputError, match="not a SigmaSight backup key"):
        backup.restore_backup(get_settings(), "backups/whatever.sql", target_db)
    with pytest.raises(InputError, match="no backup"):
        backup.restore_backup(
            get_settings(),
            "backups/2026/11/26/sigmasight-20261126T020000Z-abcdef12.dump",
            target_db,
        )
    with pytest.raises(InputError, match="--target must be a PostgreSQL URL") as info:
        parse_target_url("mysql://root:hunter2@db/x")
    assert "hunter2" not in str(info.value)


def test_embedded_s3_is_started_once_and_reused(tmp_path, monkeypatch):
    monkeypatch.delenv("AWS_S3_BUCKET", raising=False)
    monkeypatch.setenv("SIGMASIGHT_STATE_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        first = object_store()
        assert (first.bucket, first.embedded) == (EMBEDDED_BUCKET, True)
        first.client.put_object(Bucket=first.bucket, Key="probe", Body=b"kept")
        server = running_embedded_s3()
        assert server is not None
        assert (tmp_path / "s3" / "server.json").exists()

        second = object_store()  # another command: same process, same objects
        assert running_embedded_s3() == server
        assert second.client.get_object(Bucket=second.bucket, Key="probe")["Body"].read() == b"kept"
    finally:
        assert stop_embedded_s3() is True
        get_settings.cache_clear()
    assert running_embedded_s3() is None
    assert stop_embedded_s3() is False
