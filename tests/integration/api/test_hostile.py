"""Hostile input on the API surface: forged subjects, dead accounts, big bodies, made-up
methods, a database that went away, and a user who asks too many paid questions."""

import datetime as dt
import http.client
import socket
from typing import Any

import pytest
from sqlalchemy import text

from sigmasight import db as sdb
from sigmasight.api.auth import issue_token
from sigmasight.db import get_engine
from sigmasight.settings import get_settings
from tests.integration.api.conftest import login

P = "/api/v1/portfolios"


@pytest.mark.parametrize(
    "subject", ["999999999999999999999999999999", "²", "0", "2147483648", "-1", "١٢"]
)
def test_a_signed_token_naming_no_possible_user_is_401(client, subject):
    key = client.app.state.signing_key
    token = issue_token(key, 1, "x@example.com", ttl=dt.timedelta(minutes=5))
    # re-sign the same claims with the hostile subject
    import jwt

    claims = jwt.decode(token, key.value, algorithms=["HS256"], options={"verify_iss": False})
    claims["sub"] = subject
    forged = jwt.encode(claims, key.value, algorithm="HS256")
    for path in ("/api/v1/runs", f"{P}", f"{P}/DEMO_HNW/risk"):
        response = client.get(path, headers={"Authorization": f"Bearer {forged}"})
        assert response.status_code == 401, (subject, path, response.text)
        assert response.json()["error"]["code"] == "invalid_token"


def test_a_token_of_a_disabled_or_deleted_account_stops_working(make_client, world):
    client = make_client()
    headers = login(client, world.individual_email, world.password)
    assert client.get("/api/v1/runs", headers=headers).status_code == 200
    assert client.get("/", headers=headers).status_code == 200
    with get_engine().begin() as conn:
        conn.execute(
            text("UPDATE app_user SET is_active = false WHERE email = :e"),
            {"e": world.individual_email},
        )
    fresh = make_client()  # a new process: nothing cached
    assert fresh.get("/api/v1/runs", headers=headers).status_code == 401
    assert fresh.get(f"{P}", headers=headers).status_code == 401
    # the browser view sends such a user back to the sign-in form
    page = fresh.get("/", headers=headers, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login"
    # a correctly signed token of an account that no longer exists at all
    gone = issue_token(
        fresh.app.state.signing_key, 2_000_000_000, "gone@example.com", ttl=dt.timedelta(minutes=5)
    )
    assert fresh.get("/api/v1/runs", headers={"Authorization": f"Bearer {gone}"}).status_code == 401


def test_a_body_over_the_limit_is_refused_before_it_is_read(client, world):
    big = b'{"email": "' + b"a" * (70 * 1024) + b'", "password": "x"}'
    response = client.post(
        "/api/v1/auth/login", content=big, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert "SIGMASIGHT_API_MAX_BODY_BYTES" in response.json()["error"]["message"]

    # no Content-Length (chunked): counted while it streams
    def chunks():
        for _ in range(80):
            yield b"a" * 1024

    streamed = client.post(
        "/api/v1/auth/login", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413
    # a normal login still works
    assert login(client, world.hnw_email, world.password)


def test_the_body_limit_is_a_setting(make_client, world, monkeypatch):
    monkeypatch.setenv("SIGMASIGHT_API_MAX_BODY_BYTES", "2048")
    client = make_client()
    body = {"email": world.hnw_email, "password": world.password, "pad": "x" * 3000}
    assert client.post("/api/v1/auth/login", json=body).status_code == 413


def test_made_up_methods_share_one_metrics_label(client):
    for i in range(50):
        client.request(f"FOO{i}", "/health")
    metrics = client.get("/metrics").text
    assert 'method="OTHER"' in metrics
    assert "FOO" not in metrics


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: nothing listens there


def test_database_down_is_503_with_retry_after(client, hnw, api_db, monkeypatch):
    # the token was checked while the database was up; now it goes away
    dead = api_db.set(port=_dead_port())
    monkeypatch.setenv("DATABASE_URL", dead.render_as_string(hide_password=False))
    get_settings.cache_clear()
    sdb.reset_engine()
    for path in (f"{P}", f"{P}/DEMO_HNW/risk", "/api/v1/runs"):
        response = client.get(path, headers=hnw)
        assert response.status_code == 503, (path, response.text)
        assert response.headers["retry-after"] == "30"
        body = response.json()["error"]
        assert body["code"] == "database_unavailable"
        assert str(dead.password) not in response.text


def test_analyze_is_limited_per_user(make_client, world, monkeypatch):
    monkeypatch.setenv("SIGMASIGHT_ANALYZE_RATE_LIMIT", "3")
    client = make_client()
    hnw = login(client, world.hnw_email, world.password)
    ask = {"question": "What drives my VaR?"}
    for _ in range(3):
        assert client.post(f"{P}/DEMO_HNW/analyze", json=ask, headers=hnw).status_code == 200
    refused = client.post(f"{P}/DEMO_HNW/analyze", json=ask, headers=hnw)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    # another user has a limit of their own
    other = login(client, world.individual_email, world.password)
    assert client.post(f"{P}/DEMO_INDIVIDUAL/analyze", json=ask, headers=other).status_code == 200


def test_forwarded_for_is_ignored_without_a_trusted_proxy(api_db, monkeypatch):
    """uvicorn as `sigmasight api` runs it: a made-up X-Forwarded-For changes nothing."""
    from sigmasight.api import main as api_main

    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    get_settings.cache_clear()
    settings = get_settings()
    assert settings.api_trusted_proxies == ""
    import threading

    import uvicorn

    port = _dead_port()
    captured: dict[str, Any] = {}

    def fake_run(app, **kwargs):  # the real server, in a thread we can stop
        captured.update(kwargs)
        config = uvicorn.Config(app, **kwargs)
        server = uvicorn.Server(config)
        captured["server"] = server
        server.run()

    monkeypatch.setattr(uvicorn, "run", fake_run)
    try:
        thread = threading.Thread(
            target=api_main.serve, args=("127.0.0.1", port, settings), daemon=True
        )
        thread.start()
        import time

        for _ in range(200):
            if captured.get("server") is not None and captured["server"].started:
                break
            time.sleep(0.05)
        statuses = []
        for i in range(settings.login_rate_limit + 1):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request(
                "POST",
                "/api/v1/auth/login",
                body='{"email": "nobody@example.com", "password": "wrong"}',
                headers={"Content-Type": "application/json", "X-Forwarded-For": f"10.0.0.{i}"},
            )
            statuses.append(conn.getresponse().status)
            conn.close()
        assert captured["proxy_headers"] is False
        assert statuses[-1] == 429, statuses
    finally:
        server = captured.get("server")
        if server is not None:
            server.should_exit = True
        thread.join(timeout=10)
