"""An in-process cache of serialized risk documents, revalidated against the database.

Joining a document from its four tables and encoding it costs a few milliseconds. A cached
document is served again only while it is known to be current: each entry remembers the
fingerprint of the stored rows it was built from (see ``api_reads.document_version``: one
indexed query that also checks that the user owns the portfolio) and when that was last
checked. Within ``ttl_s`` seconds of the last check (``SIGMASIGHT_API_CACHE_TTL_S``, default
1 s) the entry is served without asking the database; after that the next request checks
the fingerprint again, and rebuilds the document if the stored rows changed. So a nightly
run's new figures, a deleted portfolio or a deactivated user show within ``ttl_s`` seconds;
with ``ttl_s = 0`` every request is checked. Concurrent requests for the same document
share one check (:meth:`DocumentCache.shared`), so an expiry does not send every waiting
client to the database at once.
"""

import asyncio
import datetime as dt
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

#: (user id, portfolio external id, as-of date or None for the current snapshot)
CacheKey = tuple[int, str, dt.date | None]


@dataclass(frozen=True)
class CachedDocument:
    """Serialized JSON, its entity tag, and what it was validated against."""

    snapshot_id: int
    fingerprint: str
    body: bytes
    etag: str
    checked_at: float


def entity_tag(fingerprint: str) -> str:
    """A strong ETag derived from the stored rows' fingerprint."""
    return '"' + hashlib.blake2b(fingerprint.encode(), digest_size=12).hexdigest() + '"'


class DocumentCache:
    """LRU of :data:`CacheKey` -> :class:`CachedDocument` (thread-safe)."""

    def __init__(
        self,
        ttl_s: float,
        max_entries: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[CacheKey, CachedDocument] = OrderedDict()
        self._lock = threading.Lock()
        # Touched only on the event loop, so it needs no lock.
        self._inflight: dict[CacheKey, asyncio.Future[CachedDocument]] = {}

    async def shared(
        self, key: CacheKey, check: Callable[[], Awaitable[CachedDocument]]
    ) -> CachedDocument:
        """Run ``check`` for ``key`` unless one is already running; every caller gets its result."""
        pending = self._inflight.get(key)
        if pending is None:
            pending = asyncio.ensure_future(check())
            self._inflight[key] = pending
            pending.add_done_callback(lambda _: self._inflight.pop(key, None))
        # A caller that goes away must not cancel the check the others are waiting for.
        return await asyncio.shield(pending)

    def fresh(self, key: CacheKey) -> CachedDocument | None:
        """The entry if it was validated less than ``ttl_s`` seconds ago."""
        if self.ttl_s <= 0:
            return None
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or self._clock() - entry.checked_at >= self.ttl_s:
            return None
        return entry

    def revalidate(
        self, key: CacheKey, snapshot_id: int, fingerprint: str
    ) -> CachedDocument | None:
        """The entry if it still matches the stored rows (its check time renewed), else None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or (entry.snapshot_id, entry.fingerprint) != (
                snapshot_id,
                fingerprint,
            ):
                return None
            renewed = CachedDocument(
                entry.snapshot_id, entry.fingerprint, entry.body, entry.etag, self._clock()
            )
            self._entries[key] = renewed
            self._entries.move_to_end(key)
            return renewed

    def put(self, key: CacheKey, snapshot_id: int, fingerprint: str, body: bytes) -> CachedDocument:
        """Store a freshly built document; evicts the least recently used beyond the limit."""
        entry = CachedDocument(
            snapshot_id, fingerprint, body, entity_tag(fingerprint), self._clock()
        )
        if self.max_entries <= 0:
            return entry
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return entry

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
