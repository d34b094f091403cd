"""Tokens, the signing key, password login and the login rate limiter.

Tokens are JWTs signed with HS256 and ``SECRET_KEY`` (claims ``sub`` = user id, ``email``,
``iat``, ``exp``, ``iss``). Outside the demo ``SECRET_KEY`` must be set; when it is not, a
random key is generated once per state folder (``$SIGMASIGHT_STATE_DIR/api-secret-key``,
mode 0600) and a warning says it is a demo key.
"""

import datetime as dt
import logging
import os
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import jwt
from sqlalchemy.orm import Session

from sigmasight.api.schemas import EMAIL_PATTERN
from sigmasight.repositories import api_reads
from sigmasight.security import hash_password, verify_password
from sigmasight.settings import Settings

log = logging.getLogger(__name__)

ALGORITHM = "HS256"
ISSUER = "sigmasight"
TOKEN_COOKIE = "auth_token"
SECRET_KEY_FILE = "api-secret-key"
#: RFC 7518 section 3.2: an HS256 key must have at least 256 bits.
MIN_KEY_BYTES = 32


class ApiConfigError(ValueError):
    """The API cannot start with this configuration (the message says what to change)."""


@dataclass(frozen=True)
class SigningKey:
    """The HS256 key and where it came from (the value never appears in ``repr``)."""

    value: str = field(repr=False)
    source: str
    generated: bool = False


def _read_key_file(path: Path) -> str:
    value = path.read_text(encoding="utf-8").strip()
    if len(value.encode()) < MIN_KEY_BYTES:
        raise ApiConfigError(
            f"{path} holds a key shorter than {MIN_KEY_BYTES} bytes: delete it to generate a new one"
        )
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
    return value


def resolve_signing_key(settings: Settings) -> SigningKey:
    """``SECRET_KEY``, else the demo key of the state folder (created on first use)."""
    if settings.secret_key is not None:
        value = settings.secret_key.get_secret_value().strip()
        if len(value.encode()) < MIN_KEY_BYTES:
            raise ApiConfigError(
                f"SECRET_KEY is {len(value.encode())} bytes; HS256 needs at least {MIN_KEY_BYTES} "
                "(RFC 7518 section 3.2). Generate one with: "
                "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        return SigningKey(value=value, source="SECRET_KEY")
    path = settings.state_dir / SECRET_KEY_FILE
    created = False
    if not path.exists():
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first: use theirs
        else:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(secrets.token_urlsafe(48) + "\n")
            created = True
    value = _read_key_file(path)
    log.warning(
        "SECRET_KEY is not set: API tokens are signed with a demo key %s %s. "
        "Set SECRET_KEY (or SECRET_KEY_FILE) to a random value of 32+ bytes outside the demo.",
        "generated in" if created else "read from",
        path,
    )
    return SigningKey(value=value, source=str(path), generated=True)


# ---- tokens ---------------------------------------------------------------------------------
MAX_USER_ID = 2**31 - 1


@dataclass(frozen=True)
class TokenUser:
    """Who a valid token names."""

    id: int
    email: str


class TokenError(Exception):
    """A token that cannot be used, with a stable error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def issue_token(
    key: SigningKey,
    user_id: int,
    email: str,
    *,
    ttl: dt.timedelta,
    now: dt.datetime | None = None,
) -> str:
    """A signed token for the user, valid for ``ttl`` from ``now``."""
    issued = now or dt.datetime.now(dt.UTC)
    claims = {
        "sub": str(user_id),
        "email": email,
        "iss": ISSUER,
        "iat": int(issued.timestamp()),
        "exp": int((issued + ttl).timestamp()),
    }
    return jwt.encode(claims, key.value, algorithm=ALGORITHM)


def decode_token(key: SigningKey, token: str) -> TokenUser:
    """The user a token names; raises :class:`TokenError` when it is expired or not ours."""
    try:
        claims = jwt.decode(
            token,
            key.value,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["sub", "exp", "iat", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("token_expired", "the token has expired: log in again") from None
    except jwt.InvalidTokenError:
        raise TokenError("invalid_token", "the token is not valid") from None
    subject = claims.get("sub")
    # A user id is a positive PostgreSQL integer in ASCII digits; "²".isdigit() is True
    # and a 30-digit id overflows the column, so both are refused here, not by a query.
    if (
        not isinstance(subject, str)
        or not (subject.isascii() and subject.isdigit())
        or len(subject) > 10
        or not 0 < int(subject) <= MAX_USER_ID
    ):
        raise TokenError("invalid_token", "the token is not valid")
    return TokenUser(id=int(subject), email=str(claims.get("email", "")))


# ---- login ----------------------------------------------------------------------------------
_DUMMY_HASH: list[str] = []
# PostgreSQL text cannot hold NUL: such an email must never reach a query.
_EMAIL_RE = re.compile(EMAIL_PATTERN)


def plausible_email(email: str) -> bool:
    """True when ``email`` could be an account's email (and is safe to send to the database)."""
    return len(email) <= 255 and _EMAIL_RE.fullmatch(email.strip()) is not None and _utf8(email)


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from JSON's "\ud800"
        return False
    return True


def authenticate(session: Session, email: str, password: str) -> TokenUser | None:
    """The user when the email and password match an active account, else None.

    An unknown email costs the same Argon2 verification as a wrong password, so response
    times do not reveal which accounts exist.
    """
    user = api_reads.get_login_user(session, email) if plausible_email(email) else None
    if user is None or user.password_hash is None or not _utf8(password):
        if not _DUMMY_HASH:
            _DUMMY_HASH.append(hash_password(secrets.token_urlsafe(16)))
        verify_password(_DUMMY_HASH[0], password if _utf8(password) else "")
        return None
    if not verify_password(user.password_hash, password):
        return None
    return TokenUser(id=user.id, email=user.email)


class RateLimiter:
    """At most ``limit`` attempts per ``window_s`` seconds per key (a sliding window log).

    In-process: each API process counts on its own, so behind N processes a client gets up
    to N x ``limit`` attempts. Refused attempts are not recorded, so a client that keeps
    retrying gets through again once its oldest attempt leaves the window.
    """

    def __init__(
        self,
        limit: int,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> float | None:
        """Record an attempt; returns None when allowed, else the seconds to wait."""
        now = self._clock()
        horizon = now - self.window_s
        with self._lock:
            hits = self._hits.get(key)
            if hits is None:
                if len(self._hits) >= self._max_keys:
                    self._prune(horizon)
                hits = self._hits[key] = deque()
            while hits and hits[0] <= horizon:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(0.001, hits[0] + self.window_s - now)
            hits.append(now)
            return None

    def _prune(self, horizon: float) -> None:
        stale = [k for k, hits in self._hits.items() if not hits or hits[-1] <= horizon]
        for k in stale:
            del self._hits[k]
        if len(self._hits) >= self._max_keys:
            # Under a flood of distinct clients forget the oldest half rather than grow forever.
            for k in list(self._hits)[: len(self._hits) // 2]:
                del self._hits[k]
