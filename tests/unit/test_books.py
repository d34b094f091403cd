"""The book in effect on a date (RISK-CONVENTIONS C15-C17) against an independent ledger.

The reference below keeps each position as (quantity, total cost) in exact fractions and
derives the average cost from them; the code under test keeps the average itself in
Decimal. Both must agree on quantities, average costs, realised P&L and cash.
"""

import datetime as dt
import random
from decimal import Decimal
from fractions import Fraction

import pytest

from sigmasight.books import Book, BookError, BookState, Holding, Timeline, TradeEvent, timeline

D0 = dt.date(2025, 1, 2)


def day(n: int) -> dt.date:
    return D0 + dt.timedelta(days=n)


def at(line: Timeline, on: dt.date) -> BookState:
    state = line.state_on(on)
    assert state is not None
    return state


def reference(book: Book, trades: list[TradeEvent], flows: list[tuple[dt.date, Decimal]], on):
    """Quantities, average costs, realised P&L and cash by replaying fractions."""
    qty: dict[str, Fraction] = {h.symbol: Fraction(h.quantity) for h in book.holdings}
    cost: dict[str, Fraction] = {
        h.symbol: Fraction(h.quantity) * Fraction(h.avg_cost or 0) for h in book.holdings
    }
    units = {h.symbol: Fraction(h.units) for h in book.holdings}
    cash = Fraction(book.cash)
    realised = Fraction(0)
    for t in sorted(trades, key=lambda t: (t.trade_date, t.seq)):
        if not book.book_date < t.trade_date <= on:
            continue
        m = units.setdefault(t.symbol, Fraction(t.multiplier or 1 if t.underlying else 1))
        q, p = Fraction(t.quantity), Fraction(t.price)
        cash -= q * p * m + Fraction(t.fees)
        held = qty.get(t.symbol, Fraction(0))
        if held == 0 or (held > 0) == (q > 0):
            qty[t.symbol] = held + q
            cost[t.symbol] = cost.get(t.symbol, Fraction(0)) + q * p
            continue
        avg = cost[t.symbol] / held
        closing = min(abs(q), abs(held)) * (1 if held > 0 else -1)
        realised += (p - avg) * closing * m
        rest = held + q
        if rest == 0:
            del qty[t.symbol], cost[t.symbol]
        elif (rest > 0) == (held > 0):
            qty[t.symbol], cost[t.symbol] = rest, avg * rest
        else:
            qty[t.symbol], cost[t.symbol] = rest, p * rest
    cash += sum((Fraction(a) for d, a in flows if book.book_date < d <= on), Fraction(0))
    avg_cost = {s: cost[s] / qty[s] for s in qty}
    return qty, avg_cost, realised, cash


@pytest.mark.parametrize("seed", range(20))
def test_random_trades_match_the_independent_ledger(seed):
    rng = random.Random(seed)
    symbols = ["AAA", "BBB", "CCC"]
    book = Book(
        D0,
        Decimal("100000"),
        tuple(
            Holding(s, Decimal(rng.choice([-300, -50, 80, 200])), Decimal(str(rng.uniform(20, 80))))
            for s in symbols[:2]
        ),
    )
    trades = [
        TradeEvent(
            trade_date=day(rng.randint(1, 30)),
            seq=i,
            symbol=rng.choice(symbols),
            quantity=Decimal(rng.choice([-400, -120, -30, 25, 90, 350])),
            price=Decimal(str(round(rng.uniform(10, 100), 4))),
            fees=Decimal(str(round(rng.uniform(0, 5), 2))),
        )
        for i in range(40)
    ]
    flows = [(day(rng.randint(1, 30)), Decimal(rng.choice([-5000, 2500, 10000]))) for _ in range(5)]
    line = timeline([book], trades, flows)
    for on in (day(0), day(7), day(15), day(30)):
        state = at(line, on)
        qty, avg, realised, cash = reference(book, trades, flows, on)
        got = {h.symbol: h for h in state.holdings}
        assert set(got) == set(qty)
        for s, h in got.items():
            assert Fraction(h.quantity) == qty[s]
            assert h.avg_cost is not None
            assert float(h.avg_cost) == pytest.approx(float(avg[s]), rel=1e-12)
        assert state.realized_pnl is not None
        assert float(state.realized_pnl) == pytest.approx(float(realised), abs=1e-6)
        assert float(state.cash) == pytest.approx(float(cash), abs=1e-6)
        assert state.trades_applied == sum(1 for t in trades if D0 < t.trade_date <= on)


