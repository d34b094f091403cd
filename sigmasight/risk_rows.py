"""The risk engine's inputs and outputs as table rows (pure: no database, no I/O).

:func:`books_on` turns a chunk's books in effect on a date (``sigmasight.books``) into the
engine's :class:`~sigmasight.risk.engine.Books`; :func:`result_frames` turns the engine's
results into one column-wise frame per result table, ready for ``repositories.results``.
"""

import dataclasses
import datetime as dt
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import chain
from typing import Any, cast

import numpy as np
import orjson
import pandas as pd

from sigmasight.books import BookState, Holding
from sigmasight.risk import document as doc
from sigmasight.risk.backtest import WINDOW as BACKTEST_WINDOW
from sigmasight.risk.backtest import backtest_block
from sigmasight.risk.document import num
from sigmasight.risk.engine import BookResults, Books, hist_var_on_window
from sigmasight.risk.limits import (
    BREACH_STATUSES,
    LimitBook,
    limit_figures,
    limit_states,
    max_underlying_weight,
)
from sigmasight.risk.types import FloatArray


@dataclass(frozen=True)
class Previous:
    """What a date needs from the portfolio's previous computed session.

    NAV and cumulative TWR for the ``history`` block (C17); the session's historical VaR
    fractions (full window) and its backtest days for the ``backtest`` block (C30); the
    limits in breach on it for the ``limits`` block (C31).
    """

    as_of: dt.date
    nav: float | None
    twr_cumulative: float | None
    var_95: float | None = None
    var_99: float | None = None
    #: (pnl_t, VaR95_{t-1}, VaR99_{t-1}) in currency, oldest first, up to and including as_of.
    backtest_days: tuple[tuple[float, float, float], ...] = ()
    #: The session's portfolio factor betas (raw, 150-day), for the next day's attribution.
    factor_betas: dict[str, float | None] | None = None
    #: The limits in breach (``new`` or ``continuing``) on that session (C31).
    breaches: frozenset[str] = frozenset()


def change_block(
    previous: Previous | None,
    previous_session: dt.date | None,
    var_today: float | None,
    var_book_on_previous: float | None,
) -> tuple[dict[str, Any] | None, str | None]:
    """The ``change`` block of C29: the day's hist VaR 95 change, book effect + market effect.

    ``var_book_on_previous`` is today's book on the previous session's window.
    """
    if previous is None or previous_session is None or previous.as_of != previous_session:
        return None, "change: needs the previous session computed"
    before = previous.var_95
    if before is None or var_today is None or var_book_on_previous is None:
        return None, "change: VaR unknown on the previous session, today, or for today's book then"
    book = var_book_on_previous - before
    return {
        "previous_as_of": previous.as_of.isoformat(),
        "hist_var_95": {
            "previous": before,
            "book_effect": book,
            "market_effect": var_today - before - book,
        },
    }, None


def attribution_block(
    previous: Previous | None,
    pnl: float | None,
    positions: Sequence[tuple[str, float]] | None,
    factor_returns: Mapping[str, float],
) -> tuple[dict[str, Any] | None, str | None]:
    """The ``attribution`` block of C28 for one portfolio, or None and why.

    ``positions`` are the P&L of each position of the previous session's book over today
    (None when the previous computed session is not the previous trading session).
    """
    if previous is None or positions is None or previous.nav is None:
        return None, "attribution: needs the previous session computed (book and NAV of t-1)"
    values = [v for _, v in positions]
    holding = float(sum(values)) if all(math.isfinite(v) for v in values) else None
    betas = previous.factor_betas or {}
    by_factor: dict[str, float | None] = {}
    for name, f in factor_returns.items():
        beta = betas.get(name)
        by_factor[name] = None if beta is None or not math.isfinite(f) else previous.nav * beta * f
    known = [v for v in by_factor.values() if v is not None]
    factor = float(sum(known)) if by_factor and len(known) == len(by_factor) else None
    return {
        "holding_pnl": holding,
        "factor_pnl": factor,
        "specific_pnl": None if holding is None or factor is None else holding - factor,
        "trading_pnl": None if holding is None or pnl is None else pnl - holding,
        "by_factor": by_factor,
        "positions": [{"symbol": sym, "pnl": num(v)} for sym, v in positions],
    }, None


