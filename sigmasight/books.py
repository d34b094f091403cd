"""Point-in-time books (pure): the book in effect on a date, rolled forward by trades and flows.

RISK-CONVENTIONS C15-C17, C19-C20. A portfolio's :class:`Timeline` holds its dated books,
its trades, its external cash flows and the corporate actions of what it holds;
:meth:`Timeline.state_on` gives the book in effect on a date: the latest book dated on or
before it, rolled forward by every trade dated after that book and on or before the date
(average cost, realised P&L, cash), with the external flows of the same interval in cash,
and by the corporate actions of the interval: on an ex-date E, before that day's trades, a
split multiplies the quantity of a stock by ``k`` (average cost / ``k``) and gives an option
on it the multiplier x ``k`` and the strike / ``k`` (contracts unchanged); a cash dividend
credits ``quantity x d`` for a stock held on the session before E (a short pays it). A
split is applied before a dividend of the same day, whose amount is per post-split share.
A book dated on or after E is already post-action. Money is kept in
:class:`~decimal.Decimal`, so the cash of a book does not depend on how many dates were
computed before it.

The states are computed once per event (a book, a trade day, a flow or a split) and shared
by every date up to the next event, which is what lets a history run and a single-date run
see the very same book. Dividends only move cash, so they are summed per symbol on read
instead of being events: a 50-stock book paying quarterly dividends for years costs no
more states than it has trades.

A book read from the database is a :class:`StoredBook`: its lines arrive as columns
(what the engine reads), and :class:`Holding` objects are built only when something rolls
the book forward (a trade or a split) or asks for them; a dividend reads just the quantity
it pays on. A book nothing touches between its date and the run's is never an object.
"""

import bisect
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import cached_property
from typing import cast

import numpy as np

from sigmasight.domain import ActionSpec

ZERO = Decimal(0)
ONE_DAY = dt.timedelta(days=1)


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
    #: Shares per contract; a split of the underlying makes it ``multiplier x k`` (C19).
    multiplier: int | Decimal | None = None
    implied_vol: float | None = None
    dividend_yield: float | None = None
    #: The stored ``position`` row this holding comes from (None once trades opened it).
    position_id: int | None = None

    @property
    def units(self) -> int | Decimal:
        """Shares per quantity unit: the option multiplier, 1 for stocks and ETFs."""
        return self.multiplier if self.underlying is not None and self.multiplier else 1


@dataclass(frozen=True)
class Book:
    """A book as imported for ``book_date``: cash plus holdings."""

    book_date: dt.date
    cash: Decimal
    holdings: tuple[Holding, ...]

    @property
    def assets(self) -> set[str]:
        """What the book holds: its stocks and its options' underlyings."""
        return {h.underlying or h.symbol for h in self.holdings}


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

    @cached_property
    def cost_basis(self) -> Decimal | None:
        """Signed cost of the holdings (avg cost x quantity x units); None if one is unknown.

        Summed once per state: a state is valued on every date until a trade moves it.
        """
        total = ZERO
        for h in self.holdings:
            if h.avg_cost is None:
                return None
            total += h.avg_cost * h.quantity * h.units
        return total

    def quantity_at(self, i: int) -> Decimal:
        """The quantity of holding ``i`` (the order of ``holdings`` and ``columns``)."""
        return self.holdings[i].quantity

    def shares_lines(self, other: "BookState") -> bool:
        """Whether ``other`` holds the very same lines (not a copy): nothing moved them."""
        return not isinstance(other, StoredState) and other.holdings is self.holdings

    def moved(
        self, *, cash: Decimal, trades_applied: int, realized_pnl: Decimal | None, version: int
    ) -> "BookState":
        """The same lines with another cash, trade count, realised P&L and version."""
        return BookState(self.book_date, cash, self.holdings, trades_applied, realized_pnl, version)


