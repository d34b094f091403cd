"""Reference data: users, securities, factors, stress scenarios, portfolios and positions.

Every write is an upsert on the natural key that only touches rows whose values differ,
so importing the same bundle twice changes nothing (not even ``updated_at``).
"""

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import Date, delete, func, literal, literal_column, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from models import (
    UNDATED_BOOK_DATE,
    Factor,
    Portfolio,
    PortfolioBook,
    Position,
    Security,
    StressScenario,
    User,
)
from sigmasight.domain import (
    Bundle,
    PortfolioSpec,
    PositionSpec,
    ScenarioSpec,
    SecuritySpec,
    UserSpec,
)
from sigmasight.repositories.limits import replace_limits
from sigmasight.stress_library import BUILTIN_SCENARIOS

_BUILTIN_BY_NAME = {s.name: s for s in BUILTIN_SCENARIOS}

T = TypeVar("T")


@dataclass
class ChangeCounts:
    """Rows inserted, updated and deleted per table by one import."""

    inserted: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)

    def add(self, table: str, inserted: int = 0, updated: int = 0, deleted: int = 0) -> None:
        """Accumulate the counts for ``table``."""
        for bucket, value in (
            (self.inserted, inserted),
            (self.updated, updated),
            (self.deleted, deleted),
        ):
            if value:
                bucket[table] = bucket.get(table, 0) + value

    @property
    def changed(self) -> int:
        """Total rows written."""
        return sum(self.inserted.values()) + sum(self.updated.values()) + sum(self.deleted.values())

    def as_dict(self) -> dict[str, dict[str, int]]:
        """JSON-able form for the run ledger."""
        return {"inserted": self.inserted, "updated": self.updated, "deleted": self.deleted}


_INSERTED: ColumnElement[bool] = literal_column("(xmax = 0)")  # true for inserted rows

#: Rows per INSERT: PostgreSQL takes at most 65,535 bound parameters in one statement.
BATCH_ROWS = 2000


def batches(rows: Sequence[T]) -> Iterator[Sequence[T]]:
    """``rows`` in consecutive slices of at most ``BATCH_ROWS``."""
    size = BATCH_ROWS
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _upsert(
    session: Session,
    model: Any,
    rows: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    counts: ChangeCounts,
    *,
    touch_updated_at: bool = False,
    insert_only: Sequence[str] = (),
) -> list[Any]:
    """INSERT ... ON CONFLICT DO UPDATE only where a non-key value differs.

    ``insert_only`` columns are written for new rows but neither compared nor updated.
    """
    if not rows:
        return []
    value_columns = [name for name in rows[0] if name not in keys and name not in insert_only]
    table = model.__table__
    result: list[Any] = []
    for batch in batches(rows):
        stmt = insert(model).values(list(batch))
        set_: dict[str, Any] = {name: stmt.excluded[name] for name in value_columns}
        if touch_updated_at:
            set_["updated_at"] = func.now()
        if value_columns:
            differs = tuple_(*[table.c[n] for n in value_columns]).is_distinct_from(
                tuple_(*[stmt.excluded[n] for n in value_columns])
            )
            stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_=set_, where=differs)
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
        result += session.execute(stmt.returning(*[table.c[k] for k in keys], _INSERTED)).all()
    inserted = sum(1 for row in result if row[-1])
    counts.add(table.name, inserted=inserted, updated=len(result) - inserted)
    return result


def upsert_users(
    session: Session, users: Sequence[UserSpec], counts: ChangeCounts
) -> dict[str, int]:
    """Create or update users; returns ``{email: id}``."""
    emails = [u.email.lower() for u in users]
    rows = [
        {
            "email": email,
            "full_name": u.full_name,
            "password_hash": u.password_hash,
            "is_operator": u.is_operator,
        }
        for email, u in zip(emails, users, strict=True)
    ]
    _upsert(session, User, rows, ["email"], counts, touch_updated_at=True)
    return user_ids(session, emails)


def ensure_owners(session: Session, emails: Iterable[str], counts: ChangeCounts) -> dict[str, int]:
    """Make sure a user exists for each owner email (new ones cannot log in yet)."""
    wanted = sorted({email.lower() for email in emails})
    if wanted:
        stmt = insert(User).values([{"email": e} for e in wanted]).on_conflict_do_nothing()
        result = session.execute(stmt.returning(User.id)).all()
        counts.add("app_user", inserted=len(result))
    return user_ids(session, wanted)


