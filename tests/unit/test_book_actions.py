"""Books across corporate actions (RISK-CONVENTIONS C19, C20) against an independent ledger.

Three actions on an ex-date E: a 4-for-1 split (``FOUR``), a 1-for-10 reverse split
(``TENTH``) and a special dividend (``SPECIAL``), each on a stock held long, held short and
under a call. The reference replays the events in exact fractions, one day at a time, and
a valuation written here (BSM from py_vollib) shows NAV continuous across E.
"""

import datetime as dt
import random
import warnings
from decimal import Decimal
from fractions import Fraction

import pytest

from sigmasight.books import Book, BookState, Holding, Timeline, TradeEvent, timeline
from sigmasight.domain import ActionSpec

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # py_vollib says "import vollib instead"
    from py_vollib.black_scholes_merton import black_scholes_merton

D0 = dt.date(2025, 3, 3)
E = dt.date(2025, 3, 10)
BEFORE = dt.date(2025, 3, 7)  # the session before E (a Friday)
K = {"FOUR": Decimal(4), "TENTH": Decimal("0.1")}
DIVIDEND = Decimal("7.5")  # special dividend per share of SPECIAL
ACTIONS = (
    ActionSpec("FOUR", E, "split", K["FOUR"]),
    ActionSpec("TENTH", E, "split", K["TENTH"]),
    ActionSpec("SPECIAL", E, "cash_dividend", DIVIDEND),
)
PRICE = {"FOUR": Decimal(400), "TENTH": Decimal("3.2"), "SPECIAL": Decimal(60)}  # on E-1
EXPIRY = dt.date(2025, 9, 19)


def at(line: Timeline, on: dt.date) -> BookState:
    state = line.state_on(on)
    assert state is not None
    return state


def call(symbol: str, contracts: int) -> Holding:
    strike = PRICE[symbol]  # at the money on E-1
    return Holding(
        f"O:{symbol}C",
        Decimal(contracts),
        Decimal(12),
        underlying=symbol,
        strike=strike,
        expiry=EXPIRY,
        right="call",
        multiplier=100,
        implied_vol=0.3,
    )


def books() -> dict[str, Book]:
    stocks = ("FOUR", "TENTH", "SPECIAL")
    return {
        "long": Book(
            D0, Decimal(10_000), tuple(Holding(s, Decimal(300), PRICE[s] * 9 / 10) for s in stocks)
        ),
        "short": Book(
            D0, Decimal(90_000), tuple(Holding(s, Decimal(-200), PRICE[s]) for s in stocks)
        ),
        "option": Book(D0, Decimal(5_000), tuple(call(s, 3) for s in stocks)),
    }


def value(state: BookState, prices: dict[str, Decimal], on: dt.date) -> float:
    """NAV written independently: stocks at the close, calls by BSM (r 4 %, no yield)."""
    nav = float(state.cash)
    for h in state.holdings:
        if h.underlying is None:
            nav += float(h.quantity * prices[h.symbol])
            continue
        assert h.strike is not None and h.expiry is not None and h.multiplier is not None
        years = (h.expiry - on).days / 365.0
        unit = black_scholes_merton(
            "c", float(prices[h.underlying]), float(h.strike), years, 0.04, 0.3, 0.0
        )
        nav += float(h.quantity) * float(h.multiplier) * unit
    return nav


def test_splits_multiply_stock_quantities_and_divide_their_average_cost():
    for kind, book in books().items():
        if kind == "option":
            continue
        line = timeline([book], actions=ACTIONS)
        before, after = at(line, BEFORE), at(line, E)
        was = {h.symbol: h for h in before.holdings}
        now = {h.symbol: h for h in after.holdings}
        for symbol, k in K.items():
            assert now[symbol].quantity == was[symbol].quantity * k
            assert now[symbol].avg_cost == was[symbol].avg_cost / k  # type: ignore[operator]
        assert now["SPECIAL"].quantity == was["SPECIAL"].quantity
        assert after.cost_basis == before.cost_basis  # a split changes no cost


def test_an_option_on_a_split_stock_keeps_its_contracts_with_new_multiplier_and_strike():
    line = timeline([books()["option"]], actions=ACTIONS)
    before = {h.symbol: h for h in at(line, BEFORE).holdings}
    after = {h.symbol: h for h in at(line, E).holdings}
    for symbol, k in K.items():
        was, now = before[f"O:{symbol}C"], after[f"O:{symbol}C"]
        assert now.quantity == was.quantity == 3
        assert now.multiplier == 100 * k
        assert now.strike == PRICE[symbol] / k
        assert now.avg_cost == Decimal(12) / k
    # A cash dividend changes neither the option's terms nor the cash.
    assert after["O:SPECIALC"] == before["O:SPECIALC"]
    assert at(line, E).cash == at(line, BEFORE).cash == 5_000


