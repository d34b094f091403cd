"""Risk limits (RISK-CONVENTIONS C31): the stored limits, the states a run stored, alerts sent.

Limits live in ``risk_limit``: a portfolio's own (``portfolio_id``) and the defaults
(``portfolio_id`` NULL); a portfolio's own limit replaces the default of the same key.
Each risk run stores the evaluated states in the snapshot's document (``limits`` block);
:func:`limit_states_on` reads them back. Functions take a session and never commit.
"""

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter
from sqlalchemy import delete, func, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from models import LimitAlert, Portfolio, PortfolioSnapshot, RiskLimit
from sigmasight.documents import LimitState
from sigmasight.risk.limits import LIMIT_KEYS, RANGE_KEYS, Bound, LimitBook

if TYPE_CHECKING:  # reference.apply_bundle calls replace_limits: no import cycle at runtime
    from sigmasight.repositories.reference import ChangeCounts

_STATES = TypeAdapter(list[LimitState])


def _bound(row: RiskLimit) -> Bound:
    if row.limit_key in RANGE_KEYS and row.min_value is not None:
        return (float(row.min_value), float(row.max_value))
    return float(row.max_value)


def _values(key: str, bound: Bound) -> dict[str, float | None]:
    if isinstance(bound, tuple):
        return {"min_value": bound[0], "max_value": bound[1]}
    return {"min_value": None, "max_value": bound}


def _order(key: str) -> int:
    return LIMIT_KEYS.index(key) if key in LIMIT_KEYS else len(LIMIT_KEYS)


def load_limit_book(session: Session) -> LimitBook:
    """Every stored limit: the defaults and each portfolio's own (by internal id)."""
    defaults: dict[str, Bound] = {}
    own: dict[int, dict[str, Bound]] = {}
    for row in session.scalars(select(RiskLimit)):
        if row.portfolio_id is None:
            defaults[row.limit_key] = _bound(row)
        else:
            own.setdefault(row.portfolio_id, {})[row.limit_key] = _bound(row)
    return LimitBook(defaults=defaults, own=own)


@dataclass(frozen=True)
class StoredLimit:
    """One stored limit; ``portfolio`` is the external id, None for a default."""

    portfolio: str | None
    limit: str
    bound: Bound
    source: str
    updated_at: dt.datetime


def list_limits(session: Session, external_id: str | None = None) -> list[StoredLimit]:
    """Stored limits: the defaults and every portfolio's own (or those in effect for one).

    With ``external_id``: that portfolio's own limits and the defaults it does not override.
    """
    stmt = select(RiskLimit, Portfolio.external_id).outerjoin(
        Portfolio, Portfolio.id == RiskLimit.portfolio_id
    )
    if external_id is not None:
        stmt = stmt.where((Portfolio.external_id == external_id) | RiskLimit.portfolio_id.is_(None))
    found = [
        StoredLimit(ext, row.limit_key, _bound(row), row.source, row.updated_at)
        for row, ext in session.execute(stmt).all()
    ]
    if external_id is not None:
        overridden = {s.limit for s in found if s.portfolio is not None}
        found = [s for s in found if s.portfolio is not None or s.limit not in overridden]
    return sorted(
        found, key=lambda s: (s.portfolio is not None, s.portfolio or "", _order(s.limit))
    )


def set_limit(
    session: Session, portfolio_id: int | None, key: str, bound: Bound, *, source: str
) -> bool:
    """Create or change one limit (``portfolio_id`` None: a default); True when a row changed."""
    values = _values(key, bound)
    stmt = insert(RiskLimit).values(
        portfolio_id=portfolio_id, limit_key=key, source=source, **values
    )
    changed = tuple_(RiskLimit.min_value, RiskLimit.max_value).is_distinct_from(
        tuple_(stmt.excluded.min_value, stmt.excluded.max_value)
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[RiskLimit.portfolio_id, RiskLimit.limit_key],
        set_={**values, "source": source, "updated_at": func.now()},
        where=changed,
    )
    return bool(session.execute(stmt.returning(RiskLimit.id)).first())


def unset_limit(session: Session, portfolio_id: int | None, key: str) -> bool:
    """Remove one limit (``portfolio_id`` None: a default); True when there was one."""
    owner = (
        RiskLimit.portfolio_id.is_(None)
        if portfolio_id is None
        else RiskLimit.portfolio_id == portfolio_id
    )
    removed = session.execute(
        delete(RiskLimit).where(owner, RiskLimit.limit_key == key).returning(RiskLimit.id)
    ).all()
    return bool(removed)


