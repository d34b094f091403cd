"""Books read as columns (``risk_inputs.load_timelines``) against books read row by row.

The reference here is the object path the loader replaced: every stored position read
through the ORM into a :class:`~sigmasight.books.Holding`, books, trades and flows into a
:func:`~sigmasight.books.timeline` with every stored corporate action. On two worlds (the
history world: trades, a rebook, a 4-for-1 split, a dividend, external flows, an option
opened by a trade; the actions world: a split, a reverse split and a special dividend
under stock lines, short lines and calls), every portfolio's book in effect on every
calendar day must be the same: dates, cash, trade counts, realised P&L, versions, the
engine's columns bit for bit, the holdings' exact Decimals, the cost basis, the book held
over to the next session, the assets and the flows.
"""

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import CashFlow, Portfolio, PortfolioBook, Position, Trade
from sigmasight.books import (
    ActionLedger,
    Book,
    BookState,
    Holding,
    StoredBook,
    StoredState,
    Timeline,
    TradeEvent,
    timeline,
)
from sigmasight.db import session_scope
from sigmasight.repositories import risk_inputs
from tests import actions_world, history_world


def object_timelines(session: Session, through: dt.date) -> dict[int, Timeline]:
    """Every portfolio's timeline, a Holding object per stored row (the former loader)."""
    ids = list(session.scalars(select(Portfolio.id).order_by(Portfolio.id)))
    lines: dict[tuple[int, dt.date], list[Holding]] = {}
    for p in session.scalars(
        select(Position).where(Position.book_date <= through).order_by(Position.id)
    ):
        lines.setdefault((p.portfolio_id, p.book_date), []).append(
            Holding(
                symbol=p.symbol,
                quantity=p.quantity,
                avg_cost=p.entry_price,
                underlying=p.underlying,
                strike=p.strike,
                expiry=p.expiry_date,
                right=p.option_right,
                multiplier=p.multiplier,
                implied_vol=p.implied_vol,
                dividend_yield=p.dividend_yield,
                position_id=p.id,
            )
        )
    books: dict[int, list[Book]] = {pid: [] for pid in ids}
    for b in session.scalars(select(PortfolioBook).where(PortfolioBook.book_date <= through)):
        books[b.portfolio_id].append(
            Book(b.book_date, b.cash, tuple(lines.get((b.portfolio_id, b.book_date), ())))
        )
    trades: dict[int, list[TradeEvent]] = {pid: [] for pid in ids}
    for t in session.scalars(select(Trade).where(Trade.trade_date <= through)):
        # Trades are not what changed: the loader's own conversion of a row.
        trades[t.portfolio_id].append(risk_inputs.trade_event(t))
    flows: dict[int, list[tuple[dt.date, Decimal]]] = {pid: [] for pid in ids}
    for f in session.scalars(select(CashFlow).where(CashFlow.flow_date <= through)):
        flows[f.portfolio_id].append((f.flow_date, f.amount))
    ledger = ActionLedger(risk_inputs.load_book_actions(session, None, through=through))
    return {pid: timeline(books[pid], trades[pid], flows[pid], ledger) for pid in ids}


def same_columns(stored: BookState, reference: BookState) -> None:
    got, want = stored.columns, reference.columns
    for name in want.__dataclass_fields__:
        a, b = getattr(got, name), getattr(want, name)
        if isinstance(b, np.ndarray):
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), name
        else:
            assert a == b, name


def same_state(stored: BookState | None, reference: BookState | None, where: str) -> None:
    if reference is None:
        assert stored is None, where
        return
    assert stored is not None, where
    # The engine's columns first: built from the database without a Holding object.
    same_columns(stored, reference)
    # repr as well as ==: a Decimal's exponent (its text) must match, not only its value.
    for name in ("book_date", "cash", "trades_applied", "realized_pnl", "version", "cost_basis"):
        a, b = getattr(stored, name), getattr(reference, name)
        assert (a, repr(a)) == (b, repr(b)), f"{where}: {name}"
    assert stored.holdings == reference.holdings, where
    assert repr(stored.holdings) == repr(reference.holdings), where


def load_history(engine: Any, folder: Path) -> dt.date:
    history_world.load_world(folder)
    return history_world.LAST


def load_actions(engine: Any, folder: Path) -> dt.date:
    actions_world.load(folder)
    return actions_world.LAST