@pytest.mark.parametrize(("kind", "quantity"), [("long", 300), ("short", -200)])
def test_a_special_dividend_is_credited_on_the_ex_date_and_a_short_pays_it(kind, quantity):
    line = timeline([books()[kind]], actions=ACTIONS)
    cash = books()[kind].cash
    assert at(line, BEFORE).cash == cash
    assert at(line, E).cash == cash + quantity * DIVIDEND
    assert at(line, E + dt.timedelta(days=30)).cash == cash + quantity * DIVIDEND  # once


@pytest.mark.parametrize("kind", ["long", "short", "option"])
def test_nav_is_continuous_across_the_ex_date(kind):
    """With no market move, E's NAV (new quantities, new prices) equals E-1's."""
    line = timeline([books()[kind]], actions=ACTIONS)
    on_e = {s: p / K[s] for s, p in PRICE.items() if s in K}
    on_e["SPECIAL"] = PRICE["SPECIAL"] - DIVIDEND  # the stock opens ex-dividend
    before = value(at(line, BEFORE), PRICE, E)  # the same expiry distance: no time decay
    after = value(at(line, E), on_e, E)
    if kind == "option":
        # The calls on the split stocks are worth the same; the one on SPECIAL lost the
        # drop of its underlying (the holder gets no dividend): that is the market move.
        drop = black_scholes_merton("c", 60.0, 60.0, (EXPIRY - E).days / 365.0, 0.04, 0.3, 0.0)
        drop -= black_scholes_merton("c", 52.5, 60.0, (EXPIRY - E).days / 365.0, 0.04, 0.3, 0.0)
        assert after == pytest.approx(before - 3 * 100 * drop, rel=1e-12)
    else:
        assert after == pytest.approx(before, rel=1e-12)
    # Without the actions the book would have lost most of its value (or gained, short).
    stale = value(at(timeline([books()[kind]]), BEFORE), on_e, E)
    assert abs(stale - before) > 1_000


def test_a_trade_on_the_ex_date_is_in_post_split_shares_and_dividends_follow_e_minus_1():
    book = Book(D0, Decimal(0), (Holding("FOUR", Decimal(10), Decimal(100)),))
    trades = [
        TradeEvent(E, 1, "FOUR", Decimal(6), Decimal(101)),  # after the split: 40 + 6
        TradeEvent(E, 2, "SPECIAL", Decimal(50), Decimal(52)),  # bought on E: no dividend
        TradeEvent(BEFORE, 3, "SPECIAL", Decimal(20), Decimal(60)),  # held on E-1: paid
        TradeEvent(E, 4, "SPECIAL", Decimal(-20), Decimal("52.5")),  # sold on E: still paid
    ]
    line = timeline([book], trades, actions=ACTIONS)
    state = at(line, E)
    held = {h.symbol: h for h in state.holdings}
    assert held["FOUR"].quantity == 46
    assert held["FOUR"].avg_cost == (40 * 25 + 6 * 101) / Decimal(46)
    assert held["SPECIAL"].quantity == 50
    assert state.cash == -20 * 60 - 6 * 101 - 50 * 52 + 20 * Decimal("52.5") + 20 * DIVIDEND


def test_a_book_dated_on_or_after_the_ex_date_is_already_post_action():
    first = Book(D0, Decimal(0), (Holding("FOUR", Decimal(10)), Holding("SPECIAL", Decimal(5))))
    on_e = Book(E, Decimal(100), (Holding("FOUR", Decimal(40)), Holding("SPECIAL", Decimal(5))))
    line = timeline([first, on_e], actions=ACTIONS)
    state = at(line, E)
    assert state.holdings[0].quantity == 40 and state.cash == 100
    assert at(line, E + dt.timedelta(days=3)).cash == 100
    # An undated book (dated 1900) is before every action.
    undated = timeline(
        [Book(dt.date(1900, 1, 1), Decimal(0), (Holding("FOUR", Decimal(10)),))], actions=ACTIONS
    )
    assert at(undated, E).holdings[0].quantity == 40
    assert at(undated, BEFORE).holdings[0].quantity == 10


