"""The demo seed: three users, three portfolios, the factor set and the stress library.

With history (what ``sigmasight demo`` seeds) the books are dated
:data:`~sigmasight.demo.DEMO_HISTORY_SESSIONS` sessions back and the demo's trades and cash
flows follow them; the seed owns the demo portfolios' events after their book date, so
seeding another as-of replaces them rather than adding a second set.

Idempotent: seeding again for the same as-of date changes no row. A stored demo password
hash is kept when it still verifies, since Argon2 salts would otherwise change it.
"""

import datetime as dt
from dataclasses import dataclass

from sigmasight.db import session_scope
from sigmasight.demo import DEMO_PASSWORD, DEMO_USERS, demo_seed
from sigmasight.domain import UserSpec
from sigmasight.repositories import book_events, reference
from sigmasight.repositories.reference import ChangeCounts
from sigmasight.security import hash_password, verify_password


@dataclass(frozen=True)
class SeedResult:
    """What the seed wrote (all zero on a re-seed)."""

    as_of: dt.date
    portfolios: int
    positions: int
    counts: ChangeCounts
    #: The demo books' date (``as_of`` without history).
    book_date: dt.date | None = None
    trades: int = 0
    cash_flows: int = 0


def seed_demo(as_of: dt.date, *, history: bool = False) -> SeedResult:
    """Upsert the demo users and books for ``as_of`` and, with ``history``, their events."""
    seed = demo_seed(as_of, history=history)
    bundle = seed.bundle
    book_date = bundle.valuation_date or as_of
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
        if history:
            ids = book_events.portfolio_ids(session, [p.external_id for p in bundle.portfolios])
            for external_id, portfolio_id in sorted(ids.items()):
                book_events.delete_events_after(
                    session,
                    portfolio_id,
                    book_date,
                    keep_trade_ids={
                        t.trade_id
                        for t in seed.trades
                        if t.portfolio == external_id and t.trade_id is not None
                    },
                    keep_flow_dates={
                        f.flow_date for f in seed.cash_flows if f.portfolio == external_id
                    },
                    counts=counts,
                )
            book_events.upsert_trades(session, seed.trades, ids, counts)
            book_events.upsert_cash_flows(session, seed.cash_flows, ids, counts)
    return SeedResult(
        as_of=as_of,
        portfolios=len(bundle.portfolios),
        positions=sum(len(p.positions) for p in bundle.portfolios),
        counts=counts,
        book_date=book_date,
        trades=len(seed.trades),
        cash_flows=len(seed.cash_flows),
    )