def user_ids(session: Session, emails: Sequence[str]) -> dict[str, int]:
    """``{email: id}`` for the given (lower-case) emails."""
    rows = session.execute(select(User.email, User.id).where(User.email.in_(emails))).all()
    return {str(email): int(uid) for email, uid in rows}


def get_user_password_hash(session: Session, email: str) -> str | None:
    """The stored password hash of ``email``, or None."""
    return session.scalar(select(User.password_hash).where(User.email == email.lower()))


def upsert_factors(session: Session, factors: Mapping[str, str], counts: ChangeCounts) -> None:
    """Store the factor set (ETF symbol -> factor name) in display order."""
    rows = [
        {"symbol": symbol, "name": name, "display_order": order}
        for order, (symbol, name) in enumerate(factors.items())
    ]
    # Names are unique and checked row by row, so a rename that swaps two names (or takes
    # the name of a factor outside the set) would collide half way: first move every name
    # that another symbol is about to take out of the way.
    session.execute(
        text(
            "UPDATE factor AS f SET name = '~' || f.symbol "
            "FROM unnest(CAST(:symbols AS text[]), CAST(:names AS text[])) AS v(symbol, name) "
            "WHERE f.name = v.name AND f.symbol <> v.symbol"
        ),
        {"symbols": list(factors), "names": list(factors.values())},
    )
    _upsert(session, Factor, rows, ["symbol"], counts)


def upsert_securities(
    session: Session, securities: Iterable[SecuritySpec], counts: ChangeCounts
) -> None:
    """Create or update security-master rows."""
    rows = [
        {
            "symbol": s.symbol,
            "name": s.name,
            "asset_type": s.asset_type,
            "sector": s.sector,
            "industry": s.industry,
            "market_cap": s.market_cap,
            "currency": s.currency,
            "source": "import",
        }
        for s in securities
    ]
    # Who last described the security (a vendor profile refresh, or this import) is kept
    # as it is: re-importing the same facts must not count as a change.
    _upsert(session, Security, rows, ["symbol"], counts, insert_only=("source",))


def ensure_builtin_scenarios(session: Session, counts: ChangeCounts) -> None:
    """Add any built-in scenario that is missing; never revert one a bundle replaced."""
    rows = [_scenario_row(s) for s in BUILTIN_SCENARIOS]
    result = session.execute(
        insert(StressScenario).values(rows).on_conflict_do_nothing().returning(StressScenario.id)
    ).all()
    counts.add("stress_scenario", inserted=len(result))


def _scenario_row(s: ScenarioSpec) -> dict[str, Any]:
    return {
        "name": s.name,
        "category": s.category,
        "severity": s.severity,
        "description": s.description,
        "shocks": dict(s.shocks),
        "rate_shock_pp": s.rate_shock_pp,
        # A bundle scenario identical to the built-in one stays marked built-in.
        "is_builtin": _BUILTIN_BY_NAME.get(s.name) == s,
    }


def upsert_scenarios(
    session: Session, scenarios: Iterable[ScenarioSpec], counts: ChangeCounts
) -> None:
    """Create or replace stress scenarios by name."""
    _upsert(
        session,
        StressScenario,
        [_scenario_row(s) for s in scenarios],
        ["name"],
        counts,
        touch_updated_at=True,
    )


def replace_portfolio(
    session: Session, spec: PortfolioSpec, *, owner_id: int, bundle: Bundle, counts: ChangeCounts
) -> int:
    """Upsert a portfolio and make its book of the bundle's date exactly ``spec``; returns its id.

    The bundle's ``valuation_date`` is the book date (undated: in effect from the start of
    history); books of other dates stay as they are (RISK-CONVENTIONS C15).
    """
    row = {
        "external_id": spec.external_id,
        "owner_id": owner_id,
        "name": spec.name,
        "base_currency": spec.base_currency,
        "benchmark": bundle.benchmark,
        "risk_free_rate": bundle.risk_free_rate,
    }
    if (
        session.scalar(select(Portfolio.id).where(Portfolio.external_id == spec.external_id))
        is None
    ):
        # The mirror of the latest book, set properly by replace_book below.
        row |= {"cash": spec.cash, "valuation_date": bundle.valuation_date}
    _upsert(session, Portfolio, [row], ["external_id"], counts, touch_updated_at=True)
    portfolio_id = session.scalar(
        select(Portfolio.id).where(Portfolio.external_id == spec.external_id)
    )
    assert portfolio_id is not None
    replace_book(
        session,
        int(portfolio_id),
        bundle.valuation_date or UNDATED_BOOK_DATE,
        spec.cash,
        spec.positions,
        counts,
        source="bundle",
    )
    return int(portfolio_id)