def backtest_days(
    previous: Previous | None, pnl: float | None
) -> tuple[tuple[float, float, float], ...]:
    """The backtest days up to today: the previous ones plus today's when it has both parts."""
    if previous is None:
        return ()
    days = previous.backtest_days
    if (
        pnl is not None
        and previous.nav is not None
        and previous.var_95 is not None
        and previous.var_99 is not None
    ):
        day = (pnl, previous.var_95 * previous.nav, previous.var_99 * previous.nav)
        days = (*days, day)[-BACKTEST_WINDOW:]
    return days


@dataclass(frozen=True)
class DatedBooks:
    """A chunk's books in effect on one date, as engine arrays, and what they came from.

    ``states`` and ``external_ids`` follow the engine's portfolio rows; ``position_ids`` its
    position rows (``<NA>`` for a holding that trades opened after the stored book);
    ``missing`` lists the portfolios with no book on or before the date (no result, C15).
    """

    books: Books
    external_ids: list[str]
    position_ids: "pd.arrays.IntegerArray"
    states: list[BookState]
    missing: list[str]


def _asset(h: Holding) -> str:
    return h.underlying if h.underlying is not None else h.symbol


def books_on(
    portfolios: pd.DataFrame,
    states: Sequence[BookState | None],
    as_of: dt.date,
    default_rate: float,
    sectors: Mapping[str, str | None],
) -> DatedBooks:
    """The books in effect on ``as_of`` (``states`` follow ``portfolios``' rows) as engine arrays.

    ``portfolios`` has the columns of ``repositories.risk_inputs.PortfolioRows.portfolios``;
    ``sectors`` gives each asset's sector (an option takes its underlying's).
    """
    keep = [i for i, state in enumerate(states) if state is not None]
    kept: list[BookState] = [s for s in states if s is not None]
    ext = list(portfolios["external_id"])
    cols = [s.columns for s in kept]
    sizes = np.array([c.quantity.size for c in cols], dtype=np.int64)

    def joined(name: str, dtype: Any) -> Any:
        parts = [getattr(c, name) for c in cols]
        return np.concatenate(parts) if parts else np.empty(0, dtype=dtype)

    def names(name: str) -> tuple[str, ...]:
        return tuple(chain.from_iterable(getattr(c, name) for c in cols))

    assets = names("asset")
    # Years to expiry as before: whole days from the valuation date over 365.
    years = (joined("expiry_ordinal", np.float64) - float(as_of.toordinal())) / 365.0
    rate = portfolios["risk_free_rate"].astype("float64").iloc[keep].fillna(default_rate).to_numpy()
    books = Books(
        portfolio_ids=portfolios["id"].to_numpy(dtype=np.int64)[keep],
        cash=np.array([float(s.cash) for s in kept], dtype=np.float64),
        rate=rate,
        pos_portfolio=np.repeat(np.arange(len(kept), dtype=np.int64), sizes),
        pos_symbol=names("symbol"),
        pos_asset=assets,
        quantity=joined("quantity", np.float64),
        is_option=joined("is_option", bool),
        multiplier=joined("multiplier", np.float64),
        strike=joined("strike", np.float64),
        years=years,
        is_call=joined("is_call", bool),
        implied_vol=joined("implied_vol", np.float64),
        dividend_yield=joined("dividend_yield", np.float64),
        sector=tuple(map(sectors.get, assets)),
    )
    position_ids = list(chain.from_iterable(c.position_id for c in cols))
    return DatedBooks(
        books=books,
        external_ids=[ext[i] for i in keep],
        position_ids=pd.array(position_ids, dtype="Int64"),
        states=kept,
        missing=[ext[i] for i, state in enumerate(states) if state is None],
    )


