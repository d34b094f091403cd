"""Point-in-time books (pure): the book in effect on a date, rolled forward by trades and flows.

RISK-CONVENTIONS C15-C17. A portfolio's :class:`Timeline` holds its dated books, its trades
and its external cash flows; :meth:`Timeline.state_on` gives the book in effect on a date:
the latest book dated on or before it, rolled forward by every trade dated after that book
and on or before the date (average cost, realised P&L, cash), with the external flows of the
same interval in cash. Money is kept in :class:`~decimal.Decimal`, so the cash of a book
does not depend on how many dates were computed before it.

The states are computed once per event (a book, a trade day or a flow) and shared by every
date up to the next event, which is what lets a history run and a single-date run see the
very same book.
"""

import bisect
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import cached_property

import numpy as np

ZERO = Decimal(0)


class BookError(ValueError):
    """A trade that cannot be applied (for example a trade before the first book)."""


@dataclass(frozen=True)
class Holding:
    """One line of a book: signed quantity and the average cost per unit (NULL = unknown)."""

    symbol: str
    quantity: Decimal
    avg_cost: Decimal | None = None
    underlying: str | None = None
    strike: Decimal | None = None
    expiry: dt.date | None = None
    right: str | None = None
    multiplier: int | None = None
    implied_vol: float | None = None
    dividend_yield: float | None = None
    #: The stored ``position`` row this holding comes from (None once trades opened it).
    position_id: int | None = None

    @property
    def units(self) -> int:
        """Shares per quantity unit: the option multiplier, 1 for stocks and ETFs."""
        return self.multiplier if self.underlying is not None and self.multiplier else 1


@dataclass(frozen=True)
class Book:
    """A book as imported for ``book_date``: cash plus holdings."""

    book_date: dt.date
    cash: Decimal
    holdings: tuple[Holding, ...]


@dataclass(frozen=True)
class TradeEvent:
    """One trade (C16). ``seq`` orders trades of the same day (the stored row id)."""

    trade_date: dt.date
    seq: int
    symbol: str
    quantity: Decimal
    price: Decimal
    fees: Decimal = ZERO
    underlying: str | None = None
    strike: Decimal | None = None
    expiry: dt.date | None = None
    right: str | None = None
    multiplier: int | None = None
    implied_vol: float | None = None


@dataclass(frozen=True)
class HoldingColumns:
    """A book's holdings as columns (what the engine's arrays are cut from), built once."""

    symbol: tuple[str, ...]
    asset: tuple[str, ...]
    quantity: "np.ndarray[tuple[int], np.dtype[np.float64]]"
    is_option: "np.ndarray[tuple[int], np.dtype[np.bool_]]"
    multiplier: "np.ndarray[tuple[int], np.dtype[np.float64]]"
    strike: "np.ndarray[tuple[int], np.dtype[np.float64]]"
    #: Expiry as a proleptic ordinal (NaN for stocks), so years to expiry is one subtraction.
    expiry_ordinal: "np.ndarray[tuple[int], np.dtype[np.float64]]"
    is_call: "np.ndarray[tuple[int], np.dtype[np.bool_]]"
    implied_vol: "np.ndarray[tuple[int], np.dtype[np.float64]]"
    dividend_yield: "np.ndarray[tuple[int], np.dtype[np.float64]]"
    position_id: tuple[int | None, ...]


def _columns(holdings: tuple[Holding, ...]) -> HoldingColumns:
    f64 = np.float64
    return HoldingColumns(
        symbol=tuple(h.symbol for h in holdings),
        asset=tuple(h.underlying if h.underlying is not None else h.symbol for h in holdings),
        quantity=np.array([float(h.quantity) for h in holdings], dtype=f64),
        is_option=np.array([h.underlying is not None for h in holdings], dtype=bool),
        multiplier=np.array(
            [float(h.multiplier) if h.multiplier is not None else 1.0 for h in holdings], dtype=f64
        ),
        strike=np.array(
            [float(h.strike) if h.strike is not None else np.nan for h in holdings], dtype=f64
        ),
        expiry_ordinal=np.array(
            [float(h.expiry.toordinal()) if h.expiry is not None else np.nan for h in holdings],
            dtype=f64,
        ),
        is_call=np.array([h.right == "call" for h in holdings], dtype=bool),
        implied_vol=np.array(
            [h.implied_vol if h.implied_vol is not None else np.nan for h in holdings], dtype=f64
        ),
        dividend_yield=np.array(
            [h.dividend_yield if h.dividend_yield is not None else 0.0 for h in holdings],
            dtype=f64,
        ),
        position_id=tuple(h.position_id for h in holdings),
    )


@dataclass(frozen=True)
class BookState:
    """The book in effect on a date, with what trades did to it since its book date."""

    book_date: dt.date
    cash: Decimal
    holdings: tuple[Holding, ...]
    trades_applied: int = 0
    realized_pnl: Decimal | None = ZERO
    #: Version number within the timeline: equal versions are the same book.
    version: int = 0

    @cached_property
    def columns(self) -> HoldingColumns:
        """The holdings as columns, built on first use and shared by every date of the state."""
        return _columns(self.holdings)

    @property
    def cost_basis(self) -> Decimal | None:
        """Signed cost of the holdings (avg cost x quantity x units); None if one is unknown."""
        total = ZERO
        for h in self.holdings:
            if h.avg_cost is None:
                return None
            total += h.avg_cost * h.quantity * h.units
        return total


def _sign(value: Decimal) -> int:
    return (value > 0) - (value < 0)