@dataclass(frozen=True)
class StoredLines:
    """A stored book's lines as the database hands them over: columns, not objects.

    One entry per line, ordered by symbol (code point order, as ``BookState.holdings``).
    ``columns`` is what the engine reads; the exact values (numeric text, ``None`` for NULL)
    rebuild the :class:`Holding` objects, the same as reading the rows one by one, only when
    something needs them (a trade, a split, a dividend, the API's book).
    """

    columns: HoldingColumns
    quantity: tuple[str, ...]
    avg_cost: tuple[str | None, ...]
    underlying: tuple[str | None, ...]
    strike: tuple[str | None, ...]
    #: Expiry as a proleptic ordinal, 0 when NULL.
    expiry: tuple[int, ...]
    right: tuple[str | None, ...]
    #: Stored as an integer; a split of the underlying makes it ``Decimal(units) x k`` (C19).
    multiplier: tuple[int | Decimal | None, ...]
    implied_vol: tuple[float | None, ...]
    dividend_yield: tuple[float | None, ...]

    def _stock_line(self, symbol: str) -> int | None:
        """The index of the stock line ``symbol`` (symbols are unique within a book)."""
        try:
            i = self.columns.symbol.index(symbol)
        except ValueError:
            return None
        return i if self.underlying[i] is None else None

    def stock_quantity(self, symbol: str) -> Decimal:
        """The quantity of the stock line ``symbol`` (zero when the book holds none)."""
        i = self._stock_line(symbol)
        return ZERO if i is None else Decimal(self.quantity[i])

    def split(self, symbol: str, ratio: Decimal) -> "StoredLines | None":
        """:func:`split_holdings` on the lines as stored, or None when no line is ``symbol``'s.

        The same exact values as the objects' arithmetic (a numeric text round-trips its
        Decimal), and the engine's columns changed only where a line changed, without
        turning the book into :class:`Holding` objects.
        """
        stock = self._stock_line(symbol)
        hits = [] if stock is None else [stock]
        if symbol in self.underlying:
            hits += [i for i, underlying in enumerate(self.underlying) if underlying == symbol]
        if not hits:
            return None
        c = self.columns
        quantity, avg_cost = list(self.quantity), list(self.avg_cost)
        strike, multiplier = list(self.strike), list(self.multiplier)
        q_col, m_col, k_col = c.quantity.copy(), c.multiplier.copy(), c.strike.copy()
        for i in hits:
            if (cost := avg_cost[i]) is not None:
                avg_cost[i] = str(Decimal(cost) / ratio)
            if i == stock:
                moved = Decimal(quantity[i]) * ratio
                quantity[i], q_col[i] = str(moved), float(moved)
                continue
            units = multiplier[i] or 1  # Holding.units of an option
            multiplier[i] = new = Decimal(units) * ratio
            m_col[i] = float(new)
            if (old := strike[i]) is not None:
                cut = Decimal(old) / ratio
                strike[i], k_col[i] = str(cut), float(cut)
        # Built directly (dataclasses.replace costs more than the split itself).
        columns = HoldingColumns(
            symbol=c.symbol,
            asset=c.asset,
            quantity=q_col,
            is_option=c.is_option,
            multiplier=m_col,
            strike=k_col,
            expiry_ordinal=c.expiry_ordinal,
            is_call=c.is_call,
            implied_vol=c.implied_vol,
            dividend_yield=c.dividend_yield,
            position_id=c.position_id,
        )
        return StoredLines(
            columns=columns,
            quantity=tuple(quantity),
            avg_cost=tuple(avg_cost),
            underlying=self.underlying,
            strike=tuple(strike),
            expiry=self.expiry,
            right=self.right,
            multiplier=tuple(multiplier),
            implied_vol=self.implied_vol,
            dividend_yield=self.dividend_yield,
        )

    def holdings(self) -> tuple[Holding, ...]:
        """The lines as :class:`Holding` objects."""
        c = self.columns
        return tuple(
            Holding(
                symbol=c.symbol[i],
                quantity=Decimal(self.quantity[i]),
                avg_cost=None if (cost := self.avg_cost[i]) is None else Decimal(cost),
                underlying=self.underlying[i],
                strike=None if (strike := self.strike[i]) is None else Decimal(strike),
                expiry=dt.date.fromordinal(self.expiry[i]) if self.expiry[i] else None,
                right=self.right[i],
                multiplier=self.multiplier[i],
                implied_vol=self.implied_vol[i],
                dividend_yield=self.dividend_yield[i],
                position_id=c.position_id[i],
            )
            for i in range(len(c.symbol))
        )

    def cost_basis(self) -> Decimal | None:
        """:attr:`BookState.cost_basis` of these lines, term by term in the same order."""
        if None in self.avg_cost:
            return None
        total = ZERO
        for cost, quantity, underlying, multiplier in zip(
            self.avg_cost, self.quantity, self.underlying, self.multiplier, strict=True
        ):
            units = multiplier if underlying is not None and multiplier else 1
            total += Decimal(cast(str, cost)) * Decimal(quantity) * units
        return total


