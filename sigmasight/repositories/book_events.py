"""Trades and external cash flows: idempotent upserts on their natural keys, and checks.

A trade's natural key is (portfolio, ``trade_id``) when the file gives an id, otherwise
(portfolio, trade date, symbol, quantity, price); a cash flow's is (portfolio, date).
Importing the same file twice changes nothing.
"""

import datetime as dt
from collections.abc import Collection, Mapping, Sequence

from sqlalchemy import delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from models import CashFlow, Portfolio, PortfolioBook, Trade
from sigmasight.domain import CashFlowSpec, TradeSpec
from sigmasight.repositories.reference import _INSERTED, ChangeCounts, batches


def portfolio_ids(session: Session, external_ids: Sequence[str]) -> dict[str, int]:
    """``{external id: id}`` of those portfolios that exist."""
    rows = session.execute(
        select(Portfolio.external_id, Portfolio.id).where(
            Portfolio.external_id.in_(list(set(external_ids)))
        )
    ).all()
    return {str(ext): int(pid) for ext, pid in rows}


def first_book_dates(session: Session, ids: Sequence[int]) -> dict[int, dt.date]:
    """Each portfolio's earliest book date (a trade before it has no book to apply to)."""
    rows = session.execute(
        select(PortfolioBook.portfolio_id, func.min(PortfolioBook.book_date))
        .where(PortfolioBook.portfolio_id.in_(list(ids)))
        .group_by(PortfolioBook.portfolio_id)
    ).all()
    return {int(pid): day for pid, day in rows}


def _trade_row(spec: TradeSpec, portfolio_id: int) -> dict[str, object]:
    option = spec.option
    return {
        "portfolio_id": portfolio_id,
        "trade_date": spec.trade_date,
        "symbol": spec.symbol,
        "quantity": spec.quantity,
        "price": spec.price,
        "fees": spec.fees,
        "trade_id": spec.trade_id,
        "underlying": option.underlying if option else None,
        "strike": option.strike if option else None,
        "expiry_date": option.expiry if option else None,
        "option_right": option.right if option else None,
        "multiplier": option.multiplier if option else None,
        "implied_vol": option.implied_vol if option else None,
    }


def upsert_trades(
    session: Session, trades: Sequence[TradeSpec], ids: Mapping[str, int], counts: ChangeCounts
) -> None:
    """Insert new trades, update those with a known ``trade_id`` whose fields changed."""
    table = Trade.__table__
    with_id = [_trade_row(t, ids[t.portfolio]) for t in trades if t.trade_id is not None]
    without = [_trade_row(t, ids[t.portfolio]) for t in trades if t.trade_id is None]
    for batch in batches(with_id):
        stmt = insert(Trade).values(list(batch))
        values = [c for c in batch[0] if c not in ("portfolio_id", "trade_id")]
        stmt = stmt.on_conflict_do_update(
            index_elements=["portfolio_id", "trade_id"],
            index_where=table.c.trade_id.is_not(None),
            set_={c: stmt.excluded[c] for c in values},
            where=func.row(*[table.c[c] for c in values]).is_distinct_from(
                func.row(*[stmt.excluded[c] for c in values])
            ),
        )
        result = session.execute(stmt.returning(_INSERTED)).all()
        inserted = sum(1 for r in result if r[0])
        counts.add("trade", inserted=inserted, updated=len(result) - inserted)
    for batch in batches(without):
        stmt = (
            insert(Trade)
            .values(list(batch))
            .on_conflict_do_nothing(
                index_elements=["portfolio_id", "trade_date", "symbol", "quantity", "price"],
                index_where=table.c.trade_id.is_(None),
            )
        )
        counts.add("trade", inserted=len(session.execute(stmt.returning(Trade.id)).all()))


def upsert_cash_flows(
    session: Session, flows: Sequence[CashFlowSpec], ids: Mapping[str, int], counts: ChangeCounts
) -> None:
    """Insert or update external flows by (portfolio, date)."""
    rows = [
        {"portfolio_id": ids[f.portfolio], "flow_date": f.flow_date, "amount": f.amount}
        for f in flows
    ]
    for batch in batches(rows):
        stmt = insert(CashFlow).values(list(batch))
        stmt = stmt.on_conflict_do_update(
            index_elements=["portfolio_id", "flow_date"],
            set_={"amount": stmt.excluded.amount},
            where=CashFlow.__table__.c.amount.is_distinct_from(stmt.excluded.amount),
        )
        result = session.execute(stmt.returning(_INSERTED)).all()
        inserted = sum(1 for r in result if r[0])
        counts.add("cash_flow", inserted=inserted, updated=len(result) - inserted)


def delete_events_after(
    session: Session,
    portfolio_id: int,
    after: dt.date,
    *,
    keep_trade_ids: Collection[str],
    keep_flow_dates: Collection[dt.date],
    counts: ChangeCounts,
) -> None:
    """Delete the portfolio's trades and flows dated after ``after``, except those listed.

    For a seed that owns a portfolio's events after its book date (the demo's): seeding
    another as-of leaves no trade or flow of the earlier seed on top of the new book.
    """
    trades = session.execute(
        delete(Trade)
        .where(
            Trade.portfolio_id == portfolio_id,
            Trade.trade_date > after,
            or_(Trade.trade_id.is_(None), Trade.trade_id.not_in(list(keep_trade_ids))),
        )
        .returning(Trade.id)
    ).all()
    flows = session.execute(
        delete(CashFlow)
        .where(
            CashFlow.portfolio_id == portfolio_id,
            CashFlow.flow_date > after,
            CashFlow.flow_date.not_in(list(keep_flow_dates)),
        )
        .returning(CashFlow.id)
    ).all()
    counts.add("trade", deleted=len(trades))
    counts.add("cash_flow", deleted=len(flows))
