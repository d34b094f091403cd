"""FastAPI dependencies: the database session, the current user, owned portfolios, pages."""

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

import anyio
import anyio.to_thread
from fastapi import Depends, Path, Query, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from models import Portfolio
from sigmasight.api.auth import TOKEN_COOKIE, SigningKey, TokenError, TokenUser, decode_token
from sigmasight.api.errors import ApiError
from sigmasight.db import get_sessionmaker
from sigmasight.importers.bundle import PORTFOLIO_ID_RE
from sigmasight.repositories import api_reads
from sigmasight.settings import Settings

MAX_PAGE = 200
DEFAULT_PAGE = 50


async def get_session() -> AsyncIterator[Session]:
    """A read session for one request (rolled back and closed afterwards).

    A sync generator dependency would cost two thread-pool hops per request (enter and
    exit). Creating a session does no I/O, so it happens on the event loop; closing it is
    I/O only while it still holds a connection, and then runs in a thread with a limiter of
    its own (as FastAPI does), so that returning connections to a full pool cannot deadlock.
    """
    session = get_sessionmaker()()
    try:
        yield session
    finally:
        if session.in_transaction():
            await anyio.to_thread.run_sync(session.close, limiter=anyio.CapacityLimiter(1))
        else:
            session.close()


SessionDep = Annotated[Session, Depends(get_session)]


# Pure dependencies are async: a sync one would cost a thread-pool hop per request.
async def get_api_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_api_settings)]

_bearer = HTTPBearer(auto_error=False, description="the access_token from POST /api/v1/auth/login")
_cookie = APIKeyCookie(
    name=TOKEN_COOKIE, auto_error=False, description="set by the browser login form"
)

UNAUTHENTICATED = {"WWW-Authenticate": "Bearer"}


def token_user(request: Request, token: str | None) -> TokenUser:
    """The user a token names, or a 401 ``ApiError``."""
    if not token:
        raise ApiError(
            401,
            "not_authenticated",
            "send Authorization: Bearer <token> (POST /api/v1/auth/login gives one)",
            headers=UNAUTHENTICATED,
        )
    key: SigningKey = request.app.state.signing_key
    try:
        return decode_token(key, token)
    except TokenError as exc:
        raise ApiError(401, exc.code, exc.message, headers=UNAUTHENTICATED) from None


class ActiveUsers:
    """Which token users are still active accounts: a valid signature is not enough.

    A token outlives a deleted or disabled account; each user id is checked against the
    database again once ``ttl_s`` has passed (the API cache TTL), so a disabled account
    stops reading within that time while a busy client costs one query per interval.
    """

    MAX_ENTRIES = 100_000

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._checked: dict[int, float] = {}

    def fresh(self, user_id: int) -> bool:
        """True when ``user_id`` was found active less than ``ttl_s`` ago."""
        at = self._checked.get(user_id)
        return at is not None and time.monotonic() - at < self.ttl_s

    def check(self, user_id: int) -> bool:
        """Ask the database (blocking); remember an active user."""
        with get_sessionmaker()() as session:
            active = api_reads.get_active_user(session, user_id) is not None
        if active:
            if len(self._checked) >= self.MAX_ENTRIES:
                self._checked.clear()
            self._checked[user_id] = time.monotonic()
        else:
            self._checked.pop(user_id, None)
        return active


GONE = "the account no longer exists or is disabled: log in again"


def active_user(request: Request, token: str | None) -> TokenUser:
    """:func:`token_user`, and the account must still be active (blocking; sync routes)."""
    user = token_user(request, token)
    users: ActiveUsers = request.app.state.active_users
    if not users.fresh(user.id) and not users.check(user.id):
        raise ApiError(401, "invalid_token", GONE, headers=UNAUTHENTICATED)
    return user


# Async on purpose: decoding a token is pure CPU in microseconds, so it runs on the event
# loop instead of costing a thread-pool hop on every request; only the account check after
# its interval goes to a thread.
async def current_user(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)],
) -> TokenUser:
    """The user named by the bearer token, or else by the browser's HttpOnly cookie."""
    token = bearer.credentials if bearer is not None else cookie
    user = token_user(request, token)
    users: ActiveUsers = request.app.state.active_users
    if not users.fresh(user.id) and not await anyio.to_thread.run_sync(users.check, user.id):
        raise ApiError(401, "invalid_token", GONE, headers=UNAUTHENTICATED)
    return user


UserDep = Annotated[TokenUser, Depends(current_user)]

PortfolioId = Annotated[
    str,
    Path(
        description="the portfolio's external id, e.g. DEMO_HNW",
        examples=["DEMO_HNW"],
    ),
]


def not_found(external_id: str) -> ApiError:
    """The one answer for a portfolio that does not exist or belongs to someone else."""
    return ApiError(404, "portfolio_not_found", f"portfolio {external_id!r} not found")


def valid_portfolio_id(portfolio_id: str) -> str:
    """The id when it could name a portfolio; a 404 otherwise (never a database error)."""
    if not PORTFOLIO_ID_RE.fullmatch(portfolio_id):
        raise not_found(portfolio_id[:64])
    return portfolio_id


def owned_portfolio(portfolio_id: PortfolioId, user: UserDep, session: SessionDep) -> Portfolio:
    """The portfolio if the current user owns it; 404 otherwise, whoever else owns it."""
    found = api_reads.owned_portfolio(session, user.id, valid_portfolio_id(portfolio_id))
    if found is None:
        raise not_found(portfolio_id)
    return found


PortfolioDep = Annotated[Portfolio, Depends(owned_portfolio)]


@dataclass(frozen=True)
class PageParams:
    """``limit`` and ``offset`` of a list request."""

    limit: int
    offset: int


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="items per page")] = DEFAULT_PAGE,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000, description="items to skip")] = 0,
) -> PageParams:
    """Pagination parameters."""
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(page_params)]
