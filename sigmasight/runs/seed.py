"""The demo seed: three users, three portfolios, the factor set and the stress library.

Idempotent: seeding again for the same as-of date changes no row. A stored demo password
hash is kept when it still verifies, since Argon2 salts would otherwise change it.
"""

import datetime as dt
from dataclasses import dataclass

from sigmasight.db import session_scope
from sigmasight.demo import DEMO_PASSWORD, DEMO_USERS, demo_bundle
from sigmasight.domain import UserSpec
from sigmasight.repositories import reference
from sigmasight.repositories.reference import ChangeCounts
from sigmasight.security import hash_password, verify_password


@dataclass(frozen=True)
class SeedResult:
    """What the seed wrote (all zero on a re-seed)."""

    as_of: dt.date
    portfolios: int
    positions: int
    counts: ChangeCounts


def seed_demo(as_of: dt.date) -> SeedResult:
    """Upsert the demo users and bundle for ``as_of`` (option expiries lie after it)."""
    bundle = demo_bundle(as_of)
    counts = ChangeCounts()
    with session_scope() as session:
        users = []
        for i, (email, full_name) in enumerate(DEMO_USERS):
            stored = reference.get_user_password_hash(session, email)
            keep = stored is not None and verify_password(stored, DEMO_PASSWORD)
            password = stored if keep else hash_password(DEMO_PASSWORD)
            # The demo's first user is its operator: the whole run ledger in the API.
            users.append(UserSpec(email, full_name, password, is_operator=i == 0))
        reference.upsert_users(session, users, counts)
        reference.apply_bundle(session, bundle, counts)
    return SeedResult(
        as_of=as_of,
        portfolios=len(bundle.portfolios),
        positions=sum(len(p.positions) for p in bundle.portfolios),
        counts=counts,
    )
