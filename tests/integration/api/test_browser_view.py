"""The browser view through HTTP: login form -> cookie -> portfolio list -> report inline."""

import json
import re

from sqlalchemy import text

from sigmasight.api.middleware import PAGE_CSP
from sigmasight.db import get_engine


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def sign_in(client, email: str, password: str, follow: bool = False):
    form = client.get("/login")
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_of(form.text)},
        follow_redirects=follow,
    )


def test_login_form_then_portfolio_list_then_report_inline(client, world):
    form = client.get("/login")
    assert form.status_code == 200
    assert form.headers["content-type"] == "text/html; charset=utf-8"
    assert '<form method="post" action="/login"' in form.text
    assert "<script" not in form.text
    assert form.headers["content-security-policy"] == PAGE_CSP

    response = sign_in(client, world.hnw_email, world.password)
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("auth_token=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Max-Age=86400" in cookie
    assert "Secure" not in cookie  # plain HTTP here; set over HTTPS

    index = client.get("/")
    assert index.status_code == 200
    page = index.text
    for external_id in ("DEMO_HNW", "HNW_EXTRA_A", "HNW_EXTRA_B"):
        assert external_id in page
    assert "DEMO_INDIVIDUAL" not in page
    # A name holding markup is shown as text, never as markup.
    assert "HNW extra B &lt;b&gt;bold&lt;/b&gt;" in page and "<b>bold</b>" not in page
    assert "VaR 95 %" in page and "Beta (SPY)" in page
    assert 'class="status status-ok"' in page or 'class="status status-warnings"' in page
    assert "Last nightly-risk run" in page and "succeeded" in page
    link = f"/reports/DEMO_HNW/{world.as_of}/report.html"
    assert f'href="{link}"' in page
    assert "no report yet" in page  # the extra portfolios have no reports

    report = client.get(link)
    assert report.status_code == 200
    assert report.headers["content-type"] == "text/html; charset=utf-8"
    assert report.headers["content-disposition"] == 'inline; filename="report.html"'
    assert "Demo High Net Worth Investor Portfolio" in report.text
    assert "sandbox" in report.headers["content-security-policy"]


def test_another_users_report_is_404_in_the_browser_too(client, world):
    sign_in(client, world.individual_email, world.password)
    response = client.get(f"/reports/DEMO_HNW/{world.as_of}/report.html")
    assert response.status_code == 404
    assert "NAV" not in response.text
    own = client.get(f"/reports/DEMO_INDIVIDUAL/{world.as_of}/report.html")
    assert own.status_code == 200
    for bad in (
        f"/reports/DEMO_INDIVIDUAL/{world.as_of}/nope.html",
        "/reports/DEMO_INDIVIDUAL/not-a-date/report.html",
        f"/reports/DEMO_INDIVIDUAL/{world.as_of}/..%2F..%2Fetc%2Fpasswd",
    ):
        assert client.get(bad).status_code == 404, bad


def test_wrong_password_shows_the_form_again(client, world):
    response = sign_in(client, world.hnw_email, "wrong")
    assert response.status_code == 401
    assert "Sign-in failed: wrong email or password." in response.text
    assert "auth_token" not in response.headers.get("set-cookie", "")
    assert f'value="{world.hnw_email}"' in response.text
    # An email no account can have never reaches the database (PostgreSQL rejects NUL).
    assert sign_in(client, "a\x00b@example.com", "x").status_code == 401


def test_login_form_needs_its_csrf_token(client, world):
    client.get("/login")
    response = client.post(
        "/login",
        data={"email": world.hnw_email, "password": world.password, "csrf_token": "forged"},
        follow_redirects=False,
    )
    assert response.status_code == 400
    assert "auth_token" not in response.headers.get("set-cookie", "")


def test_the_form_is_rate_limited_too(client, world):
    for _ in range(5):
        sign_in(client, world.hnw_email, "wrong")
    response = sign_in(client, world.hnw_email, world.password)
    assert response.status_code == 429
    assert "too many login attempts" in response.text
    assert response.headers["retry-after"]


def test_logout_forgets_the_cookie(client, world):
    sign_in(client, world.hnw_email, world.password)
    assert client.get("/", follow_redirects=False).status_code == 200
    response = client.post("/logout", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert 'auth_token=""' in response.headers["set-cookie"]
    assert client.get("/", follow_redirects=False).status_code == 303


def test_a_logged_in_user_skips_the_form(client, world):
    sign_in(client, world.hnw_email, world.password)
    response = client.get("/login", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/"


def test_stylesheet_is_served_with_caching(client):
    response = client.get("/static/app.css")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/css; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert response.headers["etag"]


def set_current_limits(external_id: str, limits: object) -> None:
    """A limits block in the current snapshot's document (FORMATS section 8)."""
    with get_engine().begin() as conn:
        conn.execute(
            text(
                "UPDATE portfolio_snapshot SET document = jsonb_set(document, '{limits}', "
                "CAST(:block AS jsonb)) WHERE is_current AND portfolio_id = "
                "(SELECT id FROM portfolio WHERE external_id = :p)"
            ),
            {"block": json.dumps(limits), "p": external_id},
        )


def test_the_portfolio_list_shows_limit_breaches_first(client, world):
    set_current_limits(
        "DEMO_HNW",
        [
            {"limit": "net_leverage", "value": 0.9, "bound": 2.0, "status": "ok"},
            {"limit": "worst_stress_fraction", "value": None, "bound": 0.25, "status": "unknown"},
            {"limit": "gross_leverage", "value": 2.9, "bound": 2.5, "status": "continuing"},
            {"limit": "hist_var_95_fraction", "value": 0.041, "bound": 0.03, "status": "new"},
        ],
    )
    set_current_limits(
        "HNW_EXTRA_A", [{"limit": "gross_leverage", "value": 1.0, "bound": 2.5, "status": "ok"}]
    )
    sign_in(client, world.hnw_email, world.password)
    page = client.get("/").text
    assert "<script" not in page and "style=" not in page  # the page CSP allows neither
    banner = page[page.index('id="breaches"') : page.index("</section>")]
    assert page.index('id="breaches"') < page.index(">NAV</th>")
    statuses = re.findall(r'<span class="limit limit-(\w+)">', banner)
    assert statuses == ["new", "continuing", "unknown"]
    assert "4.10%" in banner and "at most 3.00%" in banner and "2.90x" in banner
    assert "Demo High Net Worth Investor Portfolio" in banner
    table = page[page.index("</section>") :]
    assert "2 in breach" in table and "1 unknown" in table
    assert "within limits" in table  # HNW_EXTRA_A
    # Another user sees none of it.
    client.post("/logout")
    sign_in(client, world.individual_email, world.password)
    other = client.get("/").text
    assert 'id="breaches"' not in other and "4.10%" not in other


def test_no_breach_section_without_a_breach(client, world):
    sign_in(client, world.hnw_email, world.password)
    page = client.get("/").text
    assert 'id="breaches"' not in page
    assert "in breach" not in page