@dataclass(frozen=True)
class BookFacts:
    """What a document's ``book`` block and the snapshot row read from a book in effect."""

    book_date: dt.date
    trades_applied: int
    realized_pnl: float | None
    cost_basis: float | None

    @classmethod
    def of(cls, state: BookState) -> "BookFacts":
        """The facts of ``state`` (its cost basis summed in Decimal, then one float)."""
        cost = state.cost_basis
        return cls(
            book_date=state.book_date,
            trades_applied=state.trades_applied,
            realized_pnl=None if state.realized_pnl is None else float(state.realized_pnl),
            cost_basis=None if cost is None else float(cost),
        )


def book_block(facts: BookFacts, stock_mv: float, option_mv: float) -> dict[str, Any]:
    """The document's ``book`` block (FORMATS section 8): where the valued book came from."""
    cost = facts.cost_basis
    value = stock_mv + option_mv
    return {
        "book_date": facts.book_date.isoformat(),
        "trades_applied": facts.trades_applied,
        "realized_pnl": facts.realized_pnl,
        "cost_basis": cost,
        "unrealized_pnl": None if cost is None or not np.isfinite(value) else float(value - cost),
    }


def history_figures(
    nav: float, flow: float, previous: Previous | None
) -> tuple[dict[str, Any] | None, str | None]:
    """The ``history`` block of C17 (pnl, TWR) and, when it cannot be computed, why."""
    if previous is None:
        return None, "history: no previous computed session (the first date of the series)"
    if previous.nav is None or not np.isfinite(nav):
        return None, f"history: NAV unknown on {previous.as_of} or today, so no P&L or TWR"
    pnl = nav - previous.nav - flow
    twr = pnl / previous.nav if previous.nav > 0 else None
    cumulative = (
        None if twr is None else (1.0 + (previous.twr_cumulative or 0.0)) * (1.0 + twr) - 1.0
    )
    return {
        "pnl": pnl,
        "external_flow": flow,
        "twr_daily": twr,
        "twr_cumulative": cumulative,
        "previous_as_of": previous.as_of.isoformat(),
    }, None


def subset(books: Books, keep: int) -> Books:
    """The book of portfolio row ``keep`` alone (to isolate a failure)."""
    mask = books.pos_portfolio == keep
    return Books(
        portfolio_ids=books.portfolio_ids[[keep]],
        cash=books.cash[[keep]],
        rate=books.rate[[keep]],
        pos_portfolio=np.zeros(int(mask.sum()), dtype=np.int64),
        pos_symbol=tuple(s for s, m in zip(books.pos_symbol, mask, strict=True) if m),
        pos_asset=tuple(s for s, m in zip(books.pos_asset, mask, strict=True) if m),
        quantity=books.quantity[mask],
        is_option=books.is_option[mask],
        multiplier=books.multiplier[mask],
        strike=books.strike[mask],
        years=books.years[mask],
        is_call=books.is_call[mask],
        implied_vol=books.implied_vol[mask],
        dividend_yield=books.dividend_yield[mask],
        sector=tuple(s for s, m in zip(books.sector, mask, strict=True) if m)
        if books.sector
        else (),
    )


def dumps(value: Any) -> str:
    """Compact JSON text (NaN as null, numpy arrays natively)."""
    # orjson writes NaN as null and numpy arrays natively: several times faster than json.
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def matrix_values(matrix: FloatArray) -> list[list[float | None]]:
    """A correlation matrix as stored values read back: nested lists, NaN as None."""
    return [[None if v != v else v for v in row] for row in np.asarray(matrix).tolist()]


