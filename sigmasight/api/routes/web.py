"""The browser view: a login form, the portfolio list, and reports served inline.

The JWT lives in an HttpOnly, SameSite=Strict cookie (Secure over HTTPS); the login form
carries a double-submit CSRF token. No JavaScript.
"""

import datetime as dt
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from sigmasight.api import report_files, templates
from sigmasight.api.auth import TOKEN_COOKIE, TokenUser, authenticate
from sigmasight.api.deps import SessionDep, SettingsDep, active_user, valid_portfolio_id
from sigmasight.api.errors import ApiError
from sigmasight.api.middleware import PAGE_CSP
from sigmasight.api.routes.auth import BAD_CREDENTIALS, check_rate_limit, login_token
from sigmasight.api.routes.reports import view_url
from sigmasight.documents import LimitState
from sigmasight.reports.explain import STATUS_ORDER, LimitRow, limit_row
from sigmasight.repositories import api_reads

router = APIRouter(include_in_schema=False)

CSRF_COOKIE = "csrf_token"
MAX_LISTED = 500


def _page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(
        templates.render(name, **context),
        status_code=status,
        headers={"Content-Security-Policy": PAGE_CSP},
    )


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _browser_user(request: Request) -> TokenUser | None:
    """The user of the browser's cookie (or a bearer header), None when not logged in."""
    header = request.headers.get("authorization", "")
    token = (
        header[7:] if header.lower().startswith("bearer ") else request.cookies.get(TOKEN_COOKIE)
    )
    try:
        return active_user(request, token)
    except ApiError:
        return None


def _to_login() -> RedirectResponse:
    return RedirectResponse("/login", status_code=303)


def _login_form(
    request: Request, *, error: str | None = None, email: str = "", status: int = 200
) -> HTMLResponse:
    csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
    response = _page(
        "login.html", status, title="Sign in", user=None, error=error, email=email, csrf_token=csrf
    )
    response.set_cookie(
        CSRF_COOKIE,
        csrf,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/login",
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    """The sign-in form."""
    if _browser_user(request) is not None:
        return RedirectResponse("/", status_code=303)
    return _login_form(request)


@router.post("/login", response_class=HTMLResponse)
def login_submit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=255)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Check the form; on success set the token cookie and go to the portfolio list."""
    expected = request.cookies.get(CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(expected.encode(), csrf_token.encode()):
        return _login_form(
            request, error="The form expired: please sign in again.", email=email, status=400
        )
    try:
        check_rate_limit(request)
    except ApiError as exc:
        response = _login_form(request, error=str(exc.detail), email=email, status=429)
        response.headers.update(exc.headers or {})
        return response
    user = authenticate(session, email, password) if email and password else None
    if user is None:
        return _login_form(
            request, error=f"Sign-in failed: {BAD_CREDENTIALS}.", email=email, status=401
        )
    token, expires_in = login_token(request, user, settings)
    redirect = RedirectResponse("/", status_code=303)
    redirect.set_cookie(
        TOKEN_COOKIE,
        token,
        max_age=expires_in,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/",
    )
    return redirect


@router.post("/logout")
def logout() -> Response:
    """Forget the token cookie."""
    response = _to_login()
    response.delete_cookie(TOKEN_COOKIE, path="/", httponly=True, samesite="strict")
    return response


def _limit_rows(raw: list[dict[str, Any]] | None) -> list[LimitRow]:
    """A stored ``limits`` block as display rows, breaches first."""
    rows = [limit_row(LimitState.model_validate(entry)) for entry in raw or []]
    return sorted(rows, key=lambda r: (STATUS_ORDER.get(r.status, 9), r.limit))


@router.get("/", response_class=HTMLResponse)
def index(request: Request, session: SessionDep) -> Response:
    """Limit breaches first, then the user's portfolios with NAV, VaR, beta, limits and reports."""
    user = _browser_user(request)
    if user is None:
        return _to_login()
    rows = api_reads.list_owned_portfolios(session, user.id, limit=MAX_LISTED)
    reports = api_reads.latest_reports(session, user.id, "html")
    limit_states = api_reads.current_limit_states(session, user.id)
    portfolios = []
    breaches: list[dict[str, Any]] = []
    for row in rows:
        report = reports.get(row.external_id)
        name = report_files.filename(report) if report else ""
        raw = limit_states.get(row.external_id)
        alerts = [r for r in _limit_rows(raw) if r.alert]
        breaches += [
            {"external_id": row.external_id, "name": row.name, "as_of": row.as_of, "limit": r}
            for r in alerts
        ]
        portfolios.append(
            {
                "external_id": row.external_id,
                "name": row.name,
                "base_currency": row.base_currency,
                "positions": row.positions,
                "as_of": row.as_of,
                "nav": row.nav,
                "hist_var_95": row.hist_var_95,
                "var": row.hist_var_95 * row.nav
                if row.hist_var_95 is not None and row.nav is not None
                else None,
                "beta_spy": row.beta_spy,
                "status": row.status,
                "report_url": view_url(row.external_id, report.as_of_date, name)
                if report
                else None,
                "report_label": f"HTML report, {report.as_of_date}" if report else "",
                "risk_url": f"/api/v1/portfolios/{row.external_id}/risk",
                "limits_checked": raw is not None,
                "in_breach": sum(1 for r in alerts if r.status != "unknown"),
                "unknown": sum(1 for r in alerts if r.status == "unknown"),
            }
        )
    # Breaches first: new before continuing before unknown, across the user's portfolios.
    breaches.sort(key=lambda b: (STATUS_ORDER.get(b["limit"].status, 9), b["external_id"]))
    return _page(
        "index.html",
        title="Portfolios",
        user=user,
        portfolios=portfolios,
        breaches=breaches,
        last_run=api_reads.last_flow_run(session, "nightly-risk"),
    )


@router.get("/static/app.css")
def stylesheet() -> Response:
    """The view's only stylesheet."""
    body, etag = templates.stylesheet()
    return Response(
        body,
        media_type="text/css; charset=utf-8",
        headers={"ETag": etag, "Cache-Control": "public, max-age=3600"},
    )


@router.get("/reports/{portfolio_id}/{as_of}/{name}")
def report_inline(
    portfolio_id: str,
    as_of: str,
    name: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """A report file shown in the browser (only its owner's); 404 for anyone else."""
    user = _browser_user(request)
    if user is None:
        return _to_login()
    portfolio = api_reads.owned_portfolio(session, user.id, valid_portfolio_id(portfolio_id))
    try:
        day = dt.date.fromisoformat(as_of)
    except ValueError:
        day = None
    found = (
        [
            r
            for r in api_reads.reports_on(session, portfolio.id, day)
            if report_files.filename(r) == name
        ]
        if portfolio is not None and day is not None
        else []
    )
    if not found:
        raise ApiError(
            404, "report_not_found", f"no report {name!r} for {portfolio_id!r} on {as_of}"
        )
    result: FileResponse = report_files.file_response(found[0], settings, inline=True)
    return result