class StoredBook(Book):
    """A :class:`Book` read as columns: its :class:`Holding` objects are built on first use."""

    def __init__(self, book_date: dt.date, cash: Decimal, lines: StoredLines) -> None:
        object.__setattr__(self, "book_date", book_date)
        object.__setattr__(self, "cash", cash)
        object.__setattr__(self, "lines", lines)

    lines: StoredLines

    @cached_property
    def holdings(self) -> tuple[Holding, ...]:
        """The lines as objects (built once, when first read)."""
        return self.lines.holdings()

    @property
    def assets(self) -> set[str]:
        """What the book holds: its stocks and its options' underlyings."""
        return set(self.lines.columns.asset)


class StoredState(BookState):
    """The state a :class:`StoredBook` opens, sharing its columns; objects on first use.

    Derive another state with :meth:`moved` (``dataclasses.replace`` cannot rebuild it).
    """

    def __init__(
        self,
        book: StoredBook,
        *,
        cash: Decimal | None = None,
        trades_applied: int = 0,
        realized_pnl: Decimal | None = ZERO,
        version: int = 0,
    ) -> None:
        object.__setattr__(self, "book_date", book.book_date)
        object.__setattr__(self, "cash", book.cash if cash is None else cash)
        object.__setattr__(self, "trades_applied", trades_applied)
        object.__setattr__(self, "realized_pnl", realized_pnl)
        object.__setattr__(self, "version", version)
        object.__setattr__(self, "book", book)
        # The cached_property's slot: the engine's columns come straight from the database.
        self.__dict__["columns"] = book.lines.columns

    book: StoredBook

    @cached_property
    def holdings(self) -> tuple[Holding, ...]:
        """The lines as objects (shared with the book, built when first read)."""
        return self.book.holdings

    @cached_property
    def cost_basis(self) -> Decimal | None:
        """Signed cost of the holdings, from the stored values without building objects."""
        return self.book.lines.cost_basis()

    def quantity_at(self, i: int) -> Decimal:
        """The quantity of holding ``i``, from its stored value."""
        return Decimal(self.book.lines.quantity[i])

    def shares_lines(self, other: BookState) -> bool:
        """Whether ``other`` opens from the same stored book (its objects are not built)."""
        return isinstance(other, StoredState) and other.book is self.book

    def moved(
        self, *, cash: Decimal, trades_applied: int, realized_pnl: Decimal | None, version: int
    ) -> "BookState":
        """The same stored lines with another cash, trade count, realised P&L and version."""
        return StoredState(
            self.book,
            cash=cash,
            trades_applied=trades_applied,
            realized_pnl=realized_pnl,
            version=version,
        )


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