def replace_book(
    session: Session,
    portfolio_id: int,
    book_date: dt.date,
    cash: Decimal,
    positions: Sequence[PositionSpec],
    counts: ChangeCounts,
    *,
    source: str,
) -> None:
    """Make the book of ``book_date`` exactly ``cash`` plus ``positions``; others stay."""
    _upsert(
        session,
        PortfolioBook,
        [{"portfolio_id": portfolio_id, "book_date": book_date, "cash": cash, "source": source}],
        ["portfolio_id", "book_date"],
        counts,
        touch_updated_at=True,
    )
    symbols = [p.symbol for p in positions]
    removed = session.execute(
        delete(Position)
        .where(
            Position.portfolio_id == portfolio_id,
            Position.book_date == book_date,
            Position.symbol.not_in(symbols),
        )
        .returning(Position.id)
    ).all()
    counts.add("position", deleted=len(removed))
    rows = []
    for p in positions:
        option = p.option
        rows.append(
            {
                "portfolio_id": portfolio_id,
                "book_date": book_date,
                "symbol": p.symbol,
                "position_type": p.position_type,
                "quantity": p.quantity,
                "entry_price": p.entry_price,
                "entry_date": p.entry_date,
                "underlying": option.underlying if option else None,
                "strike": option.strike if option else None,
                "expiry_date": option.expiry if option else None,
                "option_right": option.right if option else None,
                "multiplier": option.multiplier if option else None,
                "implied_vol": option.implied_vol if option else None,
                "dividend_yield": option.dividend_yield if option else None,
            }
        )
    _upsert(
        session,
        Position,
        rows,
        ["portfolio_id", "book_date", "symbol"],
        counts,
        touch_updated_at=True,
    )
    # The portfolio row mirrors its latest book (listings show that cash and date).
    latest = session.execute(
        select(PortfolioBook.book_date, PortfolioBook.cash)
        .where(PortfolioBook.portfolio_id == portfolio_id)
        .order_by(PortfolioBook.book_date.desc())
        .limit(1)
    ).one()
    mirror_date = None if latest.book_date == UNDATED_BOOK_DATE else latest.book_date
    session.execute(
        update(Portfolio)
        .where(
            Portfolio.id == portfolio_id,
            tuple_(Portfolio.cash, Portfolio.valuation_date).is_distinct_from(
                tuple_(literal(latest.cash), literal(mirror_date, type_=Date))
            ),
        )
        .values(cash=latest.cash, valuation_date=mirror_date)
    )


def apply_bundle(
    session: Session, bundle: Bundle, counts: ChangeCounts | None = None
) -> ChangeCounts:
    """Write a validated bundle: factors, securities, scenarios, owners, portfolios, limits.

    A portfolio's ``limits`` (and the bundle's ``default_limits``), when given, replace the
    stored set; when absent the stored limits stay as they are.
    """
    counts = counts if counts is not None else ChangeCounts()
    upsert_factors(session, bundle.factors, counts)
    upsert_securities(session, bundle.securities, counts)
    ensure_builtin_scenarios(session, counts)
    upsert_scenarios(session, bundle.scenarios, counts)
    owners = ensure_owners(session, [p.owner_email for p in bundle.portfolios], counts)
    for spec in bundle.portfolios:
        portfolio_id = replace_portfolio(
            session, spec, owner_id=owners[spec.owner_email.lower()], bundle=bundle, counts=counts
        )
        if spec.limits is not None:
            replace_limits(session, portfolio_id, spec.limits, counts, source="bundle")
    if bundle.default_limits is not None:
        replace_limits(session, None, bundle.default_limits, counts, source="bundle")
    return counts


def table_counts(session: Session) -> dict[str, int]:
    """Row count of each domain table (for summaries)."""
    counts: dict[str, int] = {}
    for model in (User, Portfolio, Position, Security, Factor, StressScenario):
        counts[model.__tablename__] = int(
            session.scalar(select(func.count()).select_from(model)) or 0
        )
    return counts
