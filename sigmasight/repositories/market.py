"""Market-data bookkeeping: the universe to fetch, securities to refresh, data quality."""

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from models import DataQuality, Factor, Portfolio, Position, PriceBar, Security, Trade
from sigmasight.market_data import QualityRow
from sigmasight.providers.base import Profile


def load_universe(session: Session, *, default_benchmark: str) -> dict[str, set[str]]:
    """Every symbol the nightly run needs, with why: ``{symbol: {roles}}``.

    Every book's positions and every trade count (history runs value past books).
    Roles: ``holding`` (a stock/ETF position), ``underlying`` (of an option position),
    ``option`` (the contract itself), ``factor`` (an active factor ETF), ``benchmark``.
    """
    universe: dict[str, set[str]] = defaultdict(set)
    held = select(Position.symbol, Position.underlying)
    traded = select(Trade.symbol, Trade.underlying)  # holdings trades open after a book
    rows = session.execute(held.union(traded)).all()
    for symbol, underlying in rows:
        if underlying is None:
            universe[symbol].add("holding")
        else:
            universe[symbol].add("option")
            universe[underlying].add("underlying")
    for (symbol,) in session.execute(select(Factor.symbol).where(Factor.is_active)).all():
        universe[symbol].add("factor")
    benchmarks = {default_benchmark, *session.scalars(select(Portfolio.benchmark).distinct())}
    for symbol in benchmarks:
        universe[symbol].add("benchmark")
    return dict(universe)


def symbols_needing_profiles(
    session: Session, symbols: Sequence[str], *, older_than: dt.datetime
) -> list[str]:
    """Symbols with no security row, or one not refreshed from a vendor since ``older_than``."""
    fresh = set(
        session.scalars(
            select(Security.symbol).where(
                Security.symbol.in_(list(symbols)),
                Security.updated_at.is_not(None),
                Security.updated_at >= older_than,
            )
        )
    )
    return sorted(set(symbols) - fresh)


def upsert_profiles(session: Session, profiles: Iterable[Profile], *, source: str) -> int:
    """Store vendor profiles; a field the vendor leaves empty keeps the stored value."""
    rows = [
        {
            "symbol": p.symbol,
            "name": p.name,
            "asset_type": p.asset_type,
            "sector": p.sector,
            "industry": p.industry,
            "market_cap": p.market_cap,
            "currency": p.currency or "USD",
            "exchange": p.exchange,
            "source": source,
            "updated_at": func.now(),
        }
        for p in profiles
    ]
    if not rows:
        return 0
    stmt = insert(Security).values(rows)
    keep = ("name", "sector", "industry", "market_cap", "exchange")
    set_: dict[str, Any] = {
        name: func.coalesce(stmt.excluded[name], Security.__table__.c[name]) for name in keep
    }
    set_.update(
        asset_type=stmt.excluded.asset_type, source=stmt.excluded.source, updated_at=func.now()
    )
    stmt = stmt.on_conflict_do_update(index_elements=[Security.symbol], set_=set_)
    session.execute(stmt)
    return len(rows)


def last_dates(
    session: Session, symbols: Sequence[str], *, until: dt.date
) -> dict[str, tuple[dt.date, str]]:
    """Newest bar on or before ``until`` per symbol, with its source."""
    newest = (
        select(PriceBar.symbol, func.max(PriceBar.price_date).label("last"))
        .where(PriceBar.symbol.in_(list(symbols)), PriceBar.price_date <= until)
        .group_by(PriceBar.symbol)
        .subquery()
    )
    rows = session.execute(
        select(PriceBar.symbol, PriceBar.price_date, PriceBar.source).join(
            newest, (PriceBar.symbol == newest.c.symbol) & (PriceBar.price_date == newest.c.last)
        )
    ).all()
    return {symbol: (day, source) for symbol, day, source in rows}


def save_data_quality(
    session: Session, rows: Sequence[QualityRow], *, as_of: dt.date, run_id: uuid.UUID
) -> int:
    """Upsert one row per (as_of, symbol); a rerun with the same findings changes nothing."""
    if not rows:
        return 0
    values = [
        {
            "run_id": run_id,
            "as_of_date": as_of,
            "symbol": r.symbol,
            "roles": sorted(r.roles),
            "required": r.required,
            "status": r.status,
            "source": r.source,
            "last_date": r.last_date,
            "staleness_sessions": r.staleness_sessions,
            "issues": list(r.issues),
        }
        for r in rows
    ]
    stmt = insert(DataQuality).values(values)
    compared = (
        "roles",
        "required",
        "status",
        "source",
        "last_date",
        "staleness_sessions",
        "issues",
    )
    table = DataQuality.__table__
    differs = or_(*[table.c[name].is_distinct_from(stmt.excluded[name]) for name in compared])
    stmt = stmt.on_conflict_do_update(
        index_elements=[DataQuality.as_of_date, DataQuality.symbol],
        set_={name: stmt.excluded[name] for name in (*compared, "run_id")},
        where=differs,
    )
    return len(session.execute(stmt.returning(DataQuality.id)).all())


def data_quality_for(session: Session, as_of: dt.date) -> list[DataQuality]:
    """The stored data-quality rows of ``as_of``, by symbol."""
    return list(
        session.scalars(
            select(DataQuality).where(DataQuality.as_of_date == as_of).order_by(DataQuality.symbol)
        )
    )