def split_holdings(holdings: dict[str, Holding], symbol: str, ratio: Decimal) -> bool:
    """Apply a split of ``symbol`` (``ratio`` new shares per old) in place (C19).

    The stock's quantity is multiplied and its average cost divided by ``ratio``; an option
    on it keeps its contracts, with the multiplier x ``ratio`` and the strike and average
    cost (per share) / ``ratio``. Cost bases are unchanged. Returns whether a line changed.
    """
    changed = False
    for key, held in list(holdings.items()):
        avg = None if held.avg_cost is None else held.avg_cost / ratio
        if held.underlying is None and held.symbol == symbol:
            holdings[key] = replace(held, quantity=held.quantity * ratio, avg_cost=avg)
        elif held.underlying == symbol:
            holdings[key] = replace(
                held,
                multiplier=Decimal(held.units) * ratio,
                strike=None if held.strike is None else held.strike / ratio,
                avg_cost=avg,
            )
        else:
            continue
        changed = True
    return changed


class ActionLedger:
    """Corporate actions as a timeline reads them: splits by date, dividends summed per symbol.

    Built once for a run (or a chunk) and shared by its timelines, also across threads: the
    per-share sums it memoises are the same whichever thread computes them first.
    """

    def __init__(self, actions: Iterable[ActionSpec] = ()) -> None:
        ordered = sorted(actions, key=lambda a: (a.ex_date, a.symbol, a.kind))
        self.splits: list[ActionSpec] = [a for a in ordered if a.kind == "split"]
        self._split_days = [a.ex_date for a in self.splits]
        self._days: dict[str, list[dt.date]] = {}
        self._paid: dict[str, list[Decimal]] = {}
        self._memo: dict[tuple[str, dt.date, dt.date], Decimal] = {}
        for action in ordered:
            if action.kind != "cash_dividend":
                continue
            days = self._days.setdefault(action.symbol, [])
            paid = self._paid.setdefault(action.symbol, [])
            days.append(action.ex_date)
            paid.append((paid[-1] if paid else ZERO) + action.value)

    def __bool__(self) -> bool:
        return bool(self.splits or self._days)

    def splits_between(self, after: dt.date, through: dt.date) -> list[ActionSpec]:
        """The splits going ex in (``after``, ``through``], oldest first."""
        lo = bisect.bisect_right(self._split_days, after)
        hi = bisect.bisect_right(self._split_days, through)
        return self.splits[lo:hi]

    def per_share(self, symbol: str, after: dt.date, through: dt.date) -> Decimal:
        """Dividends per share of ``symbol`` going ex in (``after``, ``through``]."""
        days = self._days.get(symbol)
        if not days or through <= after:
            return ZERO
        key = (symbol, after, through)
        found = self._memo.get(key)
        if found is None:
            paid = self._paid[symbol]
            hi = bisect.bisect_right(days, through)
            lo = bisect.bisect_right(days, after)
            found = ZERO if hi == lo else paid[hi - 1] - (paid[lo - 1] if lo else ZERO)
            self._memo[key] = found
        return found

    def dividends(self, holdings: Iterable[Holding], after: dt.date, through: dt.date) -> Decimal:
        """Cash the stock ``holdings`` receive (a short pays) for ex-dates in (after, through]."""
        if not self._days:
            return ZERO
        total = ZERO
        for held in holdings:
            if held.underlying is None and held.symbol in self._days:
                paid = self.per_share(held.symbol, after, through)
                if paid:
                    total += held.quantity * paid
        return total

    def received(self, state: "BookState", after: dt.date, through: dt.date) -> Decimal:
        """:meth:`dividends` of ``state``'s holdings, reading a quantity only where one is paid."""
        if not self._days:
            return ZERO
        total = ZERO
        columns = state.columns
        for i, (symbol, is_option) in enumerate(
            zip(columns.symbol, columns.is_option.tolist(), strict=True)
        ):
            if not is_option and symbol in self._days:
                paid = self.per_share(symbol, after, through)
                if paid:
                    total += state.quantity_at(i) * paid
        return total


NO_ACTIONS = ActionLedger()


def _stock_quantity(holdings: dict[str, Holding], symbol: str) -> Decimal:
    held = holdings.get(symbol)
    return held.quantity if held is not None and held.underlying is None else ZERO