@dataclass(frozen=True)
class HeldPnl:
    """Each portfolio's previous-session book valued over today, by position (C28), flat.

    Portfolio row ``p``'s (symbol, P&L) pairs are rows ``start[p]:stop[p]`` (``start[p]``
    is -1 where there are none: a gap in the series); row ``i``'s symbol is
    ``names[codes[i]]`` and its P&L ``values[i]``. Flat columns, not a list per portfolio:
    they cross to the writer process cheaply.
    """

    names: tuple[str, ...]
    codes: "np.ndarray[tuple[int], np.dtype[np.int64]]"
    values: FloatArray
    start: "np.ndarray[tuple[int], np.dtype[np.int64]]"
    stop: "np.ndarray[tuple[int], np.dtype[np.int64]]"

    @classmethod
    def of_rows(
        cls,
        symbols: Sequence[str],
        values: FloatArray,
        start: "np.ndarray[tuple[int], np.dtype[np.int64]]",
        stop: "np.ndarray[tuple[int], np.dtype[np.int64]]",
    ) -> "HeldPnl":
        """From each row's symbol (coded against the distinct ones)."""
        index: dict[str, int] = {}
        codes = [index.setdefault(symbol, len(index)) for symbol in symbols]
        return cls(tuple(index), np.array(codes, dtype=np.int64), values, start, stop)

    @classmethod
    def none(cls, n: int) -> "HeldPnl":
        """No previous-book P&L for any of ``n`` portfolios."""
        return cls.of_rows((), np.empty(0), np.full(n, -1, np.int64), np.full(n, -1, np.int64))

    @cached_property
    def _rows(self) -> tuple[list[str], list[float]]:
        names = self.names
        return [names[c] for c in self.codes.tolist()], cast(list[float], self.values.tolist())

    def of(self, p: int) -> list[tuple[str, float]] | None:
        """Portfolio row ``p``'s pairs in book order (None where there are none)."""
        lo = int(self.start[p])
        if lo < 0:
            return None
        hi = int(self.stop[p])
        symbols, values = self._rows
        return list(zip(symbols[lo:hi], values[lo:hi], strict=True))


@dataclass(frozen=True)
class ValuedPart:
    """Engine results for some of a chunk's portfolios (all of them unless one failed)."""

    books: Books
    result: BookResults
    #: The chunk's portfolio rows these results follow.
    members: list[int]
    #: C29: hist VaR 95 of today's weights over the previous session's window (NaN without it).
    var_on_previous: FloatArray
    #: C31: the largest weight of one underlying (NaN when no limit is in effect).
    max_weight: FloatArray

    @classmethod
    def of(
        cls,
        books: Books,
        result: BookResults,
        members: list[int],
        limits: LimitBook,
        previous_window: tuple[dt.date, tuple[str, ...], FloatArray] | None,
        *,
        detail: bool,
    ) -> "ValuedPart":
        """The part's own figures; without ``detail``, only what a headline document reads.

        A date without position detail builds no position row, so its position-level
        arrays are dropped (they are most of the bytes the writer process would receive).
        """
        n_p = len(members)
        nav = result.valuation["nav"]
        weight = result.positions["weight"]
        part = cls(
            books=books,
            result=result,
            members=members,
            var_on_previous=hist_var_on_window(
                previous_window[2], previous_window[1], books, weight
            )
            if previous_window is not None
            else np.full(n_p, np.nan),
            # An option nets with its underlying.
            max_weight=max_underlying_weight(
                weight, books.pos_portfolio, books.pos_asset, n_p, np.isfinite(nav) & (nav > 0)
            )
            if limits.defaults or limits.own
            else np.full(n_p, np.nan),
        )
        return part if detail else part.headline_only()

    def headline_only(self) -> "ValuedPart":
        """The same part without its position-level books and results."""
        return dataclasses.replace(
            self, books=portfolio_rows_only(self.books), result=_headline_results(self.result)
        )


def portfolio_rows_only(books: Books) -> Books:
    """``books`` with its portfolio rows and no position rows."""
    return dataclasses.replace(
        books,
        pos_portfolio=np.empty(0, dtype=np.int64),
        pos_symbol=(),
        pos_asset=(),
        quantity=np.empty(0),
        is_option=np.empty(0, dtype=bool),
        multiplier=np.empty(0),
        strike=np.empty(0),
        years=np.empty(0),
        is_call=np.empty(0, dtype=bool),
        implied_vol=np.empty(0),
        dividend_yield=np.empty(0),
        sector=(),
    )