def test_held_over_is_the_previous_book_in_today_s_shares_without_today_s_trades():
    book = Book(D0, Decimal(0), (Holding("FOUR", Decimal(10)), call("TENTH", 2)))
    line = timeline([book], [TradeEvent(E, 1, "FOUR", Decimal(5), Decimal(100))], actions=ACTIONS)
    held = line.held_over(BEFORE, E)
    assert held is not None
    by = {h.symbol: h for h in held.holdings}
    assert by["FOUR"].quantity == 40  # not 45: the trade of E is not held through E
    assert by["O:TENTHC"].multiplier == 10 and by["O:TENTHC"].strike == Decimal(32)
    assert line.held_over(E, E + dt.timedelta(days=1)) == at(line, E)


def reference(book: Book, trades: list[TradeEvent], actions, on: dt.date):
    """Quantities, cost (total), cash in fractions, one calendar day at a time."""
    qty = {h.symbol: Fraction(h.quantity) for h in book.holdings}
    cost = {h.symbol: Fraction(h.quantity) * Fraction(h.avg_cost or 0) for h in book.holdings}
    cash = Fraction(book.cash)
    day = book.book_date
    while day < on:
        day += dt.timedelta(days=1)
        for a in actions:
            if a.ex_date == day and a.kind == "split" and a.symbol in qty:
                qty[a.symbol] *= Fraction(a.value)  # the cost stays
        for a in actions:
            if a.ex_date == day and a.kind == "cash_dividend" and a.symbol in qty:
                cash += qty[a.symbol] * Fraction(a.value)
        for t in sorted(trades, key=lambda t: t.seq):
            if t.trade_date != day:
                continue
            q, p = Fraction(t.quantity), Fraction(t.price)
            cash -= q * p + Fraction(t.fees)
            held = qty.get(t.symbol, Fraction(0))
            if held == 0 or (held > 0) == (q > 0):
                qty[t.symbol] = held + q
                cost[t.symbol] = cost.get(t.symbol, Fraction(0)) + q * p
                continue
            avg = cost[t.symbol] / held
            rest = held + q
            if rest == 0:
                del qty[t.symbol], cost[t.symbol]
            elif (rest > 0) == (held > 0):
                qty[t.symbol], cost[t.symbol] = rest, avg * rest
            else:
                qty[t.symbol], cost[t.symbol] = rest, p * rest
    return qty, cost, cash


@pytest.mark.parametrize("seed", range(15))
def test_random_trades_and_actions_match_the_daily_ledger(seed):
    rng = random.Random(seed)
    symbols = ["AAA", "BBB", "CCC"]
    book = Book(
        D0,
        Decimal(50_000),
        tuple(Holding(s, Decimal(rng.choice([-300, 120, 400])), Decimal(40)) for s in symbols[:2]),
    )
    trades = [
        TradeEvent(
            D0 + dt.timedelta(days=rng.randint(1, 40)),
            i,
            rng.choice(symbols),
            Decimal(rng.choice([-250, -60, 30, 90, 200])),
            Decimal(str(round(rng.uniform(10, 90), 2))),
            Decimal(1),
        )
        for i in range(30)
    ]
    actions = []
    for s in symbols:
        for _ in range(2):
            ex = D0 + dt.timedelta(days=rng.randint(1, 40))
            if rng.random() < 0.5:
                actions.append(ActionSpec(s, ex, "split", Decimal(rng.choice(["2", "0.5", "3"]))))
            else:
                actions.append(
                    ActionSpec(s, ex, "cash_dividend", Decimal(rng.choice(["0.4", "2"])))
                )
    unique = {(a.symbol, a.ex_date, a.kind): a for a in actions}  # the table's natural key
    actions = list(unique.values())
    line = timeline([book], trades, actions=actions)
    for on in (D0 + dt.timedelta(days=n) for n in (0, 9, 17, 26, 41, 60)):
        state = at(line, on)
        qty, cost, cash = reference(book, trades, actions, on)
        got = {h.symbol: h for h in state.holdings}
        assert set(got) == set(qty)
        for s, h in got.items():
            assert Fraction(h.quantity) == qty[s]
            assert h.avg_cost is not None
            assert float(h.avg_cost * h.quantity) == pytest.approx(float(cost[s]), rel=1e-12)
        assert float(state.cash) == pytest.approx(float(cash), abs=1e-6)
