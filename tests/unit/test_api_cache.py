"""The risk-document cache: TTL, revalidation against the fingerprint, LRU, shared checks."""

import asyncio
import datetime as dt

from sigmasight.api.cache import CachedDocument, DocumentCache, entity_tag
from sigmasight.api.templates import FILTERS

KEY = (1, "P1", None)


def test_an_entry_is_fresh_only_within_its_ttl():
    now = [100.0]
    cache = DocumentCache(ttl_s=1.0, clock=lambda: now[0])
    assert cache.fresh(KEY) is None
    entry = cache.put(KEY, 7, "fp-a", b"{}")
    assert cache.fresh(KEY) == entry
    now[0] = 100.99
    assert cache.fresh(KEY) == entry
    now[0] = 101.0
    assert cache.fresh(KEY) is None


def test_revalidation_renews_a_matching_entry_and_rejects_a_changed_one():
    now = [0.0]
    cache = DocumentCache(ttl_s=1.0, clock=lambda: now[0])
    cache.put(KEY, 7, "fp-a", b"old")
    now[0] = 5.0
    renewed = cache.revalidate(KEY, 7, "fp-a")
    assert renewed is not None and renewed.body == b"old" and renewed.checked_at == 5.0
    assert cache.fresh(KEY) == renewed
    assert cache.revalidate(KEY, 7, "fp-b") is None  # a stored row changed
    assert cache.revalidate(KEY, 8, "fp-a") is None  # another snapshot became current
    assert cache.revalidate((2, "P1", None), 7, "fp-a") is None  # another user


def test_ttl_zero_never_serves_without_a_check():
    cache = DocumentCache(ttl_s=0.0)
    cache.put(KEY, 7, "fp", b"x")
    assert cache.fresh(KEY) is None
    assert cache.revalidate(KEY, 7, "fp") is not None


def test_least_recently_used_entries_are_evicted():
    cache = DocumentCache(ttl_s=10.0, max_entries=2)
    for i in range(3):
        cache.put((i, "P", dt.date(2025, 1, 2)), i, "fp", b"x")
    assert len(cache) == 2
    assert cache.revalidate((0, "P", dt.date(2025, 1, 2)), 0, "fp") is None


def test_entity_tags_are_quoted_and_follow_the_fingerprint():
    assert entity_tag("a") == entity_tag("a") != entity_tag("b")
    assert entity_tag("a").startswith('"') and entity_tag("a").endswith('"')


def test_concurrent_requests_share_one_check():
    cache = DocumentCache(ttl_s=1.0)
    calls = []

    async def check() -> CachedDocument:
        calls.append(1)
        await asyncio.sleep(0.01)
        return cache.put(KEY, 1, "fp", b"doc")

    async def main() -> list[CachedDocument]:
        return await asyncio.gather(*(cache.shared(KEY, check) for _ in range(20)))

    results = asyncio.run(main())
    assert len(calls) == 1
    assert {r.body for r in results} == {b"doc"}

    async def again() -> CachedDocument:
        return await cache.shared(KEY, check)

    asyncio.run(again())
    assert len(calls) == 2  # a finished check is not reused


def test_template_filters_format_missing_values_as_a_dash():
    money, pct, number = FILTERS["money"], FILTERS["pct"], FILTERS["number"]
    assert money(1234567.4) == "$1,234,567"
    assert money(-5.6) == "-$6"
    assert money(10.0, currency="EUR") == "10 EUR"
    assert money(None) == money(float("nan")) == "—"
    assert pct(0.0213) == "2.13 %"
    assert number(1.137) == "1.14"
    assert number("x") == "—"
