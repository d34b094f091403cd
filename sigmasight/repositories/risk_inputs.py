"""Reads for the nightly risk run: the price panel (once per run) and books (per chunk)."""

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

import numpy as np
import pandas as pd
from sqlalchemy import ARRAY, BigInteger, ColumnElement, Text, any_, bindparam, func, select, text
from sqlalchemy.orm import Session

from models import (
    CashFlow,
    CorporateAction,
    Factor,
    Portfolio,
    Position,
    RateObservation,
    Security,
    StressScenario,
    Trade,
)
from sigmasight.books import (
    ActionLedger,
    HoldingColumns,
    StoredBook,
    StoredLines,
    Timeline,
    TradeEvent,
    timeline,
)
from sigmasight.db import raw_connection
from sigmasight.domain import ActionSpec, ScenarioSpec
from sigmasight.risk.adjustment import NO_ACTION, PanelActions


def any_of(column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """``column = ANY(<one array parameter>)`` instead of ``IN (...)``.

    An IN list of a chunk's thousand ids is a thousand placeholders, which the driver
    parses out of the query text on every call.
    """
    item = BigInteger() if values and isinstance(values[0], int) else Text()
    return cast(
        ColumnElement[bool], column == any_(bindparam(None, list(values), type_=ARRAY(item)))
    )


@dataclass(frozen=True)
class PanelData:
    """Stored closes on the sessions up to the as-of date, one column per symbol.

    ``close`` is the as-traded close; ``adj_close`` the stored risk series (the vendor's
    adjusted close where one was imported, else the close). The corporate actions of
    :func:`load_actions` turn them into one basis per date (``sigmasight.risk.adjustment``).
    """

    dates: tuple[dt.date, ...]
    symbols: tuple[str, ...]
    adj_close: "np.ndarray[tuple[int, int], np.dtype[np.float64]]"
    close: "np.ndarray[tuple[int, int], np.dtype[np.float64]]"


def load_panel(
    session: Session, symbols: Sequence[str], *, start: dt.date, end: dt.date
) -> PanelData:
    """Every stored bar of ``symbols`` between ``start`` and ``end``, pivoted to (date x symbol).

    One row per symbol, its bars aggregated server-side in date order (days since ``start``
    as int4, the closes as the bits of their float8), read in binary: a few arrays per
    symbol instead of a message and a parse per bar. A million bars load in a fraction of a
    second, with exactly the stored values.
    """
    ordered = tuple(sorted(set(symbols)))
    query = (
        "SELECT symbol, string_agg(int4send(price_date - %(start)s), '' ORDER BY price_date), "
        "string_agg(float8send(coalesce(adj_close, close)), '' ORDER BY price_date), "
        "string_agg(float8send(close), '' ORDER BY price_date) "
        "FROM price_bar WHERE symbol = ANY(%(symbols)s) "
        "AND price_date BETWEEN %(start)s AND %(end)s GROUP BY symbol"
    )
    with raw_connection(session).cursor(binary=True) as cursor:
        cursor.execute(query, {"start": start, "end": end, "symbols": list(ordered)})
        rows = cursor.fetchall()
    if not rows:
        empty = np.empty((0, len(ordered)))
        return PanelData((), ordered, empty, empty.copy())
    symbol_index = {s: i for i, s in enumerate(ordered)}
    offsets = [np.frombuffer(r[1], dtype=">i4") for r in rows]
    days = np.concatenate(offsets).astype(np.int64)
    cols = np.repeat(
        np.array([symbol_index[r[0]] for r in rows], dtype=np.int64), [o.size for o in offsets]
    )
    dates, positions = np.unique(days, return_inverse=True)
    adj = np.full((dates.size, len(ordered)), np.nan)
    raw = np.full((dates.size, len(ordered)), np.nan)
    adj[positions, cols] = np.concatenate([np.frombuffer(r[2], dtype=">f8") for r in rows])
    raw[positions, cols] = np.concatenate([np.frombuffer(r[3], dtype=">f8") for r in rows])
    first = start.toordinal()
    return PanelData(
        tuple(dt.date.fromordinal(first + d) for d in dates.tolist()), ordered, adj, raw
    )


def load_actions(
    session: Session, symbols: Sequence[str], *, after: dt.date, through: dt.date
) -> PanelActions:
    """The corporate actions of ``symbols`` (a panel's columns, in order) dated up to ``through``.

    Every action with ex-date in (``after``, ``through``] in full, and for each symbol the
    ex-date of its earliest action and dividend of all (which fixes its price basis).
    """
    ordered = list(symbols)
    column = {s: i for i, s in enumerate(ordered)}
    first_action = np.full(len(ordered), NO_ACTION, dtype=np.int64)
    first_dividend = first_action.copy()
    if not ordered:
        return PanelActions.empty(0)
    wanted = any_of(CorporateAction.symbol, ordered)
    firsts = session.execute(
        select(
            CorporateAction.symbol,
            func.min(CorporateAction.ex_date),
            func.min(CorporateAction.ex_date).filter(CorporateAction.kind == "cash_dividend"),
        )
        .where(wanted, CorporateAction.ex_date <= through)
        .group_by(CorporateAction.symbol)
    ).all()
    for symbol, first, dividend in firsts:
        first_action[column[symbol]] = first.toordinal()
        if dividend is not None:
            first_dividend[column[symbol]] = dividend.toordinal()
    rows = session.execute(
        select(
            CorporateAction.symbol,
            CorporateAction.ex_date,
            CorporateAction.kind,
            CorporateAction.value,
        )
        .where(wanted, CorporateAction.ex_date > after, CorporateAction.ex_date <= through)
        .order_by(CorporateAction.symbol, CorporateAction.ex_date, CorporateAction.kind)
    ).all()
    return PanelActions(
        column=np.array([column[r[0]] for r in rows], dtype=np.int64),
        ex_day=np.array([r[1].toordinal() for r in rows], dtype=np.int64),
        is_split=np.array([r[2] == "split" for r in rows], dtype=bool),
        value=np.array([float(r[3]) for r in rows], dtype=np.float64),
        first_action=first_action,
        first_dividend=first_dividend,
    )


def load_book_actions(
    session: Session,
    symbols: Iterable[str] | None,
    *,
    through: dt.date,
    after: dt.date | None = None,
) -> list[ActionSpec]:
    """The actions of ``symbols`` (None: of every symbol) with ex-date in (``after``, ``through``]."""
    query = select(
        CorporateAction.symbol, CorporateAction.ex_date, CorporateAction.kind, CorporateAction.value
    ).where(CorporateAction.ex_date <= through)
    if symbols is not None:
        wanted = sorted(set(symbols))
        if not wanted:
            return []
        query = query.where(any_of(CorporateAction.symbol, wanted))
    if after is not None:
        query = query.where(CorporateAction.ex_date > after)
    rows = session.execute(
        query.order_by(CorporateAction.ex_date, CorporateAction.symbol, CorporateAction.kind)
    ).tuples()
    return [
        ActionSpec(symbol=s, ex_date=d, kind="split" if k == "split" else "cash_dividend", value=v)
        for s, d, k, v in rows
    ]


def load_rates(
    session: Session, series_id: str, *, start: dt.date, end: dt.date
) -> list[tuple[dt.date, float]]:
    """Observations of ``series_id`` (percent) from ``start`` to ``end``."""
    rows = session.execute(
        select(RateObservation.obs_date, RateObservation.value_pct)
        .where(
            RateObservation.series_id == series_id,
            RateObservation.obs_date.between(start, end),
        )
        .order_by(RateObservation.obs_date)
    ).all()
    return [(day, float(value)) for day, value in rows]


def load_factors(session: Session) -> dict[str, str]:
    """Active factors in display order: ``{etf symbol: name}``."""
    rows = session.execute(
        select(Factor.symbol, Factor.name)
        .where(Factor.is_active)
        .order_by(Factor.display_order, Factor.symbol)
    ).all()
    return {str(symbol): str(name) for symbol, name in rows}


def load_scenarios(session: Session) -> list[ScenarioSpec]:
    """Active stress scenarios, by name."""
    rows = session.scalars(
        select(StressScenario)
        .where(StressScenario.is_active)
        .order_by(StressScenario.category, StressScenario.name)
    ).all()
    return [
        ScenarioSpec(
            name=row.name,
            category=row.category,
            shocks={k: float(v) for k, v in row.shocks.items()},
            rate_shock_pp=float(row.rate_shock_pp),
            severity=row.severity,
            description=row.description,
        )
        for row in rows
    ]


def list_portfolio_ids(session: Session) -> list[int]:
    """Every portfolio id, ascending."""
    return list(session.scalars(select(Portfolio.id).order_by(Portfolio.id)))


def held_symbols(session: Session, on: dt.date) -> list[str]:
    """Assets whose prices the risk of ``on`` needs: of every portfolio's book in effect then.

    The stocks and option underlyings of each portfolio's latest book dated on or before
    ``on``, plus those of its trades after that book up to ``on`` (a holding a trade closed
    is still included): exactly :meth:`sigmasight.books.Timeline.assets_on`, which history
    runs use, so both see the same panel.
    """
    rows = session.execute(
        text(
            "WITH eff AS (SELECT portfolio_id, max(book_date) AS book_date FROM portfolio_book "
            "WHERE book_date <= :on GROUP BY portfolio_id) "
            "SELECT coalesce(p.underlying, p.symbol) FROM position p "
            "JOIN eff ON eff.portfolio_id = p.portfolio_id AND eff.book_date = p.book_date "
            "UNION SELECT coalesce(t.underlying, t.symbol) FROM trade t "
            "JOIN eff ON eff.portfolio_id = t.portfolio_id "
            "AND t.trade_date > eff.book_date AND t.trade_date <= :on"
        ),
        {"on": on},
    )
    return sorted({str(r[0]) for r in rows})


def symbols_through(session: Session, last: dt.date) -> list[str]:
    """Every asset a book or trade dated on or before ``last`` holds (a history run's panel)."""
    books = select(func.coalesce(Position.underlying, Position.symbol)).where(
        Position.book_date <= last
    )
    trades = select(func.coalesce(Trade.underlying, Trade.symbol)).where(Trade.trade_date <= last)
    return sorted({str(s) for s in session.scalars(books.union(trades))})


def latest_price_date(
    session: Session, symbols: Sequence[str], *, until: dt.date
) -> dt.date | None:
    """The newest session with any bar for ``symbols`` on or before ``until``."""
    from models import PriceBar

    return session.scalar(
        select(func.max(PriceBar.price_date)).where(
            any_of(PriceBar.symbol, list(symbols)), PriceBar.price_date <= until
        )
    )


@dataclass(frozen=True)
class PortfolioRows:
    """A chunk's portfolios (id, external_id, risk_free_rate, benchmark) and their timelines.

    ``sectors`` gives the security master's sector of every asset the books and trades hold
    (None when unknown); an option counts under its underlying.
    """

    portfolios: pd.DataFrame
    timelines: dict[int, Timeline]
    sectors: dict[str, str | None]


def trade_event(t: Trade) -> TradeEvent:
    """A stored ``trade`` row as the timeline's event (its id orders a day's trades)."""
    return TradeEvent(
        trade_date=t.trade_date,
        seq=t.id,
        symbol=t.symbol,
        quantity=t.quantity,
        price=t.price,
        fees=t.fees,
        underlying=t.underlying,
        strike=t.strike,
        expiry=t.expiry_date,
        right=t.option_right,
        multiplier=t.multiplier,
        implied_vol=t.implied_vol,
    )


def load_timelines(
    session: Session,
    portfolio_ids: Sequence[int],
    *,
    through: dt.date,
    actions: ActionLedger | None = None,
) -> PortfolioRows:
    """The chunk's dated books, trades, flows and actions up to ``through`` (none after it).

    ``actions`` is a ledger already read for the run (every action dated up to
    ``through``); without one, the actions of what the chunk holds are read here.
    """
    ids = list(portfolio_ids)
    portfolios = pd.DataFrame(
        session.execute(
            select(
                Portfolio.id, Portfolio.external_id, Portfolio.risk_free_rate, Portfolio.benchmark
            )
            .where(any_of(Portfolio.id, ids))
            .order_by(Portfolio.id)
        ).all(),
        columns=["id", "external_id", "risk_free_rate", "benchmark"],
    )
    books = stored_books(session, ids, through=through)
    trades: dict[int, list[TradeEvent]] = {pid: [] for pid in ids}
    for t in session.scalars(
        select(Trade).where(any_of(Trade.portfolio_id, ids), Trade.trade_date <= through)
    ):
        trades[t.portfolio_id].append(trade_event(t))
    flows: dict[int, list[tuple[dt.date, Decimal]]] = {pid: [] for pid in ids}
    for pid, day, amount in session.execute(
        select(CashFlow.portfolio_id, CashFlow.flow_date, CashFlow.amount).where(
            any_of(CashFlow.portfolio_id, ids), CashFlow.flow_date <= through
        )
    ):
        flows[pid].append((day, amount))
    assets = {a for bs in books.values() for b in bs for a in b.lines.columns.asset} | {
        t.underlying or t.symbol for ts in trades.values() for t in ts
    }
    if actions is None:
        first_book = min((b.book_date for bs in books.values() for b in bs), default=through)
        # C19-C20: the actions after the first book of what the chunk holds, shared by its
        # timelines (each applies those of its own lines).
        actions = ActionLedger(
            load_book_actions(session, assets, after=first_book, through=through)
        )
    lines = {pid: timeline(books[pid], trades[pid], flows[pid], actions) for pid in ids}
    return PortfolioRows(portfolios, lines, sectors_of(session, assets))


#: Separates the values of one book's lines in a text aggregate (no symbol or number has it).
_SEP = "\x1f"
_BOOK_LINES = f"""
SELECT b.portfolio_id, b.book_date, b.cash, count(p.id),
    string_agg(p.symbol, '{_SEP}' ORDER BY p.symbol COLLATE "C"),
    string_agg(coalesce(p.underlying, ''), '{_SEP}' ORDER BY p.symbol COLLATE "C"),
    string_agg(coalesce(p.option_right, ''), '{_SEP}' ORDER BY p.symbol COLLATE "C"),
    string_agg(p.quantity::text, '{_SEP}' ORDER BY p.symbol COLLATE "C"),
    string_agg(coalesce(p.entry_price::text, ''), '{_SEP}' ORDER BY p.symbol COLLATE "C"),
    string_agg(coalesce(p.strike::text, ''), '{_SEP}' ORDER BY p.symbol COLLATE "C"),
    string_agg(coalesce(p.multiplier::text, ''), '{_SEP}' ORDER BY p.symbol COLLATE "C"),
    string_agg(coalesce(p.implied_vol::text, ''), '{_SEP}' ORDER BY p.symbol COLLATE "C"),
    string_agg(coalesce(p.dividend_yield::text, ''), '{_SEP}' ORDER BY p.symbol COLLATE "C"),
    string_agg(int8send(p.id), '' ORDER BY p.symbol COLLATE "C"),
    string_agg(int8send(coalesce(p.expiry_date - date '0001-01-01' + 1, 0)), ''
        ORDER BY p.symbol COLLATE "C"),
    string_agg(float8send(p.quantity::float8), '' ORDER BY p.symbol COLLATE "C"),
    string_agg(float8send(coalesce(p.strike::float8, 'NaN')), '' ORDER BY p.symbol COLLATE "C"),
    string_agg(float8send(coalesce(p.multiplier::float8, 1)), '' ORDER BY p.symbol COLLATE "C"),
    string_agg(float8send(coalesce(p.implied_vol, 'NaN')), '' ORDER BY p.symbol COLLATE "C"),
    string_agg(float8send(coalesce(p.dividend_yield, 0)), '' ORDER BY p.symbol COLLATE "C")
FROM portfolio_book b
LEFT JOIN position p ON p.portfolio_id = b.portfolio_id AND p.book_date = b.book_date
WHERE b.portfolio_id = ANY(%s) AND b.book_date <= %s
GROUP BY b.portfolio_id, b.book_date, b.cash
"""


def _texts(joined: str | None, n: int) -> list[str | None]:
    """One aggregate's values, ``None`` where the column was NULL ('')."""
    if not n:
        return []
    return [v or None for v in cast(str, joined).split(_SEP)]


def _floats(packed: bytes | None) -> "np.ndarray[tuple[int], np.dtype[np.float64]]":
    """An aggregate of ``float8send`` values as a float64 array (the same bits)."""
    return np.frombuffer(packed or b"", dtype=">f8").astype(np.float64)


def _ints(packed: bytes | None) -> list[int]:
    return np.frombuffer(packed or b"", dtype=">i8").tolist()  # type: ignore[no-any-return]


def _lines(row: tuple[Any, ...]) -> StoredLines:
    """One book's lines from its aggregate row (see ``_BOOK_LINES``)."""
    n = int(row[3])
    symbols = cast(str, row[4]).split(_SEP) if n else []
    underlying = _texts(row[5], n)
    right = _texts(row[6], n)
    quantity = [cast(str, q) for q in _texts(row[7], n)]
    expiry = _ints(row[14])
    vols, yields = _floats(row[18]), _floats(row[19])
    columns = HoldingColumns(
        symbol=tuple(symbols),
        asset=tuple(u if u is not None else s for s, u in zip(symbols, underlying, strict=True)),
        quantity=_floats(row[15]),
        is_option=np.array([u is not None for u in underlying], dtype=bool),
        multiplier=_floats(row[17]),
        strike=_floats(row[16]),
        expiry_ordinal=np.array([float(e) if e else np.nan for e in expiry], dtype=np.float64),
        is_call=np.array([r == "call" for r in right], dtype=bool),
        implied_vol=vols,
        dividend_yield=yields,
        position_id=tuple(_ints(row[13])),
    )
    return StoredLines(
        columns=columns,
        quantity=tuple(quantity),
        avg_cost=tuple(_texts(row[8], n)),
        underlying=tuple(underlying),
        strike=tuple(_texts(row[9], n)),
        expiry=tuple(expiry),
        right=tuple(right),
        multiplier=tuple(None if m is None else int(m) for m in _texts(row[10], n)),
        # The float8's own bits; the text only says where the column was NULL.
        implied_vol=tuple(
            None if t is None else v for t, v in zip(_texts(row[11], n), vols.tolist(), strict=True)
        ),
        dividend_yield=tuple(
            None if t is None else v
            for t, v in zip(_texts(row[12], n), yields.tolist(), strict=True)
        ),
    )


def stored_books(
    session: Session, portfolio_ids: Sequence[int], *, through: dt.date
) -> dict[int, list[StoredBook]]:
    """Every stored book of the portfolios dated on or before ``through``, as columns.

    One set-based query: a row per book, its lines' values aggregated in symbol order
    (numbers as the bits of their float8, and as text for the exact Decimals), so a book
    costs a few array conversions instead of a Python object per line.
    """
    ids = list(portfolio_ids)
    books: dict[int, list[StoredBook]] = {pid: [] for pid in ids}
    with raw_connection(session).cursor() as cursor:
        cursor.execute(_BOOK_LINES, (ids, through))
        for row in cursor:
            books[int(row[0])].append(StoredBook(row[1], row[2], _lines(row)))
    return books


def sectors_of(session: Session, symbols: Iterable[str]) -> dict[str, str | None]:
    """The security master's sector of each symbol (None when unknown or blank)."""
    wanted = sorted(set(symbols))
    found = dict(
        session.execute(
            select(Security.symbol, Security.sector).where(any_of(Security.symbol, wanted))
        )
        .tuples()
        .all()
    )
    return {s: (found.get(s) or None) for s in wanted}
