"""What the Polygon, FMP and FRED clients share: rate limiting, retries, error classes, redaction.

All three vendors take the API key as a query parameter, so the key would otherwise end up in
httpx's own ``HTTP Request: GET ...`` log line, in exception messages and in tracebacks. Here:

* every message we build names the URL with the key parameter shown as ``***``;
* httpx exceptions are never chained or quoted unredacted;
* a :class:`~sigmasight.logs.RedactSecrets` filter on the ``httpx`` logger masks every key a
  client was built with, whatever handler (or ``caplog``) is listening.

Failures are classified as providers.md section 0 prescribes: auth and entitlement errors are
raised at once; 429 (and vendor "limit" bodies) wait for ``Retry-After`` or back off
exponentially; 5xx, timeouts and connection errors back off with full jitter. Attempts are
bounded, so a daily quota fails the task instead of spinning.
"""

import datetime as dt
import email.utils
import enum
import hashlib
import json
import logging
import math
import random
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import quote_plus

import httpx
import pandas as pd

from sigmasight.logs import REDACTED, redact_in_httpx_logs
from sigmasight.providers.base import (
    BAR_COLUMNS,
    ProviderAuthError,
    ProviderBadResponse,
    ProviderEntitlementError,
    ProviderError,
    ProviderRateLimited,
    ProviderTransientError,
    empty_bars,
)

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], None]
QueryValue = str | int | float | bool
Query = Mapping[str, QueryValue]

#: Messages that mean "this key is wrong or missing", whatever the HTTP status (Polygon 401
#: "Unknown API Key" / "API Key was not provided", FMP "Invalid API KEY", FRED 400 "Variable
#: api_key is not set" / "The value for variable api_key is not registered").
_AUTH_MESSAGE = re.compile(
    r"(unknown|invalid)\s+api[\s_]?key|api[\s_]?key\b.*\bnot\s+(set|registered|provided|valid)",
    re.IGNORECASE,
)
_MESSAGE_CHARS = 300