@dataclass
class Timeline:
    """One portfolio's books, trades, flows and actions, and the book in effect on any date."""

    books: list[Book]
    trades: list[TradeEvent] = field(default_factory=list)
    flows: list[tuple[dt.date, Decimal]] = field(default_factory=list)
    actions: ActionLedger = NO_ACTIONS
    _dates: list[dt.date] = field(default_factory=list, init=False)
    _anchors: list[dt.date] = field(default_factory=list, init=False)
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

    def _held_assets(self) -> set[str]:
        found = {a for b in self.books for a in b.assets}
        found.update(t.underlying or t.symbol for t in self.trades)
        return found

    def _build(self) -> None:
        """One state per event date, oldest first."""
        events: dict[dt.date, list[object]] = {}
        for dated in self.books:
            events.setdefault(dated.book_date, []).append(dated)
        for trade in self.trades:
            events.setdefault(trade.trade_date, []).append(trade)
        for day, amount in self.flows:
            events.setdefault(day, []).append(amount)
        if self.actions and self.books:
            assets = self._held_assets()
            first = self.books[0].book_date
            for split in self.actions.splits_between(first, dt.date.max):
                if split.symbol in assets:
                    events.setdefault(split.ex_date, []).append(split)
        version = 0
        state: BookState | None = None
        # Built from the state's lines when a trade or a split first needs objects: a stored
        # book that nothing rolls forward is never turned into Holding objects.
        holdings: dict[str, Holding] | None = None
        # Dividends are summed on read from ``anchor`` on, on the quantities of the state
        # read (state_on). A quantity that changes settles what its old quantity earned
        # since the anchor, so events cost what they change, not a pass over the book.
        anchor = dt.date.min
        for day in sorted(events):
            items = events[day]
            book = next((i for i in items if isinstance(i, Book)), None)
            if book is not None:
                # A book is the whole truth of its date: trades, flows and actions on it
                # are inside it.
                if isinstance(book, StoredBook):
                    holdings = None
                    state = StoredState(book, version=version + 1)
                else:
                    holdings = {h.symbol: h for h in book.holdings}
                    state = BookState(
                        book.book_date,
                        book.cash,
                        tuple(sorted(book.holdings, key=lambda h: h.symbol)),
                        version=version + 1,
                    )
                anchor = book.book_date
            elif state is None:
                continue  # flows before the first book: no book to carry them
            else:
                cash, applied, realized = state.cash, state.trades_applied, state.realized_pnl
                changed = False
                if (
                    holdings is None
                    and isinstance(state, StoredState)
                    and not any(isinstance(item, TradeEvent) for item in items)
                ):
                    # Splits (and flows) of a stored book stay columns: no objects built.
                    state = self._split_stored(state, items, anchor, day, version + 1)
                    version += 1
                    self._dates.append(day)
                    self._anchors.append(anchor)
                    self._states.append(state)
                    continue
                if holdings is None and any(
                    isinstance(item, (ActionSpec, TradeEvent)) for item in items
                ):
                    holdings = {h.symbol: h for h in state.holdings}
                # The day's splits first: a dividend of the same day is per new share.
                for item in items:
                    if isinstance(item, ActionSpec) and holdings is not None:
                        held = _stock_quantity(holdings, item.symbol)
                        changed |= split_holdings(holdings, item.symbol, item.value)
                        cash += self._settle(holdings, item.symbol, held, anchor, day - ONE_DAY)
                for item in items:
                    if isinstance(item, TradeEvent) and holdings is not None:
                        held = _stock_quantity(holdings, item.symbol)
                        change, gain = apply_trade(holdings, item)
                        # The day's dividend goes to the quantity held before the trade.
                        cash += change + self._settle(holdings, item.symbol, held, anchor, day)
                        applied += 1
                        changed = True
                        realized = None if realized is None or gain is None else realized + gain
                    elif isinstance(item, Decimal):
                        cash += item
                if changed and holdings is not None:
                    state = BookState(
                        state.book_date,
                        cash,
                        tuple(sorted(holdings.values(), key=lambda h: h.symbol)),
                        applied,
                        realized,
                        version + 1,
                    )
                else:
                    # A day of flows only shares the holdings of the day before.
                    state = state.moved(
                        cash=cash,
                        trades_applied=applied,
                        realized_pnl=realized,
                        version=version + 1,
                    )
            version += 1
            self._dates.append(day)
            self._anchors.append(anchor)
            self._states.append(state)

    def _split_stored(
        self, state: "StoredState", items: list[object], anchor: dt.date, day: dt.date, version: int
    ) -> BookState:
        """A day of splits and flows on a stored book, as the objects' path rolls it (C19)."""
        cash, lines = state.cash, state.book.lines
        changed = False
        for item in items:
            if isinstance(item, ActionSpec):
                held = lines.stock_quantity(item.symbol)
                split = lines.split(item.symbol, item.value)
                if split is None:
                    continue
                lines, changed = split, True
                moved = held - lines.stock_quantity(item.symbol)
                cash += self._moved_dividends(item.symbol, moved, anchor, day - ONE_DAY)
        for item in items:
            if isinstance(item, Decimal):
                cash += item
        if not changed:
            return state.moved(
                cash=cash,
                trades_applied=state.trades_applied,
                realized_pnl=state.realized_pnl,
                version=version,
            )
        return StoredState(
            StoredBook(state.book_date, state.book.cash, lines),
            cash=cash,
            trades_applied=state.trades_applied,
            realized_pnl=state.realized_pnl,
            version=version,
        )

    def _settle(
        self,
        holdings: dict[str, Holding],
        symbol: str,
        held: Decimal,
        anchor: dt.date,
        through: dt.date,
    ) -> Decimal:
        """Dividends (anchor, through] of ``symbol`` its quantity change moves between holders."""
        moved = held - _stock_quantity(holdings, symbol)
        return self._moved_dividends(symbol, moved, anchor, through)

    def _moved_dividends(
        self, symbol: str, moved: Decimal, anchor: dt.date, through: dt.date
    ) -> Decimal:
        """What ``moved`` shares of ``symbol`` earned in (anchor, through]: it changes hands."""
        return moved * self.actions.per_share(symbol, anchor, through) if moved else ZERO

    def state_on(self, day: dt.date) -> BookState | None:
        """The book in effect on ``day`` (C15), or None when no book is dated on or before it.

        Its cash holds the dividends going ex on or before ``day`` (C20).
        """
        i = bisect.bisect_right(self._dates, day)
        if not i:
            return None
        state = self._states[i - 1]
        received = self.actions.received(state, self._anchors[i - 1], day)
        if not received:
            return state
        return state.moved(
            cash=state.cash + received,
            trades_applied=state.trades_applied,
            realized_pnl=state.realized_pnl,
            version=state.version,
        )

    def held_over(self, before: dt.date, day: dt.date) -> BookState | None:
        """The book of ``before`` as held through ``day``: its lines after the splits in between.

        The book a day's holding P&L is computed on (C28): no trade of the interval, the
        quantities and option terms of ``day``'s share basis (C19).
        """
        state = self.state_on(before)
        splits = self.actions.splits_between(before, day)
        if state is None or not splits:
            return state
        assets = set(state.columns.asset)
        if not any(split.symbol in assets for split in splits):
            return state
        holdings = {h.symbol: h for h in state.holdings}
        changed = False
        for split in splits:
            if split.symbol in assets:
                changed |= split_holdings(holdings, split.symbol, split.value)
        if not changed:
            return state
        return BookState(
            state.book_date,
            state.cash,
            tuple(sorted(holdings.values(), key=lambda h: h.symbol)),
            state.trades_applied,
            state.realized_pnl,
            state.version,
        )

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
        found = book.assets
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
    actions: ActionLedger | Iterable[ActionSpec] = (),
) -> Timeline:
    """A portfolio's :class:`Timeline` (books in any order)."""
    ledger = actions if isinstance(actions, ActionLedger) else ActionLedger(actions)
    return Timeline(list(books), list(trades), list(flows), ledger)