@pytest.mark.parametrize("world", [load_history, load_actions], ids=["history", "actions"])
def test_columnar_books_are_the_books_read_row_by_row(
    engine: Any, tmp_path: Path, world: Callable[[Any, Path], dt.date]
) -> None:
    through = world(engine, tmp_path)
    with session_scope() as session:
        reference = object_timelines(session, through)
        stored = risk_inputs.load_timelines(session, list(reference), through=through).timelines
    assert set(stored) == set(reference)
    first = min(b.book_date for line in reference.values() for b in line.books)
    days = [first + dt.timedelta(days=i) for i in range(-1, (through - first).days + 2)]
    rolled = 0
    for pid, want in reference.items():
        got = stored[pid]
        assert got.books and all(isinstance(b, StoredBook) for b in got.books)
        last = want.state_on(through)
        book = max(want.books, key=lambda b: b.book_date)
        # Rolled forward: by trades, flows, a split or a dividend since its latest book.
        rolled += last is not None and (
            last.cash != book.cash
            or last.holdings != tuple(sorted(book.holdings, key=lambda h: h.symbol))
        )
        for day in days:
            where = f"portfolio {pid} on {day}"
            same_state(got.state_on(day), want.state_on(day), where)
            after = day + dt.timedelta(days=1)
            same_state(got.held_over(day, after), want.held_over(day, after), f"{where}, held")
            assert got.assets_on(day) == want.assets_on(day), where
            assert got.flow_between(None, day) == want.flow_between(None, day), where
    assert rolled >= 2  # the worlds do roll books forward


def test_a_book_nothing_rolls_forward_builds_no_holding_objects(
    engine: Any, tmp_path: Path
) -> None:
    """The actions world's POST book (dated on the ex-date, so already post-action)."""
    actions_world.load(tmp_path)
    with session_scope() as session:
        rows = risk_inputs.load_timelines(
            session, list(session.scalars(select(Portfolio.id))), through=actions_world.LAST
        )
    quiet = [
        (rows.portfolios.set_index("id").loc[pid, "external_id"], line)
        for pid, line in rows.timelines.items()
        if len(line.books) == 1 and line.books[0].book_date == actions_world.E
    ]
    assert [name for name, _ in quiet] == ["POST"]
    state = quiet[0][1].state_on(actions_world.LAST)
    assert isinstance(state, StoredState)
    # What a run reads of it: the columns, the cash with its dividends, the cost basis.
    assert state.columns.symbol
    assert state.cost_basis is None  # the call has no average cost
    # The previous book's P&L (C28) asks whether the lines are the very same, without objects.
    held = quiet[0][1].held_over(actions_world.E, actions_world.LAST)
    assert held is not None and held.shares_lines(state) and state.shares_lines(held)
    assert not state.shares_lines(BookState(state.book_date, state.cash, ()))
    assert "holdings" not in state.__dict__
    assert "holdings" not in state.book.__dict__
    assert state.holdings == state.book.holdings  # built on request


def test_a_split_keeps_a_stored_book_as_columns(engine: Any, tmp_path: Path) -> None:
    """Books dated before E live through FOUR's 4-for-1 and TENTH's 1-for-10 as columns."""
    actions_world.load(tmp_path)
    with session_scope() as session:
        rows = risk_inputs.load_timelines(
            session, list(session.scalars(select(Portfolio.id))), through=actions_world.LAST
        )
    names = rows.portfolios.set_index("id")["external_id"].to_dict()
    pre = {names[pid]: line for pid, line in rows.timelines.items() if names[pid].startswith("PRE")}
    assert sorted(pre) == ["PRE_LONG", "PRE_OPT", "PRE_SHORT"]
    for name, line in pre.items():
        before = line.state_on(actions_world.BEFORE)
        after = line.state_on(actions_world.LAST)
        assert isinstance(before, StoredState) and isinstance(after, StoredState), name
        assert after.book is not before.book, name  # the split made new lines
        for state in (before, after):
            assert "holdings" not in state.__dict__, name
            assert "holdings" not in state.book.__dict__, name
        if name != "PRE_OPT":
            old, new = before.book.lines, after.book.lines
            assert new.stock_quantity("FOUR") == old.stock_quantity("FOUR") * 4, name
            assert new.stock_quantity("TENTH") == old.stock_quantity("TENTH") / 10, name
            assert new.stock_quantity("PLAIN") == old.stock_quantity("PLAIN"), name