def test_textbook_cases_average_cost_reduce_and_cross_zero():
    book = Book(D0, Decimal(1000), (Holding("X", Decimal(100), Decimal(10)),))
    trades = [
        TradeEvent(day(1), 1, "X", Decimal(100), Decimal(20), Decimal(1)),  # avg 15
        TradeEvent(day(2), 2, "X", Decimal(-50), Decimal(25)),  # realise 10 * 50
        TradeEvent(day(3), 3, "X", Decimal(-250), Decimal(12)),  # close 150 at 15, open -100 at 12
        TradeEvent(day(4), 4, "X", Decimal(40), Decimal(10)),  # short covered: (10 - 12) * -40
    ]
    line = timeline([book], trades)
    s1, s2, s3, s4 = (at(line, day(i)) for i in range(1, 5))
    assert s1.holdings[0].avg_cost == 15 and s1.cash == 1000 - 2000 - 1
    assert s2.realized_pnl == 500 and s2.holdings[0].avg_cost == 15
    assert s3.holdings[0].quantity == -100 and s3.holdings[0].avg_cost == 12
    assert s3.realized_pnl == 500 + (12 - 15) * 150
    assert s4.realized_pnl == 500 - 450 + 80 and s4.holdings[0].quantity == -60
    assert s4.cost_basis == -60 * 12


def test_a_later_book_replaces_the_rolled_book_and_trades_on_its_date_are_inside_it():
    first = Book(D0, Decimal(0), (Holding("X", Decimal(10), Decimal(1)),))
    second = Book(day(5), Decimal(7), (Holding("Y", Decimal(3), None),))
    trades = [
        TradeEvent(day(2), 1, "X", Decimal(5), Decimal(2)),
        TradeEvent(day(5), 2, "Y", Decimal(100), Decimal(1)),  # on the book date: in the book
        TradeEvent(day(6), 3, "Y", Decimal(-1), Decimal(4)),
    ]
    line = timeline([second, first], trades, [(day(5), Decimal(99)), (day(6), Decimal(1))])
    assert at(line, day(4)).holdings[0].quantity == 15
    on5 = at(line, day(5))
    assert on5.book_date == day(5) and on5.cash == 7 and on5.holdings[0].quantity == 3
    on6 = at(line, day(6))
    assert on6.holdings[0].quantity == 2 and on6.cash == 7 + 4 + 1
    assert on6.realized_pnl is None  # a reduction against an unknown cost
    assert on6.cost_basis is None
    assert line.state_on(D0 - dt.timedelta(days=1)) is None
    assert line.flow_between(day(4), day(6)) == 100


def test_options_use_their_multiplier_and_assets_include_a_closed_symbol():
    book = Book(D0, Decimal(0), ())
    call = TradeEvent(
        day(1),
        1,
        "O:SPY250620C00600000",
        Decimal(2),
        Decimal("3.5"),
        underlying="SPY",
        strike=Decimal(600),
        expiry=day(170),
        right="call",
        multiplier=100,
    )
    # Stored option trades always carry their terms (the importer reads them from the ticker).
    close = TradeEvent(day(2), 2, "O:SPY250620C00600000", Decimal(-2), Decimal(4), underlying="SPY")
    line = timeline([book], [call, close])
    assert at(line, day(1)).cash == -700
    assert at(line, day(2)).realized_pnl == Decimal("0.5") * 2 * 100
    assert at(line, day(2)).holdings == ()
    assert line.assets_on(day(2)) == {"SPY"}
    assert line.assets_on(D0) == set()


def test_a_trade_before_the_first_book_is_an_error():
    with pytest.raises(BookError, match="before the first book"):
        timeline(
            [Book(day(3), Decimal(0), ())], [TradeEvent(day(2), 1, "X", Decimal(1), Decimal(1))]
        )