class TokenBucket:
    """A thread-safe token bucket: ``capacity`` requests at once, refilled at ``rate_per_s``.

    Callers *reserve* a token: the bucket may go into debt, and each caller is told how long
    to wait for its own token. Concurrent callers are thus served in arrival order, spaced
    ``1 / rate_per_s`` apart once the burst is spent, and nobody spins on the lock.

    Parameters
    ----------
    rate_per_s : float
        Tokens added per second (``per_minute / 60`` for a per-minute limit).
    capacity : float
        Largest burst; at least 1.
    clock : callable, default=time.monotonic
        Monotonic seconds; injectable for tests.
    sleep : callable, default=time.sleep
        Used by :meth:`acquire`; injectable for tests.
    """

    def __init__(
        self,
        rate_per_s: float,
        capacity: float,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        if not rate_per_s > 0:
            raise ValueError(f"rate_per_s must be positive, got {rate_per_s}")
        if not capacity >= 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.rate_per_s = float(rate_per_s)
        self.capacity = float(capacity)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.capacity
        self._updated = clock()

    def reserve(self) -> float:
        """Take one token now and return the seconds to wait before using it (0 if none)."""
        with self._lock:
            now = self._clock()
            elapsed = max(0.0, now - self._updated)
            self._tokens = min(self.capacity, self._tokens + elapsed * self.rate_per_s)
            self._updated = now
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0.0 else -self._tokens / self.rate_per_s

    def acquire(self) -> None:
        """Block until a token is available, then take it."""
        wait = self.reserve()
        if wait > 0.0:
            self._sleep(wait)


class Limiter:
    """Several token buckets that must all grant a request (FRED: 120/min *and* 2/s).

    Parameters
    ----------
    buckets : sequence of TokenBucket
        Every limit to respect; empty means no client-side limit.
    sleep : callable, default=time.sleep
        Used by :meth:`acquire`.
    """

    def __init__(self, buckets: Sequence[TokenBucket], *, sleep: Sleep = time.sleep) -> None:
        self.buckets = tuple(buckets)
        self._sleep = sleep

    def reserve(self) -> float:
        """Take a token from every bucket; return the seconds until all of them are usable."""
        return max((bucket.reserve() for bucket in self.buckets), default=0.0)

    def acquire(self) -> None:
        """Block until every bucket grants a token."""
        wait = self.reserve()
        if wait > 0.0:
            self._sleep(wait)


_SHARED: dict[tuple[str, float | None, float | None], Limiter] = {}
_SHARED_LOCK = threading.Lock()


def vendor_limiter(
    vendor: str, api_key: str, *, per_minute: float | None, per_second: float | None = None
) -> Limiter | None:
    """The limiter every client of ``vendor`` with this key shares; None when unlimited."""
    if per_minute is None and per_second is None:
        return None
    return shared_bucket(
        f"{vendor}:{key_fingerprint(api_key)}", per_minute=per_minute, per_second=per_second
    )


def shared_bucket(key: str, *, per_minute: float | None, per_second: float | None) -> Limiter:
    """The process-wide limiter for ``key`` (one per provider and API key).

    Every client built with the same ``key`` and limits gets the same object, so concurrent
    Prefect tasks in one worker share the vendor's quota instead of each spending it.

    Parameters
    ----------
    key : str
        Provider plus a fingerprint of the API key (see :func:`key_fingerprint`).
    per_minute : float or None
        Requests per minute; the bucket holds a burst of that many. None: no such limit.
    per_second : float or None
        Requests per second, with a burst of one (FRED rejects micro-bursts). None: no such
        limit.

    Returns
    -------
    Limiter
        Shared by every caller with the same arguments.
    """
    registry_key = (key, per_minute, per_second)
    with _SHARED_LOCK:
        limiter = _SHARED.get(registry_key)
        if limiter is None:
            buckets = []
            if per_minute is not None:
                buckets.append(TokenBucket(per_minute / 60.0, max(1.0, per_minute)))
            if per_second is not None:
                buckets.append(TokenBucket(per_second, 1.0))
            limiter = _SHARED[registry_key] = Limiter(buckets)
        return limiter


def key_fingerprint(api_key: str) -> str:
    """A short, non-reversible name for ``api_key`` (to key limiters without storing it)."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


def bar_frame(columns: Mapping[str, Sequence[object]]) -> pd.DataFrame:
    """A bar frame (``BAR_COLUMNS``) from column lists, sorted by symbol and date.

    Prices and volume become float64; ``symbol``, ``date`` and ``vendor_status`` stay Python
    objects (so a missing status is ``None``, not NaN). Duplicate (symbol, date) rows, e.g.
    from overlapping pages, keep the last one.
    """
    if set(columns) != set(BAR_COLUMNS):
        raise ValueError(f"bar columns must be {BAR_COLUMNS}, got {tuple(columns)}")
    if not columns["symbol"]:
        return empty_bars()
    data: dict[str, pd.Series[Any]] = {}
    for name in BAR_COLUMNS:
        if name in ("symbol", "date", "vendor_status"):
            data[name] = pd.Series(list(columns[name]), dtype="object")
        else:
            data[name] = pd.Series(list(columns[name]), dtype="float64")
    frame = pd.DataFrame(data)
    frame = frame.drop_duplicates(subset=["symbol", "date"], keep="last")
    return frame.sort_values(["symbol", "date"], kind="stable").reset_index(drop=True)


class _Unset(enum.Enum):
    TOKEN = enum.auto()


#: "Not given": the vendor's default applies (None means "no limit").
UNSET: Final = _Unset.TOKEN


class VendorHttp:
    """One vendor's HTTP session: key injection, rate limit, retries and error classes.

    Subclasses set ``name``, ``key_param``, ``default_base_url`` and their free tier's
    ``default_per_minute`` (and ``default_per_second``), and may refine :meth:`_body_error`
    (error envelopes inside a 200) and :meth:`_classify` (vendor-specific messages).

    Parameters
    ----------
    api_key : str
        The vendor key, sent as the ``key_param`` query parameter; never logged.
    base_url : str or None
        Scheme and host, e.g. ``https://api.polygon.io``; None: ``default_base_url``.
    timeout : float, default=30.0
        Seconds for each connect/read/write.
    transport : httpx.BaseTransport or None
        Injected transport (tests); None uses httpx's default.
    per_minute, per_second : float or None
        The client-side limit, shared by every client with this key in the process; unset:
        the vendor's free tier (``default_per_minute``, ``default_per_second``); None: none.
    limiter : Limiter or None
        Acquired before every request (including retries and next pages); given, it replaces
        the one ``per_minute`` and ``per_second`` would build.
    max_attempts : int, default=5
        Attempts per request, first one included.
    max_wait_s : float, default=60.0
        Cap on each backoff wait. A ``Retry-After`` longer than this is not waited for: the
        request fails at once with :class:`ProviderRateLimited` (a daily quota will not clear).
    backoff_s : float, default=1.0
        First backoff step; doubles each attempt.
    sleep : callable, default=time.sleep
        Used for every wait (rate limit and backoff); injectable so tests run fast.
    rng : random.Random or None
        Jitter source; injectable for reproducible tests.
    """

    name: str = "vendor"
    key_param: str = "apikey"
    default_base_url: str = ""
    default_per_minute: float | None = None
    default_per_second: float | None = None

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        per_minute: float | _Unset | None = UNSET,
        per_second: float | _Unset | None = UNSET,
        limiter: Limiter | None = None,
        max_attempts: int = 5,
        max_wait_s: float = 60.0,
        backoff_s: float = 1.0,
        sleep: Sleep = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if not api_key:
            raise ProviderAuthError(f"{self.name}: no API key configured")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self._api_key = api_key
        redact_in_httpx_logs(api_key)
        self._secrets = sorted(
            {s for s in (api_key, quote_plus(api_key)) if len(s) >= 4}, key=len, reverse=True
        )
        self._http = httpx.Client(
            base_url=base_url or self.default_base_url, timeout=timeout, transport=transport
        )
        if limiter is None:
            limiter = vendor_limiter(
                self.name,
                api_key,
                per_minute=self.default_per_minute if per_minute is UNSET else per_minute,
                per_second=self.default_per_second if per_second is UNSET else per_second,
            )
        self._limiter = limiter
        self.max_attempts = max_attempts
        self.max_wait_s = max_wait_s
        self.backoff_s = backoff_s
        self._sleep = sleep
        self._rng = rng or random.Random()

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Release the connection pool."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- requests --------------------------------------------------------------------------

    def get_json(self, path_or_url: str, params: Query | None = None) -> object:
        """GET ``path_or_url`` with the key added and return the decoded JSON body.

        Parameters
        ----------
        path_or_url : str
            A path under the base URL, or an absolute URL (a vendor's ``next_url``), whose own
            query string is kept.
        params : mapping or None
            Extra query parameters (merged with any already in ``path_or_url``).

        Returns
        -------
        object
            The parsed JSON (list, dict, ...).

        Raises
        ------
        ProviderAuthError, ProviderEntitlementError
            At once, without retry.
        ProviderRateLimited, ProviderTransientError
            After ``max_attempts`` attempts (or a ``Retry-After`` beyond ``max_wait_s``).
        ProviderBadResponse
            Unreadable 200 body, vendor error envelope, or another 4xx.
        """
        url = httpx.URL(path_or_url)
        url = url.copy_merge_params(dict(params or {}))
        safe_url = self._safe_url(url)
        url = url.copy_merge_params({self.key_param: self._api_key})
        attempt = 0
        while True:
            attempt += 1
            self._throttle()
            retry_after: float | None = None
            try:
                response = self._http.get(url)
            except httpx.TimeoutException as exc:
                error: ProviderError = ProviderTransientError(
                    f"{self.name}: {type(exc).__name__} on GET {safe_url}"
                )
            except httpx.TransportError as exc:
                error = ProviderTransientError(
                    f"{self.name}: {type(exc).__name__} on GET {safe_url}: {self._redact(str(exc))}"
                )
            else:
                outcome = self._interpret(response, safe_url)
                if not isinstance(outcome, ProviderError):
                    return outcome
                error = outcome
                retry_after = _retry_after_s(response.headers.get("Retry-After"))
            if not error.retryable or attempt >= self.max_attempts:
                raise error
            if retry_after is not None and retry_after > self.max_wait_s:
                raise type(error)(
                    f"{error} (vendor asks to retry after {retry_after:.0f} s; giving up)"
                )
            wait = self._backoff_s(attempt, error, retry_after)
            logger.warning(
                "%s (attempt %d/%d); retrying in %.2f s",
                error,
                attempt,
                self.max_attempts,
                wait,
            )
            self._sleep(wait)

    def _throttle(self) -> None:
        if self._limiter is not None:
            wait = self._limiter.reserve()
            if wait > 0.0:
                logger.debug("%s: rate limit, waiting %.2f s", self.name, wait)
                self._sleep(wait)

    def _interpret(self, response: httpx.Response, safe_url: str) -> object:
        """The payload of a good response, or the ProviderError describing a bad one."""
        status = response.status_code
        payload: object | None
        try:
            payload = json.loads(response.content)
        except ValueError:
            payload = None
        message = self._body_error(payload, response.text if payload is None else "")
        if 200 <= status < 300 and message is None:
            if payload is None:
                return ProviderBadResponse(
                    f"{self.name}: malformed JSON from GET {safe_url}: "
                    f"{self._snippet(response.text)}"
                )
            return payload
        if message is None:
            message = _generic_message(payload) or self._snippet(response.text)
        message = message or response.reason_phrase
        error_class = self._classify(status, message)
        return error_class(f"{self.name}: HTTP {status} on GET {safe_url}: {self._redact(message)}")

    def _body_error(self, payload: object | None, text: str) -> str | None:
        """The vendor's error message when the body is an error envelope, else None.

        ``payload`` is None when the body is not JSON; ``text`` is the raw body.
        """
        return None

    def _classify(self, status: int, message: str) -> type[ProviderError]:
        """The error class for a failed response (status and the vendor's message)."""
        if _AUTH_MESSAGE.search(message) or status == 401:
            return ProviderAuthError
        if status in (402, 403):
            return ProviderEntitlementError
        if status == 429:
            return ProviderRateLimited
        if status >= 500 or status == 408:
            return ProviderTransientError
        return ProviderBadResponse

    def _backoff_s(self, attempt: int, error: ProviderError, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        step = min(self.max_wait_s, self.backoff_s * 2.0 ** (attempt - 1))
        if isinstance(error, ProviderRateLimited):
            # Waiting for a quota window: the full step, no point retrying early.
            return step
        return self._rng.uniform(0.0, step)  # full jitter

    # -- redaction -------------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def _snippet(self, text: str) -> str:
        return self._redact(" ".join(text.split())[:_MESSAGE_CHARS])

    def _safe_url(self, url: httpx.URL) -> str:
        """``url`` (without key) resolved against the base URL, the key shown as ``***``."""
        full = self._http.build_request("GET", url).url
        separator = "&" if full.query else "?"
        return self._redact(f"{full}{separator}{self.key_param}={REDACTED}")


def _generic_message(payload: object) -> str | None:
    """The message field of a JSON error body in any of the three vendors' spellings."""
    if isinstance(payload, dict):
        for field in ("Error Message", "error_message", "error", "message"):
            value = payload.get(field)
            if isinstance(value, str) and value:
                return value
    return None


def _retry_after_s(value: str | None) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date), or None."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - dt.datetime.now(dt.UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)