def apply_trade(holdings: dict[str, Holding], trade: TradeEvent) -> tuple[Decimal, Decimal | None]:
    """Apply ``trade`` to ``holdings`` in place (C16); returns (cash change, realised P&L).

    The realised P&L is None when a closing trade meets an unknown average cost.
    """
    held = holdings.get(trade.symbol)
    if held is None:
        held = Holding(
            symbol=trade.symbol,
            quantity=ZERO,
            avg_cost=None,
            underlying=trade.underlying,
            strike=trade.strike,
            expiry=trade.expiry,
            right=trade.right,
            multiplier=trade.multiplier,
            implied_vol=trade.implied_vol,
        )
    units = held.units
    cash = -trade.quantity * trade.price * units - trade.fees
    q0, q = held.quantity, trade.quantity
    realized: Decimal | None = ZERO
    if q0 == 0 or _sign(q0) == _sign(q):
        total = abs(q0) + abs(q)
        if q0 == 0:
            avg: Decimal | None = trade.price
        elif held.avg_cost is None:
            avg = None
        else:
            avg = (abs(q0) * held.avg_cost + abs(q) * trade.price) / total
        new = replace(held, quantity=q0 + q, avg_cost=avg)
    else:
        closed = min(abs(q), abs(q0))
        if held.avg_cost is None:
            realized = None
        else:
            realized = (trade.price - held.avg_cost) * closed * units * _sign(q0)
        remaining = q0 + q
        if remaining == 0:
            holdings.pop(trade.symbol, None)
            return cash, realized
        # Reducing keeps the average; crossing zero opens the rest at the trade price.
        avg = held.avg_cost if _sign(remaining) == _sign(q0) else trade.price
        new = replace(held, quantity=remaining, avg_cost=avg)
    holdings[trade.symbol] = new
    return cash, realized


@dataclass
class Timeline:
    """One portfolio's books, trades and flows, and the book in effect on any date."""

    books: list[Book]
    trades: list[TradeEvent] = field(default_factory=list)
    flows: list[tuple[dt.date, Decimal]] = field(default_factory=list)
    _dates: list[dt.date] = field(default_factory=list, init=False)
    _states: list[BookState] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.books.sort(key=lambda b: b.book_date)
        self.trades.sort(key=lambda t: (t.trade_date, t.seq))
        self.flows.sort(key=lambda f: f[0])
        if self.books:
            first = self.books[0].book_date
            early = [t for t in self.trades if t.trade_date < first]
            if early:
                raise BookError(
                    f"trade of {early[0].symbol} on {early[0].trade_date} is before the "
                    f"first book ({first})"
                )
        self._build()

    def _build(self) -> None:
        """One state per event date, oldest first."""
        events: dict[dt.date, list[object]] = {}
        for dated in self.books:
            events.setdefault(dated.book_date, []).append(dated)
        for trade in self.trades:
            events.setdefault(trade.trade_date, []).append(trade)
        for day, amount in self.flows:
            events.setdefault(day, []).append(amount)
        version = 0
        state: BookState | None = None
        holdings: dict[str, Holding] = {}
        for day in sorted(events):
            items = events[day]
            book = next((i for i in items if isinstance(i, Book)), None)
            if book is not None:
                # A book is the whole truth of its date: trades and flows on it are inside it.
                holdings = {h.symbol: h for h in book.holdings}
                state = BookState(
                    book.book_date, book.cash, tuple(sorted(book.holdings, key=lambda h: h.symbol))
                )
            elif state is None:
                continue  # flows before the first book: no book to carry them
            else:
                cash, applied, realized = state.cash, state.trades_applied, state.realized_pnl
                traded = False
                for item in items:
                    if isinstance(item, TradeEvent):
                        change, gain = apply_trade(holdings, item)
                        cash += change
                        applied += 1
                        traded = True
                        realized = None if realized is None or gain is None else realized + gain
                    elif isinstance(item, Decimal):
                        cash += item
                # A day of flows only shares the holdings of the day before.
                lines = (
                    tuple(sorted(holdings.values(), key=lambda h: h.symbol))
                    if traded
                    else state.holdings
                )
                state = BookState(state.book_date, cash, lines, applied, realized)
            version += 1
            self._dates.append(day)
            self._states.append(replace(state, version=version))

    def state_on(self, day: dt.date) -> BookState | None:
        """The book in effect on ``day`` (C15), or None when no book is dated on or before it."""
        i = bisect.bisect_right(self._dates, day)
        return self._states[i - 1] if i else None

    def assets_on(self, day: dt.date) -> set[str]:
        """Assets whose prices ``day`` needs: the in-effect book's, and those traded since it.

        A symbol a trade closed again is included (the database query of
        ``repositories.risk_inputs.held_symbols`` cannot roll trades, and both must agree).
        """
        book = None
        for dated in self.books:
            if dated.book_date <= day:
                book = dated
        if book is None:
            return set()
        found = {h.underlying or h.symbol for h in book.holdings}
        found.update(
            t.underlying or t.symbol for t in self.trades if book.book_date < t.trade_date <= day
        )
        return found

    def flow_between(self, after: dt.date | None, through: dt.date) -> Decimal:
        """External flows dated in (``after``, ``through``] (all up to ``through`` if None)."""
        return sum(
            (a for d, a in self.flows if (after is None or d > after) and d <= through), ZERO
        )


def timeline(
    books: Iterable[Book],
    trades: Sequence[TradeEvent] = (),
    flows: Sequence[tuple[dt.date, Decimal]] = (),
) -> Timeline:
    """A portfolio's :class:`Timeline` (books in any order)."""
    return Timeline(list(books), list(trades), list(flows))
