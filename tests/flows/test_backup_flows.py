"""The backup and backup-verify flows end to end: real Prefect runs, PostgreSQL, moto over HTTP."""

import datetime as dt
import re
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from cli.main import main
from flows.backup import backup_database
from flows.backup_verify import verify_backup
from sigmasight import db as sdb
from sigmasight.db import session_scope
from sigmasight.objectstore import embedded_client, object_store
from sigmasight.repositories import backups
from sigmasight.runs.seed import seed_demo
from sigmasight.settings import get_settings
from tests.s3 import FailingParts, failing_upload_proxy, moto_server, use_bucket

AS_OF = dt.date(2025, 11, 24)


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3(moto_endpoint, db_url, monkeypatch, tmp_path):
    return use_bucket(moto_endpoint, monkeypatch, tmp_path)


def ledger(engine, flow):
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT status, error FROM flow_run WHERE flow = :flow ORDER BY started_at"),
            {"flow": flow},
        ).all()


def backup_status(key):
    with session_scope() as session:
        found = backups.get_backup(session, key)
    assert found is not None
    return found.status, found.error


def test_backup_then_verify_then_corruption_fails_the_verify_run(engine, s3):
    seed_demo(AS_OF)

    state = backup_database(return_state=True)
    assert state.is_completed(), state.message
    result = state.result()
    assert isinstance(result, dict)
    key = result["key"]
    assert result["tables"] >= 15
    assert result["retention_deleted"] == []
    assert backup_status(key) == ("completed", None)
    assert [row.status for row in ledger(engine, "backup")] == ["succeeded"]
    objects = s3.client.list_objects_v2(Bucket=s3.bucket)["Contents"]
    assert sorted(o["Key"] for o in objects) == [key, key.replace(".dump", ".manifest.json")]

    verified = verify_backup(return_state=True)
    assert verified.is_completed(), verified.message
    checked = verified.result()
    assert isinstance(checked, dict) and checked["key"] == key
    assert backup_status(key)[0] == "verified"
    assert [row.status for row in ledger(engine, "backup-verify")] == ["succeeded"]

    s3.client.put_object(Bucket=s3.bucket, Key=key, Body=b"PGDMP not the dump any more")
    failed = verify_backup(return_state=True)
    assert failed.is_failed()
    assert "sha256 mismatch" in str(failed.message)
    status, error = backup_status(key)
    assert status == "failed"
    assert "sha256 mismatch" in str(error)
    runs = ledger(engine, "backup-verify")
    assert [row.status for row in runs] == ["succeeded", "failed"]
    assert "sha256 mismatch" in str(runs[-1].error)

    # Nothing good is left to verify: the next verify run fails and says so.
    nothing = verify_backup(return_state=True)
    assert nothing.is_failed()
    assert "no completed backup to verify" in str(nothing.message)


def test_backup_run_fails_cleanly_when_s3_rejects_the_upload(
    engine, moto_endpoint, s3, monkeypatch
):
    seed_demo(AS_OF)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    with failing_upload_proxy(moto_endpoint, fail_parts={1}) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", proxy)
        get_settings.cache_clear()
        assert object_store().endpoint == proxy
        state = backup_database(return_state=True)
        assert FailingParts.failures == [1, 1]

    assert state.is_failed()
    assert "UploadPart" in str(state.message)
    with session_scope() as session:
        (row,) = backups.list_backups(session)
    assert row.status == "failed"
    assert "InternalError" in str(row.error)
    runs = ledger(engine, "backup")
    assert [r.status for r in runs] == ["failed"]
    direct = embedded_client(moto_endpoint)
    assert direct.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", []) == []
    assert direct.list_objects_v2(Bucket=s3.bucket)["KeyCount"] == 0


@pytest.fixture
def target_db(pg_server):
    name = f"sigmasight_cli_restore_{uuid.uuid4().hex[:8]}"
    sdb.create_database(pg_server.admin, name, owner=pg_server.owner)
    yield pg_server.app.set(database=name)
    sdb.drop_database(pg_server.admin, name)


def test_cli_backup_list_verify_restore(engine, s3, target_db, capsys):
    seed_demo(AS_OF)
    assert main(["backup"]) == 0
    assert main(["backup", "list"]) == 0
    out = capsys.readouterr().out
    (key,) = re.findall(r"backups/\S+\.dump", out.split("backups in", 1)[1])
    assert re.search(
        re.escape(key) + r"\s+\d{4}-\d\d-\d\d \d\d:\d\d\s+[\d.,]+ MiB\s+completed\s+-\s+yes", out
    )

    assert main(["backup", "verify"]) == 0
    assert main(["backup", "list"]) == 0
    assert re.search(re.escape(key) + r".*verified\s+\d{4}-", capsys.readouterr().out)

    raw_target = target_db.render_as_string(hide_password=False)
    password = str(target_db.password)
    assert main(["restore", key, "--target", raw_target]) == 0
    assert main(["restore", key, "--target", raw_target]) == 2  # not empty, no --yes
    assert main(["restore", key, "--target", raw_target, "--yes"]) == 0
    assert (
        main(["restore", key, "--target", raw_target.replace("postgresql+psycopg", "mysql")]) == 2
    )
    captured = capsys.readouterr()
    assert "checksum and row counts match the manifest" in captured.out
    assert "is not empty" in captured.err
    assert "--target must be a PostgreSQL URL" in captured.err
    assert password not in captured.out + captured.err
