"""``POST /api/v1/auth/login`` (rate-limited) and ``GET /api/v1/auth/me``."""

import datetime as dt

from fastapi import APIRouter, Request

from sigmasight.api.auth import RateLimiter, SigningKey, TokenUser, authenticate, issue_token
from sigmasight.api.deps import SessionDep, SettingsDep, UserDep
from sigmasight.api.errors import ApiError, problem_schema, rate_limited
from sigmasight.api.metrics import ApiMetrics
from sigmasight.api.schemas import LoginRequest, TokenResponse, UserOut
from sigmasight.repositories import api_reads
from sigmasight.settings import Settings

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

BAD_CREDENTIALS = "wrong email or password"


def client_key(request: Request) -> str:
    """The rate limiter's key: the client's address (the proxy's, unless uvicorn trusts it)."""
    return request.client.host if request.client else "unknown"


def check_rate_limit(request: Request) -> None:
    """Count a login attempt; 429 with Retry-After when the client is over its limit."""
    limiter: RateLimiter = request.app.state.login_limiter
    wait = limiter.hit(client_key(request))
    if wait is not None:
        metrics: ApiMetrics = request.app.state.metrics
        metrics.login_refused.inc()
        raise rate_limited(wait, "login attempts", limiter.limit)


def login_token(request: Request, user: TokenUser, settings: Settings) -> tuple[str, int]:
    """A token for ``user`` and its lifetime in seconds."""
    key: SigningKey = request.app.state.signing_key
    ttl = dt.timedelta(minutes=settings.api_token_ttl_minutes)
    return issue_token(key, user.id, user.email, ttl=ttl), int(ttl.total_seconds())


@router.post(
    "/login",
    response_model=TokenResponse,
    responses=problem_schema(401, 422, 429),
    summary="Exchange email and password for a bearer token",
)
def login(
    body: LoginRequest, request: Request, session: SessionDep, settings: SettingsDep
) -> TokenResponse:
    """A JWT (HS256) valid for 24 hours by default; 5 attempts per minute per client."""
    check_rate_limit(request)
    user = authenticate(session, body.email, body.password)
    if user is None:
        raise ApiError(401, "invalid_credentials", BAD_CREDENTIALS)
    token, expires_in = login_token(request, user, settings)
    return TokenResponse(access_token=token, expires_in=expires_in)


@router.get("/me", response_model=UserOut, responses=problem_schema(401))
def me(user: UserDep, session: SessionDep) -> UserOut:
    """The logged-in user."""
    found = api_reads.get_active_user(session, user.id)
    if found is None:
        raise ApiError(401, "invalid_token", "the account no longer exists or is disabled")
    return UserOut(id=found.id, email=found.email, full_name=found.full_name)
