"""Login, tokens, the rate limit and the signing key, against real PostgreSQL."""

import datetime as dt
import logging
import stat
from typing import Any

import jwt
import pytest
from sqlalchemy import text

from sigmasight.api.auth import (
    ApiConfigError,
    RateLimiter,
    SigningKey,
    issue_token,
    resolve_signing_key,
)
from sigmasight.api.main import create_app
from sigmasight.settings import get_settings
from tests.integration.api.conftest import SECRET, login

PORTFOLIOS = "/api/v1/portfolios"


def error(response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message"} <= set(body["error"]), body
    found: dict[str, Any] = body["error"]
    return found


def test_login_returns_a_24_hour_hs256_token(client, world):
    response = client.post(
        "/api/v1/auth/login", json={"email": world.hnw_email.upper(), "password": world.password}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 24 * 3600
    claims = jwt.decode(body["access_token"], SECRET, algorithms=["HS256"], issuer="sigmasight")
    assert claims["email"] == world.hnw_email
    assert claims["exp"] - claims["iat"] == 24 * 3600
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "HS256"
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["email"] == world.hnw_email


def test_wrong_password_and_unknown_user_get_the_same_401(client, world):
    wrong = client.post("/api/v1/auth/login", json={"email": world.hnw_email, "password": "not-it"})
    unknown = client.post(
        "/api/v1/auth/login", json={"email": "nobody@example.com", "password": world.password}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert (
        error(wrong)
        == error(unknown)
        == {
            "code": "invalid_credentials",
            "message": "wrong email or password",
        }
    )
    assert "access_token" not in wrong.text


def test_an_account_without_password_or_inactive_cannot_log_in(client, world, api_db):
    from sigmasight.db import get_engine

    with get_engine().begin() as conn:
        conn.execute(
            text("UPDATE app_user SET is_active = false WHERE email = :e"), {"e": world.hnw_email}
        )
    response = client.post(
        "/api/v1/auth/login", json={"email": world.hnw_email, "password": world.password}
    )
    assert response.status_code == 401


def test_login_body_is_validated(client):
    response = client.post("/api/v1/auth/login", json={"email": "a@b.c"})
    assert response.status_code == 422
    err = error(response)
    assert err["code"] == "validation_error"
    assert err["message"].startswith("body password")
    assert err["details"][0]["location"] == "body password"
    assert client.post("/api/v1/auth/login", content=b"{not json").status_code == 422


def test_sixth_login_attempt_in_a_minute_is_refused(client, world):
    for _ in range(5):
        client.post("/api/v1/auth/login", json={"email": world.hnw_email, "password": "nope"})
    response = client.post(
        "/api/v1/auth/login", json={"email": world.hnw_email, "password": world.password}
    )
    assert response.status_code == 429
    assert error(response)["code"] == "rate_limited"
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    metrics = client.get("/metrics").text
    assert "sigmasight_login_rate_limited_total 1.0" in metrics


def test_the_rate_limit_is_configurable(make_client, world, monkeypatch):
    monkeypatch.setenv("SIGMASIGHT_LOGIN_RATE_LIMIT", "2")
    client = make_client()
    for _ in range(2):
        assert login(client, world.hnw_email, world.password)
    response = client.post(
        "/api/v1/auth/login", json={"email": world.hnw_email, "password": world.password}
    )
    assert response.status_code == 429


def test_rate_limiter_is_a_sliding_window_per_client():
    now = [0.0]
    limiter = RateLimiter(limit=2, window_s=60.0, clock=lambda: now[0])
    assert limiter.hit("a") is None
    now[0] = 30.0
    assert limiter.hit("a") is None
    assert limiter.hit("a") == pytest.approx(30.0)  # the first attempt leaves at t=60
    assert limiter.hit("b") is None  # another client has its own window
    now[0] = 60.5
    assert limiter.hit("a") is None
    assert limiter.hit("a") is not None


@pytest.mark.parametrize(
    "path",
    [
        PORTFOLIOS,
        f"{PORTFOLIOS}/DEMO_HNW",
        f"{PORTFOLIOS}/DEMO_HNW/risk",
        f"{PORTFOLIOS}/DEMO_HNW/factor-exposures",
        f"{PORTFOLIOS}/DEMO_HNW/correlations",
        f"{PORTFOLIOS}/DEMO_HNW/stress",
        f"{PORTFOLIOS}/DEMO_HNW/snapshots",
        f"{PORTFOLIOS}/DEMO_HNW/reports",
        f"{PORTFOLIOS}/DEMO_HNW/reports/1",
        f"{PORTFOLIOS}/DEMO_HNW/reports/1/download",
        "/api/v1/runs",
        "/api/v1/auth/me",
    ],
)
def test_every_api_route_needs_a_token(client, path):
    response = client.get(path)
    assert response.status_code == 401
    assert error(response)["code"] == "not_authenticated"
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_analyze_needs_a_token(client):
    response = client.post(f"{PORTFOLIOS}/DEMO_HNW/analyze", json={"question": "hi"})
    assert response.status_code == 401


def _user_id(email: str) -> int:
    from sigmasight.db import get_engine

    with get_engine().connect() as conn:
        found = conn.execute(text("SELECT id FROM app_user WHERE email = :e"), {"e": email})
        return int(found.scalar_one())


def test_expired_token_is_refused(client, world):
    key = SigningKey(value=SECRET, source="test")
    token = issue_token(
        key,
        _user_id(world.hnw_email),
        world.hnw_email,
        ttl=dt.timedelta(hours=24),
        now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=25),
    )
    response = client.get(PORTFOLIOS, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert error(response)["code"] == "token_expired"


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(
            lambda uid: jwt.encode(
                {"sub": str(uid), "iss": "sigmasight", "iat": 0, "exp": 4102444800},
                "another-secret-key-that-is-long-enough-0123456789",
                algorithm="HS256",
            ),
            id="wrong-signature",
        ),
        pytest.param(
            lambda uid: jwt.encode(
                {"sub": str(uid), "iss": "sigmasight", "iat": 0, "exp": 4102444800},
                "",
                algorithm="none",
            ),
            id="alg-none",
        ),
        pytest.param(
            lambda uid: jwt.encode(
                {"sub": str(uid), "iss": "someone-else", "iat": 0, "exp": 4102444800},
                SECRET,
                algorithm="HS256",
            ),
            id="wrong-issuer",
        ),
        pytest.param(
            lambda uid: jwt.encode(
                {"sub": "admin", "iss": "sigmasight", "iat": 0, "exp": 4102444800},
                SECRET,
                algorithm="HS256",
            ),
            id="non-numeric-subject",
        ),
        pytest.param(
            lambda uid: jwt.encode(
                {"sub": str(uid), "iss": "sigmasight"}, SECRET, algorithm="HS256"
            ),
            id="no-expiry",
        ),
        pytest.param(lambda uid: "not.a.jwt", id="garbage"),
    ],
)
def test_forged_or_malformed_tokens_are_refused(client, world, forge):
    token = forge(_user_id(world.hnw_email))
    response = client.get(PORTFOLIOS, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert error(response)["code"] == "invalid_token"


def test_the_cookie_authenticates_too(client, hnw):
    token = hnw["Authorization"].split()[1]
    client.cookies.set("auth_token", token)
    response = client.get(PORTFOLIOS)
    assert response.status_code == 200
    assert response.json()["total"] == 3


def test_without_secret_key_a_demo_key_is_generated_once_per_state_dir(
    api_db, monkeypatch, tmp_path, caplog
):
    state = tmp_path / "fresh-state"
    monkeypatch.delenv("SECRET_KEY")
    monkeypatch.setenv("SIGMASIGHT_STATE_DIR", str(state))
    get_settings.cache_clear()
    with caplog.at_level(logging.WARNING, logger="sigmasight.api.auth"):
        first = resolve_signing_key(get_settings())
    path = state / "api-secret-key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first.value) >= 32
    assert first.value not in caplog.text
    assert "SECRET_KEY is not set" in caplog.text and "demo key" in caplog.text
    second = resolve_signing_key(get_settings())
    assert second.value == first.value
    assert first.value not in repr(first)
    app = create_app()
    assert app.state.signing_key.value == first.value


def test_a_short_secret_key_is_refused(api_db, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "short")
    get_settings.cache_clear()
    with pytest.raises(ApiConfigError, match="at least 32"):
        create_app()


def test_a_token_signed_with_another_servers_key_is_refused(make_client, world, monkeypatch):
    first = make_client()
    headers = login(first, world.hnw_email, world.password)
    monkeypatch.setenv("SECRET_KEY", "a-completely-different-key-0123456789-abcdefghij")
    second = make_client()
    assert second.get(PORTFOLIOS, headers=headers).status_code == 401
