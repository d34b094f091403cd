"""/health (database, nightly run, backups) and /metrics."""

import logging
import socket

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from sigmasight import db as sdb
from sigmasight.db import get_engine


def execute(sql: str, **params) -> None:
    with get_engine().begin() as conn:
        conn.execute(text(sql), params)


def test_healthy_when_database_run_and_backup_are_fine(client, world):
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy" and body["failing"] == []
    checks = body["checks"]
    assert checks["database"]["status"] == "ok"
    assert checks["database"]["detail"].startswith("PostgreSQL ")
    risk = checks["nightly_risk"]
    assert risk["status"] == "ok"
    assert risk["as_of"] == world.as_of.isoformat()
    assert risk["last_status"] == "succeeded"
    assert 0 <= risk["age_seconds"] < 3600
    assert checks["backup"]["status"] == "ok"
    assert checks["backup"]["last_status"] == "verified"


def test_no_successful_nightly_run_is_503_naming_it(client):
    execute("UPDATE flow_run SET status = 'failed' WHERE flow = 'nightly-risk'")
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["failing"] == ["nightly_risk"]
    assert body["checks"]["nightly_risk"]["detail"] == "no successful nightly-risk run recorded"
    assert body["checks"]["nightly_risk"]["last_status"] == "failed"


def test_a_stale_nightly_run_is_503(client):
    execute("UPDATE flow_run SET as_of_date = as_of_date - 14 WHERE flow = 'nightly-risk'")
    body = client.get("/health").json()
    assert body["failing"] == ["nightly_risk"]
    assert "session(s) behind" in body["checks"]["nightly_risk"]["detail"]


def test_backup_problems_are_503_naming_the_backup(client):
    execute("DELETE FROM backup")
    body = client.get("/health").json()
    assert body["failing"] == ["backup"]
    assert body["checks"]["backup"]["detail"] == "no completed backup recorded"


def test_an_old_or_failed_backup_is_reported(client, world):
    execute("UPDATE backup SET created_at = now() - interval '3 days'")
    old = client.get("/health").json()["checks"]["backup"]
    assert old["status"] == "failing" and "h old (allowed: 48 h)" in old["detail"]
    execute(
        "INSERT INTO backup (run_id, as_of_date, bucket, key, status, database_name, error) "
        "SELECT run_id, as_of_date, bucket, 'backups/new.dump', 'failed', database_name, "
        "'checksum mismatch' FROM backup"
    )
    failed = client.get("/health").json()["checks"]["backup"]
    assert "the newest backup failed: checksum mismatch" in failed["detail"]


def test_a_good_backup_whose_dump_is_gone_is_503(make_client, world, api_s3):
    from sigmasight.objectstore import embedded_client
    from tests.integration.api.world import WORLD_BUCKET, WORLD_GOOD_BACKUP

    s3 = embedded_client(api_s3)
    assert make_client().get("/health").status_code == 200
    body = s3.get_object(Bucket=WORLD_BUCKET, Key=WORLD_GOOD_BACKUP)["Body"].read()
    s3.delete_object(Bucket=WORLD_BUCKET, Key=WORLD_GOOD_BACKUP)
    try:
        response = make_client().get("/health")  # a new app: nothing cached
        assert response.status_code == 503
        check = response.json()["checks"]["backup"]
        assert check["status"] == "failing"
        assert (
            f"the dump {WORLD_GOOD_BACKUP} is missing from s3://{WORLD_BUCKET}" in check["detail"]
        )
    finally:
        s3.put_object(Bucket=WORLD_BUCKET, Key=WORLD_GOOD_BACKUP, Body=body)


def test_the_backup_check_can_be_disabled(make_client, monkeypatch):
    execute("DELETE FROM backup")
    monkeypatch.setenv("SIGMASIGHT_HEALTH_REQUIRE_BACKUP", "false")
    response = make_client().get("/health")
    assert response.status_code == 200
    assert response.json()["checks"]["backup"]["status"] == "disabled"


def test_an_unreachable_database_is_503_naming_the_database(make_client, monkeypatch, caplog):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket is closed
    monkeypatch.setenv(
        "DATABASE_URL", f"postgresql+psycopg://nobody:secret-pw@127.0.0.1:{port}/nothing"
    )
    sdb.reset_engine()
    with caplog.at_level(logging.INFO):
        client = make_client()
        response = client.get("/health")
        metrics = client.get("/metrics").text
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["database"]
    assert body["checks"]["database"]["detail"].startswith("unreachable (OperationalError")
    assert body["checks"]["nightly_risk"]["status"] == "unknown"
    assert "secret-pw" not in response.text
    assert "sigmasight_database_up 0.0" in metrics


def test_metrics_count_requests_by_route_template_and_status(client, hnw, world):
    client.get("/api/v1/portfolios/DEMO_HNW", headers=hnw)
    client.get("/api/v1/portfolios/DEMO_INDIVIDUAL", headers=hnw)  # not theirs: 404
    client.get("/no/such/page")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    metrics = response.text

    samples = [
        sample for family in text_string_to_metric_families(metrics) for sample in family.samples
    ]

    def sample(name: str, **labels: str) -> float:
        for found in samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return float(found.value)
        raise AssertionError(f"no {name} {labels}")

    route = "/api/v1/portfolios/{portfolio_id}"
    assert sample("sigmasight_http_requests_total", route=route, status="200") == 1
    assert sample("sigmasight_http_requests_total", route=route, status="404") == 1
    assert sample("sigmasight_http_requests_total", route="/api/v1/auth/login", status="200") == 1
    assert sample("sigmasight_http_requests_total", route="unmatched", status="404") == 1
    assert sample("sigmasight_http_request_duration_seconds_count", route=route, status="200") == 1
    assert sample("sigmasight_http_request_duration_seconds_bucket", route=route, le="+Inf") >= 1
    assert sample("sigmasight_db_pool_connections", state="checked_out") >= 0
    assert "sigmasight_db_pool_size 10.0" in metrics
    assert (
        sample(
            "sigmasight_flow_run_last_finished_timestamp_seconds",
            flow="nightly-risk",
            status="succeeded",
        )
        > 1.7e9
    )
    assert sample("sigmasight_backup_last_timestamp_seconds", kind="good") > 1.7e9
    # sessions since the world's newest risk date (0 while it is the last completed one)
    from sigmasight.trading_calendar import last_completed_session, sessions

    newest = max(world.dates)
    expected = len(sessions(newest, last_completed_session())) - 1
    assert sample("sigmasight_nightly_risk_sessions_behind") == expected
    assert "sigmasight_database_up 1.0" in metrics
    assert "DEMO_HNW" not in metrics  # concrete ids never become label values


def test_a_stopped_embedded_s3_means_the_backup_is_gone(make_client, monkeypatch):
    """No bucket configured and no embedded S3 running: /health fails and starts nothing."""
    monkeypatch.delenv("AWS_S3_BUCKET")
    response = make_client().get("/health")
    assert response.status_code == 503
    check = response.json()["checks"]["backup"]
    assert "the embedded S3 is not running" in check["detail"]
    from sigmasight.objectstore import running_embedded_s3

    assert running_embedded_s3() is None  # the API did not start one
