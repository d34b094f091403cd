"""Security headers on every response, the JSON error shape, the OpenAPI schema and /docs."""

import logging

import pytest

from sigmasight.api.middleware import API_CSP, PAGE_CSP, REPORT_CSP

BASE_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def assert_secure(response, csp: str | None = API_CSP) -> None:
    for name, value in BASE_HEADERS.items():
        assert response.headers.get(name) == value, (name, response.request.url)
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    if csp is not None:
        assert policy == csp
    assert "unsafe-eval" not in policy


def test_security_headers_on_json_success_and_errors(client, hnw):
    for response in (
        client.get("/api/v1/portfolios", headers=hnw),
        client.get("/api/v1/portfolios"),  # 401
        client.get("/api/v1/portfolios/NOPE", headers=hnw),  # 404
        client.get("/api/v1/portfolios", params={"limit": 0}, headers=hnw),  # 422
        client.get("/health"),
        client.get("/metrics"),
        client.get("/openapi.json"),
        client.get("/nowhere"),
    ):
        assert_secure(response)
        assert response.headers["cache-control"] in {"no-store", "private, no-cache"}


def test_pages_and_reports_get_their_own_strict_policies(client, hnw, world):
    assert_secure(client.get("/login"), PAGE_CSP)
    token = hnw["Authorization"].split()[1]
    client.cookies.set("auth_token", token)
    assert_secure(client.get("/"), PAGE_CSP)
    report = client.get(f"/reports/DEMO_HNW/{world.as_of}/report.html")
    assert report.status_code == 200
    assert_secure(report, REPORT_CSP)
    assert "script-src" not in REPORT_CSP and "sandbox" in REPORT_CSP


def test_unknown_routes_and_methods_use_the_error_shape(client):
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.json() == {
        "error": {"code": "not_found", "message": "no route for GET /api/v1/nothing-here"}
    }
    wrong = client.delete("/api/v1/portfolios")
    assert wrong.status_code == 405
    assert wrong.json()["error"] == {
        "code": "method_not_allowed",
        "message": "DELETE is not allowed on /api/v1/portfolios",
    }


def test_validation_errors_list_every_problem(client, hnw):
    response = client.get(
        "/api/v1/portfolios/DEMO_HNW/snapshots",
        params={"limit": "many", "start": "yesterday"},
        headers=hnw,
    )
    assert response.status_code == 422
    err = response.json()["error"]
    assert err["code"] == "validation_error"
    assert {d["location"] for d in err["details"]} == {"query limit", "query start"}
    assert err["message"].endswith("(and 1 more)")


def test_an_unhandled_error_is_a_json_500_with_headers(client, caplog):
    def boom() -> None:
        raise RuntimeError("kaboom")

    client.app.add_api_route("/boom", boom)
    with caplog.at_level(logging.ERROR, logger="sigmasight.api.middleware"):
        response = client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "code": "internal_error",
            "message": "the server failed to answer; the error is logged",
        }
    }
    assert "kaboom" not in response.text
    assert_secure(response)
    assert "kaboom" in caplog.text
    metrics = client.get("/metrics").text
    assert 'route="/boom",status="500"' in metrics


def test_openapi_schema_documents_the_api(client):
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    expected = {
        "/health",
        "/metrics",
        "/api/v1/auth/login",
        "/api/v1/auth/me",
        "/api/v1/portfolios",
        "/api/v1/portfolios/{portfolio_id}",
        "/api/v1/portfolios/{portfolio_id}/risk",
        "/api/v1/portfolios/{portfolio_id}/factor-exposures",
        "/api/v1/portfolios/{portfolio_id}/correlations",
        "/api/v1/portfolios/{portfolio_id}/stress",
        "/api/v1/portfolios/{portfolio_id}/snapshots",
        "/api/v1/portfolios/{portfolio_id}/contributions",
        "/api/v1/portfolios/{portfolio_id}/attribution",
        "/api/v1/portfolios/{portfolio_id}/backtest",
        "/api/v1/portfolios/{portfolio_id}/limits",
        "/api/v1/portfolios/{portfolio_id}/reports",
        "/api/v1/portfolios/{portfolio_id}/reports/{report_id}",
        "/api/v1/portfolios/{portfolio_id}/reports/{report_id}/download",
        "/api/v1/portfolios/{portfolio_id}/analyze",
        "/api/v1/runs",
        "/api/v1/runs/{run_id}",
    }
    assert set(paths) == expected
    assert not any(p.startswith("/_bench") for p in paths)
    schemes = schema["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"http", "apiKey"}
    risk = paths["/api/v1/portfolios/{portfolio_id}/risk"]["get"]
    assert {"200", "401", "404", "422"} <= set(risk["responses"])
    assert schema["components"]["schemas"]["ErrorResponse"]


def test_docs_page_allows_only_swagger_from_its_cdn(client):
    response = client.get("/docs")
    assert response.status_code == 200
    assert "/openapi.json" in response.text
    policy = response.headers["content-security-policy"]
    assert "script-src https://cdn.jsdelivr.net 'sha256-" in policy
    assert "'unsafe-inline'" not in policy.split("style-src")[0]  # scripts: hashes only
    assert response.headers["x-frame-options"] == "DENY"


def test_bench_routes_exist_only_when_enabled(client, make_client, monkeypatch):
    assert client.get("/_bench/memory").status_code == 404
    monkeypatch.setenv("SIGMASIGHT_API_BENCH_ROUTES", "true")
    bench = make_client()
    assert bench.put("/_bench/memory", content=b'{"a":1}').status_code == 204
    served = bench.get("/_bench/memory")
    assert served.content == b'{"a":1}'
    assert_secure(served)
    assert "/_bench/memory" not in bench.get("/openapi.json").text


@pytest.mark.parametrize("path", ["/", "/reports/DEMO_HNW/2026-01-02/report.html"])
def test_browser_routes_redirect_to_login_without_a_cookie(client, path):
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