def _headline_results(result: BookResults) -> BookResults:
    k = result.factor_betas.shape[1] if result.factor_betas.ndim == 2 else 0
    return dataclasses.replace(
        result,
        positions={},
        position_greeks={},
        position_factor_betas=np.empty((0, k)),
        position_beta_150=np.empty(0),
        position_stress=np.empty((0, len(result.stress_names))),
        correlation=[],
        position_decomposition={},
    )


@dataclass(frozen=True)
class ValuedChunk:
    """A chunk's books valued on one date: everything its result rows are built from.

    It holds no book objects and needs no database, so it pickles: a history run builds
    the rows and writes them in another process while it values the next date.
    ``flows`` (external flows since the previous computed session), ``held_pnl`` (the
    previous book's position P&L over the day, C28) and ``facts`` follow ``external_ids``
    (the engine's portfolio rows); ``factor_returns`` are the factor ETFs' returns of the
    day; ``limits`` are the limits in effect (C31); ``errors`` the portfolio rows that could
    not be computed. ``detail`` keeps position rows and correlations (RISK-CONVENTIONS
    "History runs"); ``price_basis`` is the document's (C20).
    """

    as_of: dt.date
    data_as_of: dt.date
    factors: tuple[str, ...]
    books: Books
    external_ids: list[str]
    position_ids: "pd.arrays.IntegerArray"
    facts: list[BookFacts]
    missing: list[str]
    flows: list[float]
    held_pnl: HeldPnl
    factor_returns: dict[str, float]
    #: The previous session whose window ``var_on_previous`` used (None without it).
    previous_session: dt.date | None
    parts: list[ValuedPart]
    errors: dict[int, str]
    limits: LimitBook
    detail: bool = True
    price_basis: str = "split_only"


