"""Corporate actions: idempotent upserts by (symbol, ex-date, kind), and the reads that check them.

The risk run's read path (actions applied to the price panel) lives with the panel load in
``repositories/risk_inputs.py``; here are the writes of the market-data run and of
``sigmasight import actions``, and what they need to validate an action and to say what a
late one changes (RISK-CONVENTIONS C19-C21).
"""

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from decimal import Decimal

from sqlalchemy import select, text, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import TextClause

from models import CorporateAction
from sigmasight.domain import ActionSpec
from sigmasight.market_data import Move
from sigmasight.repositories.prices import UpsertCounts
from sigmasight.repositories.reference import _INSERTED, batches

ActionKey = tuple[str, dt.date, str]


def upsert_actions(
    session: Session, actions: Sequence[ActionSpec], *, source: str, run_id: uuid.UUID
) -> UpsertCounts:
    """Insert new actions; one with another value replaces the stored one; identical ones stay.

    Callers reject a changed value before they get here (a duplicate with another value is
    bad input, C21 corrections come as new actions), so in practice this inserts or leaves
    alone; the row keeps the source and run that first stored it.
    """
    if not actions:
        return UpsertCounts(0, 0, 0)
    table = CorporateAction.__table__
    inserted = updated = 0
    rows = [
        {
            "symbol": a.symbol,
            "ex_date": a.ex_date,
            "kind": a.kind,
            "value": a.value,
            "source": source,
            "run_id": run_id,
        }
        for a in actions
    ]
    for batch in batches(rows):
        stmt = insert(CorporateAction).values(list(batch))
        stmt = stmt.on_conflict_do_update(
            index_elements=["symbol", "ex_date", "kind"],
            set_={
                "value": stmt.excluded.value,
                "source": stmt.excluded.source,
                "run_id": stmt.excluded.run_id,
                "updated_at": text("now()"),
            },
            where=table.c.value.is_distinct_from(stmt.excluded.value),
        )
        result = session.execute(stmt.returning(_INSERTED)).all()
        new = sum(1 for row in result if row[0])
        inserted += new
        updated += len(result) - new
    return UpsertCounts(inserted, updated, len(actions) - inserted - updated)


def stored_actions(
    session: Session, keys: Iterable[ActionKey]
) -> dict[ActionKey, tuple[Decimal, str]]:
    """The stored value and source of each of ``keys`` that is stored."""
    wanted = sorted(set(keys))
    found: dict[ActionKey, tuple[Decimal, str]] = {}
    for batch in batches(wanted):
        rows = session.execute(
            select(
                CorporateAction.symbol,
                CorporateAction.ex_date,
                CorporateAction.kind,
                CorporateAction.value,
                CorporateAction.source,
            ).where(
                tuple_(CorporateAction.symbol, CorporateAction.ex_date, CorporateAction.kind).in_(
                    list(batch)
                )
            )
        ).all()
        for symbol, ex_date, kind, value, source in rows:
            found[(symbol, ex_date, kind)] = (value, source)
    return found


def list_actions(
    session: Session, symbols: Sequence[str], *, start: dt.date, end: dt.date
) -> list[ActionSpec]:
    """Stored actions of ``symbols`` with ex-date from ``start`` to ``end``, by symbol and date."""
    if not symbols:
        return []
    rows = session.execute(
        select(
            CorporateAction.symbol,
            CorporateAction.ex_date,
            CorporateAction.kind,
            CorporateAction.value,
        )
        .where(
            CorporateAction.symbol.in_(sorted(set(symbols))),
            CorporateAction.ex_date.between(start, end),
        )
        .order_by(CorporateAction.symbol, CorporateAction.ex_date, CorporateAction.kind)
    ).all()
    return [
        ActionSpec(symbol, ex_date, "split" if kind == "split" else "cash_dividend", value)
        for symbol, ex_date, kind, value in rows
    ]


_CLOSE_BEFORE = text(
    """
    SELECT k.symbol, k.day, p.price_date, p.close
    FROM unnest(CAST(:symbols AS text[]), CAST(:days AS date[])) AS k(symbol, day)
    CROSS JOIN LATERAL (
        SELECT price_date, close FROM price_bar
        WHERE symbol = k.symbol AND price_date < k.day
        ORDER BY price_date DESC LIMIT 1
    ) p
    """
)
_CLOSE_FROM = text(
    """
    SELECT k.symbol, k.day, p.price_date, p.close
    FROM unnest(CAST(:symbols AS text[]), CAST(:days AS date[])) AS k(symbol, day)
    CROSS JOIN LATERAL (
        SELECT price_date, close FROM price_bar
        WHERE symbol = k.symbol AND price_date >= k.day
        ORDER BY price_date LIMIT 1
    ) p
    """
)


def _closes(
    session: Session, statement: TextClause, keys: Iterable[tuple[str, dt.date]]
) -> dict[tuple[str, dt.date], tuple[dt.date, float]]:
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    rows = session.execute(
        statement, {"symbols": [s for s, _ in wanted], "days": [d for _, d in wanted]}
    ).all()
    return {(symbol, day): (found, float(close)) for symbol, day, found, close in rows}


def closes_before(
    session: Session, keys: Iterable[tuple[str, dt.date]]
) -> dict[tuple[str, dt.date], tuple[dt.date, float]]:
    """For each (symbol, day): the date and close of its last stored bar strictly before day."""
    return _closes(session, _CLOSE_BEFORE, keys)


def closes_from(
    session: Session, keys: Iterable[tuple[str, dt.date]]
) -> dict[tuple[str, dt.date], tuple[dt.date, float]]:
    """For each (symbol, day): the date and close of its first stored bar on or after day."""
    return _closes(session, _CLOSE_FROM, keys)


def moves_across(session: Session, actions: Iterable[ActionSpec]) -> list[Move]:
    """The stored close-to-close move across each action's ex-date (where both bars exist)."""
    keys = {(a.symbol, a.ex_date) for a in actions}
    before = closes_before(session, keys)
    after = closes_from(session, keys)
    moves = []
    for key in sorted(keys):
        if key in before and key in after:
            (previous_date, previous_close), (day, close) = before[key], after[key]
            moves.append(Move(key[0], previous_date, previous_close, day, close))
    return moves


_AFFECTED = text(
    """
    SELECT s.as_of_date, p.external_id
    FROM portfolio_snapshot s
    JOIN portfolio p ON p.id = s.portfolio_id
    WHERE s.as_of_date >= :since
      AND (
        p.benchmark = :symbol
        OR EXISTS (SELECT 1 FROM factor f WHERE f.symbol = :symbol AND f.is_active)
        OR EXISTS (
            SELECT 1 FROM position_risk r
            WHERE r.portfolio_id = s.portfolio_id AND r.as_of_date = s.as_of_date
              AND (r.symbol = :symbol OR r.underlying = :symbol)
        )
      )
    ORDER BY s.as_of_date, p.external_id
    """
)


def affected_risk_dates(
    session: Session, symbol: str, since: dt.date
) -> tuple[list[dt.date], list[str]]:
    """Stored risk dates from ``since`` on whose figures an action of ``symbol`` changes (C21).

    A date counts for a portfolio that valued ``symbol`` (or an option on it) on that date,
    that has it as benchmark, or for every portfolio when ``symbol`` is an active factor ETF.
    Returns the dates ascending and the portfolios' external ids.
    """
    rows = session.execute(_AFFECTED, {"since": since, "symbol": symbol}).all()
    dates = sorted({day for day, _ in rows})
    portfolios = sorted({external_id for _, external_id in rows})
    return dates, portfolios