def replace_limits(
    session: Session,
    portfolio_id: int | None,
    limits: Mapping[str, Bound],
    counts: "ChangeCounts",
    *,
    source: str,
) -> None:
    """Make one portfolio's own limits (or the defaults) exactly ``limits``."""
    owner = (
        RiskLimit.portfolio_id.is_(None)
        if portfolio_id is None
        else RiskLimit.portfolio_id == portfolio_id
    )
    removed = session.execute(
        delete(RiskLimit)
        .where(owner, RiskLimit.limit_key.not_in(list(limits)))
        .returning(RiskLimit.id)
    ).all()
    counts.add(RiskLimit.__tablename__, deleted=len(removed))
    for key, bound in limits.items():
        existed = session.scalar(select(RiskLimit.id).where(owner, RiskLimit.limit_key == key))
        if set_limit(session, portfolio_id, key, bound, source=source):
            if existed is None:
                counts.add(RiskLimit.__tablename__, inserted=1)
            else:
                counts.add(RiskLimit.__tablename__, updated=1)


def parse_states(block: Any) -> list[LimitState] | None:
    """A stored ``limits`` block as typed states (None when the document has none)."""
    if block is None:
        return None
    return _STATES.validate_python(block)


@dataclass(frozen=True)
class LimitStates:
    """A portfolio's limit states as the risk run of ``as_of`` stored them."""

    as_of: dt.date
    states: list[LimitState]


def limit_states_on(
    session: Session, portfolio_id: int, as_of: dt.date | None = None
) -> LimitStates | None:
    """The limit states stored for one portfolio on ``as_of`` (or in its current snapshot).

    None when there is no snapshot; ``states`` is empty when no limit applied (or the
    snapshot predates limits). Entries follow the key order of ``LIMIT_KEYS``; sort them
    by ``sigmasight.risk.limits.severity(state.status)`` to show breaches first. Ownership is the
    caller's check (``api_reads.owned_portfolio``).
    """
    stmt = select(PortfolioSnapshot.as_of_date, PortfolioSnapshot.document["limits"]).where(
        PortfolioSnapshot.portfolio_id == portfolio_id
    )
    if as_of is None:
        stmt = stmt.where(PortfolioSnapshot.is_current)
    else:
        stmt = stmt.where(PortfolioSnapshot.as_of_date == as_of)
    row = session.execute(stmt).first()
    if row is None:
        return None
    return LimitStates(as_of=row[0], states=parse_states(row[1]) or [])


@dataclass(frozen=True)
class Breach:
    """One new breach of a date, for the alert: portfolio, limit, value and bound."""

    portfolio_id: int
    portfolio: str
    limit: str
    value: float
    bound: float | list[float]


def unalerted_new_breaches(session: Session, as_of: dt.date) -> list[Breach]:
    """The ``new`` breaches stored for ``as_of`` that no alert has reported yet."""
    rows = session.execute(
        text(
            "SELECT s.portfolio_id, p.external_id, e->>'limit', (e->>'value')::float8, e->'bound' "
            "FROM portfolio_snapshot s JOIN portfolio p ON p.id = s.portfolio_id "
            "CROSS JOIN LATERAL jsonb_array_elements("
            " CASE WHEN jsonb_typeof(s.document->'limits') = 'array'"
            " THEN s.document->'limits' ELSE '[]'::jsonb END) AS e "
            "WHERE s.as_of_date = :day AND e->>'status' = 'new' "
            "AND NOT EXISTS (SELECT 1 FROM limit_alert a WHERE a.portfolio_id = s.portfolio_id "
            " AND a.as_of_date = s.as_of_date AND a.limit_key = e->>'limit') "
            "ORDER BY p.external_id"
        ),
        {"day": as_of},
    ).all()
    found = [Breach(int(r[0]), str(r[1]), str(r[2]), float(r[3]), r[4]) for r in rows]
    return sorted(found, key=lambda b: (b.portfolio, _order(b.limit)))


def record_alerts(
    session: Session, as_of: dt.date, breaches: Sequence[Breach], run_id: uuid.UUID | None
) -> None:
    """Remember that these breaches of ``as_of`` were posted."""
    if not breaches:
        return
    session.execute(
        insert(LimitAlert)
        .values(
            [
                {
                    "portfolio_id": b.portfolio_id,
                    "as_of_date": as_of,
                    "limit_key": b.limit,
                    "run_id": run_id,
                }
                for b in breaches
            ]
        )
        .on_conflict_do_nothing()
    )