def result_frames(
    valued: ValuedChunk,
    part: ValuedPart,
    previous: Sequence[Previous | None],
    run_id: uuid.UUID,
) -> tuple[dict[str, pd.DataFrame], dict[str, str], list[dict[str, Any]], dict[int, Previous]]:
    """Every result row of one computed part, built column-wise, per result table.

    ``previous`` follows ``valued``'s portfolio rows. Position rows and correlations are
    built only with ``valued.detail``. Also returns each portfolio's status, its summary
    row for the run's artifact, and what the next date needs from this one (by portfolio id).
    """
    books, external_ids, position_ids = valued.books, valued.external_ids, valued.position_ids
    as_of, factors, limits, detail = valued.as_of, valued.factors, valued.limits, valued.detail
    flows, held_pnl, factor_returns = valued.flows, valued.held_pnl, valued.factor_returns
    part_books, result, members = part.books, part.result, part.members
    members_arr = np.asarray(members, dtype=np.int64)
    pids = books.portfolio_ids[members_arr]
    nav = result.valuation["nav"]
    n_p = len(members)

    statuses: dict[str, str] = {}
    summary: list[dict[str, Any]] = []
    heads: list[str] = []
    warnings: list[str] = []
    status_col: list[str] = []
    carry: dict[int, Previous] = {}
    book_on_previous, max_weight = part.var_on_previous, part.max_weight
    actual: dict[str, list[float | None]] = {
        k: [] for k in ("external_flow", "pnl", "twr_daily", "twr_cumulative")
    }
    # One list per array for the whole part: a document reads a cell of each.
    at = doc.Lists()
    nav_list: list[float] = at(nav)
    stock_mv, option_mv = (
        at(result.valuation["stock_market_value"]),
        at(result.valuation["option_market_value"]),
    )
    on_previous, max_weights = at(book_on_previous), at(max_weight)
    pid_list: list[int] = at(books.portfolio_ids)
    for local, p in enumerate(members):
        ext = external_ids[p]
        head = doc.headline(
            result,
            local,
            external_id=ext,
            as_of=as_of,
            run_id="",
            data_as_of=valued.data_as_of,
            factors=factors,
            lists=at,
        )
        head["price_basis"] = valued.price_basis
        head["book"] = book_block(valued.facts[p], stock_mv[local], option_mv[local])
        nav_p = nav_list[local]
        history, why = history_figures(nav_p, flows[p], previous[p])
        head["history"] = history
        if why is not None:
            head["warnings"].append(why)
        actual["external_flow"].append(flows[p])
        for key in ("pnl", "twr_daily", "twr_cumulative"):
            actual[key].append(None if history is None else history[key])
        head["attribution"], why = attribution_block(
            previous[p], None if history is None else history["pnl"], held_pnl.of(p), factor_returns
        )
        if why is not None:
            head["warnings"].append(why)
        head["change"], why = change_block(
            previous[p],
            valued.previous_session,
            head["risk"]["full"]["hist_var_95"]["fraction"],
            num(on_previous[local]),
        )
        if why is not None:
            head["warnings"].append(why)
        days = backtest_days(previous[p], None if history is None else history["pnl"])
        head["backtest"], why = backtest_block(days)
        if why is not None:
            head["warnings"].append(why)
        pid = pid_list[p]
        before = previous[p]
        in_effect = limits.for_portfolio(pid)
        head["limits"] = limit_states(
            in_effect,
            limit_figures(head, num(max_weights[local])) if in_effect else {},
            before.breaches if before is not None else frozenset(),
        )
        full_risk = head["risk"]["full"]
        carry[pid] = Previous(
            as_of=as_of,
            nav=nav_p if math.isfinite(nav_p) else None,
            twr_cumulative=None if history is None else history["twr_cumulative"],
            var_95=full_risk["hist_var_95"]["fraction"],
            var_99=full_risk["hist_var_99"]["fraction"],
            backtest_days=days,
            factor_betas=dict(head["factor_exposures"]["betas"]),
            breaches=frozenset(
                s["limit"] for s in head["limits"] if s["status"] in BREACH_STATUSES
            ),
        )
        # The run summary's four figures, read as RiskDocument.headline() reads them
        # (tests hold the two equal); validating every document here cost ~0.3 ms each.
        var_95 = head["risk"]["full"]["hist_var_95"]["currency"]
        del head["run_id"]  # injected on read from the row, so a rerun leaves the row as it was
        status = (
            "incomplete" if not math.isfinite(nav_p) else ("warnings" if head["warnings"] else "ok")
        )
        statuses[ext] = status
        status_col.append(status)
        heads.append(dumps(head))
        warnings.append(dumps(head["warnings"]))
        summary.append(
            {
                "portfolio": ext,
                "status": status,
                "nav": head["valuation"]["nav"],
                "var95": var_95,
                "beta_spy": head["beta_spy"]["150d"],
                "warnings": len(head["warnings"]),
            }
        )
    full = result.risk["full"]
    snapshots = pd.DataFrame(
        {
            "portfolio_id": pids,
            "as_of_date": as_of,
            "run_id": str(run_id),
            "status": status_col,
            **{
                k: result.valuation[k]
                for k in (
                    "nav",
                    "cash",
                    "long_mv",
                    "short_mv",
                    "gross_exposure",
                    "net_exposure",
                    "daily_pnl",
                    "daily_return",
                )
            },
            "book_date": [valued.facts[p].book_date for p in members],
            **{k: pd.array(v, dtype="Float64") for k, v in actual.items()},
            "hist_var_95": full["hist_var_95"],
            "hist_var_99": full["hist_var_99"],
            "cvar_95": full["cvar_95"],
            "beta_spy": result.beta_spy["150d"],
            "document": heads,
            "warnings": warnings,
        }
    )

    detail_tables: dict[str, pd.DataFrame] = {}
    if detail:
        if n_p == books.portfolio_ids.size:
            global_rows = np.arange(books.quantity.size)
        else:
            global_rows = np.concatenate(
                [np.flatnonzero(books.pos_portfolio == p) for p in members]
            )
        factor_betas = result.position_factor_betas
        factor_names = tuple(factors)
        decomposition = result.position_decomposition
        detail_tables["position_risk"] = pd.DataFrame(
            {
                "portfolio_id": pids[part_books.pos_portfolio],
                "position_id": position_ids[global_rows],
                "as_of_date": as_of,
                "run_id": str(run_id),
                "symbol": list(part_books.pos_symbol),
                "quantity": part_books.quantity,
                "underlying": [
                    asset if is_option else None
                    for asset, is_option in zip(
                        part_books.pos_asset, part_books.is_option.tolist(), strict=True
                    )
                ],
                **{
                    k: result.positions[k]
                    for k in ("price", "market_value", "exposure", "weight", "daily_pnl")
                },
                **{k: result.position_greeks[k] for k in doc.GREEK_KEYS},
                "beta_spy_150d": result.position_beta_150,
                # decomposition.positions is rebuilt from these (documents._joined).
                "mctr_daily": decomposition["mctr_daily"],
                "ctr_daily": decomposition["ctr_daily"],
                "param_var_95_component": decomposition["param_var_95"],
                "cvar_95_component": decomposition["cvar_95"],
                # One shared tuple: the encoder builds its text[] once per chunk.
                "factor_symbols": [factor_names] * len(factor_betas),
                "factor_betas": list(factor_betas),
            }
        )

        detail_tables["correlation_result"] = pd.DataFrame(
            {
                "portfolio_id": pids,
                "as_of_date": as_of,
                "run_id": str(run_id),
                # text[] and float8[] (binary COPY): the matrix keeps its float64 bits and
                # a NaN (too few overlapping returns) becomes a NULL element.
                "symbols": [list(symbols) for symbols, _, _ in result.correlation],
                "matrix": [matrix for _, matrix, _ in result.correlation],
                "min_overlap": 60,
                "clusters": [dumps(found) for _, _, found in result.correlation],
            }
        )

    # Factor and stress rows are detail too: every snapshot's document keeps the figures.
    if detail:
        k = len(factors)
        betas = result.factor_betas.reshape(-1)
        factor_frame = pd.DataFrame(
            {
                "portfolio_id": np.repeat(pids, k),
                "as_of_date": as_of,
                "run_id": str(run_id),
                "factor_symbol": np.tile(np.asarray(factors, dtype=object), n_p),
                "beta": betas,
                "exposure_usd": betas * np.repeat(nav, k),
                "window": 150,
                "n_obs": np.repeat(result.factor_n_obs, k),
                "r2": np.repeat(result.factor_r2, k),
            }
        )

        n_s = len(result.stress_names)
        names = np.tile(np.asarray(result.stress_names, dtype=object), n_p)
        safe_nav = np.where(np.isfinite(nav) & (nav != 0), nav, np.nan)
        frames = [
            pd.DataFrame(
                {
                    "portfolio_id": np.repeat(pids, n_s),
                    "as_of_date": as_of,
                    "run_id": str(run_id),
                    "scenario": names,
                    "method": "linear",
                    "return_impact": (result.stress_linear / safe_nav[:, None]).reshape(-1),
                    "pnl": result.stress_linear.reshape(-1),
                }
            )
        ]
        with_options = np.flatnonzero(result.has_options)
        if with_options.size:
            full_pnl = result.stress_full[with_options]
            frames.append(
                pd.DataFrame(
                    {
                        "portfolio_id": np.repeat(pids[with_options], n_s),
                        "as_of_date": as_of,
                        "run_id": str(run_id),
                        "scenario": np.tile(
                            np.asarray(result.stress_names, dtype=object), with_options.size
                        ),
                        "method": "full_revaluation",
                        "return_impact": (full_pnl / safe_nav[with_options, None]).reshape(-1),
                        "pnl": full_pnl.reshape(-1),
                    }
                )
            )
        detail_tables["factor_exposure"] = factor_frame
        detail_tables["stress_result"] = pd.concat(frames, ignore_index=True)
    tables = {"portfolio_snapshot": snapshots, **detail_tables}
    return tables, statuses, summary, carry
