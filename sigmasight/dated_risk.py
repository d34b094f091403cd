"""The risk of any date from point-in-time inputs (RISK-CONVENTIONS C14-C18, "History runs").

One path computes a date, whether a nightly run, a history run over a range or an export
that rebuilds an older date's position detail asks for it:

1. :func:`load_inputs` loads the price panel, rates, factors and scenarios once for a range
   of dates (one date for a nightly run);
2. :func:`market_on` cuts from it exactly the panel a single-date run of that date would
   load (the assets of the books in effect then, the lookback sessions ending on it) and
   prepares the market;
3. :func:`compute_chunk` values the chunk's books in effect on the date and builds the
   result rows.

Because a history run and a single-date run build the same inputs for a date and call the
same code, they store the same figures to the last bit.
"""

import bisect
import dataclasses
import datetime as dt
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from models import PortfolioSnapshot
from sigmasight.books import ActionLedger, Timeline
from sigmasight.domain import ScenarioSpec
from sigmasight.repositories import limits as limits_repo
from sigmasight.repositories import risk_inputs
from sigmasight.repositories.documents import (
    Detail,
    DetailSource,
    decomposition_row,
    position_entry,
)
from sigmasight.repositories.results import StoredDay
from sigmasight.repositories.risk_inputs import PanelData, PortfolioRows
from sigmasight.risk import document as doc
from sigmasight.risk.adjustment import AdjustedWindow, PanelActions, adjusted_window
from sigmasight.risk.backtest import WINDOW as BACKTEST_WINDOW
from sigmasight.risk.engine import (
    BookResults,
    Books,
    Market,
    Panel,
    Scenario,
    compute_books,
    holding_pnl,
    window_returns,
)
from sigmasight.risk.engine import prepare_market as _prepare
from sigmasight.risk.limits import LimitBook, breaches_of
from sigmasight.risk.types import FloatArray
from sigmasight.risk_rows import (
    BookFacts,
    DatedBooks,
    HeldPnl,
    Previous,
    ValuedChunk,
    ValuedPart,
    books_on,
    matrix_values,
    portfolio_rows_only,
    result_frames,
    subset,
)
from sigmasight.settings import Settings
from sigmasight.trading_calendar import last_sessions, previous_trading_day

log = logging.getLogger(__name__)


class RiskDataError(RuntimeError):
    """The database lacks what the run needs (no prices for the date, no factor ETFs)."""


@dataclass(frozen=True)
class MarketInputs:
    """What every date of a run shares, loaded once: prices, rates, factors, scenarios, limits.

    The panel starts one session before the first date's window (``start``), so the first
    date also has the previous session's window (C29). Limits are not dated: the ones in
    effect when the run loads them apply to every date it computes (C31).
    """

    start: dt.date
    first: dt.date
    last: dt.date
    factors: tuple[str, ...]
    scenarios: tuple[Scenario, ...]
    benchmark: str
    lookback: int
    default_rate: float
    panel: PanelData
    rates: tuple[tuple[dt.date, float], ...]
    #: The panel symbols' corporate actions dated up to ``last`` (C19-C21), applied per date.
    actions: PanelActions | None = None
    limits: LimitBook = field(default_factory=LimitBook)


@dataclass(frozen=True)
class PreparedMarket:
    """The prepared market of one date, with its factors and scenarios."""

    as_of: dt.date
    market: Market
    factors: tuple[str, ...]
    scenarios: tuple[Scenario, ...]
    default_rate: float
    #: Whether this date keeps position detail (and so prepared the correlations).
    detail: bool = True
    #: The previous session, the symbols and its window's returns (C29), when loaded.
    previous_window: tuple[dt.date, tuple[str, ...], FloatArray] | None = None
    #: The document's ``price_basis`` (C20): ``total_return`` when dividends are known.
    price_basis: str = "split_only"
    #: Every corporate action dated up to ``as_of``, read once for a run's chunks (C19-C20).
    book_actions: ActionLedger | None = None
    #: The limits in effect (C31), loaded with the run's inputs.
    limits: LimitBook = field(default_factory=LimitBook)
    timings: dict[str, float] = field(default_factory=dict)


def _scenario_vectors(
    specs: Sequence[ScenarioSpec], factors: Sequence[str]
) -> tuple[Scenario, ...]:
    # A factor the scenario does not shock is NaN, so its P&L is null rather than made up.
    return tuple(
        Scenario(
            name=s.name,
            shocks=np.array([s.shocks.get(f, np.nan) for f in factors], dtype=np.float64),
            rate_pp=s.rate_shock_pp,
        )
        for s in specs
    )


def load_inputs(
    session: Session,
    settings: Settings,
    first: dt.date,
    last: dt.date,
    held: Sequence[str],
) -> MarketInputs:
    """Prices of ``held`` and the factor ETFs for every date ``first``..``last`` needs.

    Also the limits in effect now (C31), once for the whole range.
    """
    lookback = settings.risk_lookback_sessions
    days = last_sessions(first, lookback + 2)
    if not days or days[-1] != first:
        raise RiskDataError(f"{first} is not an NYSE session")
    factors = tuple(risk_inputs.load_factors(session))
    if not factors:
        raise RiskDataError("no factor ETFs are defined: seed or import a bundle first")
    specs = risk_inputs.load_scenarios(session)
    symbols = sorted({*held, *factors, settings.benchmark})
    panel = risk_inputs.load_panel(session, symbols, start=days[0], end=last)
    actions = risk_inputs.load_actions(session, panel.symbols, after=days[0], through=last)
    rates = risk_inputs.load_rates(
        session, "DGS10", start=days[0] - dt.timedelta(days=14), end=last
    )
    return MarketInputs(
        start=days[0],
        first=first,
        last=last,
        factors=factors,
        scenarios=_scenario_vectors(specs, factors),
        benchmark=settings.benchmark,
        lookback=lookback,
        default_rate=settings.risk_free_rate,
        panel=panel,
        rates=tuple(rates),
        actions=actions,
        limits=limits_repo.load_limit_book(session),
    )


def market_on(
    inputs: MarketInputs,
    day: dt.date,
    held: Sequence[str],
    *,
    correlations: bool,
    before_market: PreparedMarket | None = None,
) -> PreparedMarket:
    """The market of ``day``: the panel a single-date run of ``day`` loads, prepared.

    ``held`` are the assets of the books in effect on ``day``; ``correlations`` also
    prepares their pairwise correlations (only needed when position detail is kept).
    ``before_market``, the previous session's market prepared from the same inputs, lends
    its returns as the previous window (C29) when it has the same symbols: they are the
    rows this date would derive again from the same cut by the same operations.
    """
    days = last_sessions(day, inputs.lookback + 1)
    if not days or days[-1] != day:
        raise RiskDataError(f"{day} is not an NYSE session")
    if not inputs.first <= day <= inputs.last:
        raise ValueError(f"{day} is outside the loaded range {inputs.first}..{inputs.last}")
    symbols = tuple(sorted({*held, *inputs.factors, inputs.benchmark}))
    dates, adjusted = _cut(inputs, days[0], day, symbols)
    prices = adjusted.prices
    if not dates or dates[-1] != day:
        latest = dates[-1] if dates else "none"
        raise RiskDataError(
            f"no prices stored for {day} (latest: {latest}); run market-data for {day} first"
        )
    missing = [
        f for f in (*inputs.factors, inputs.benchmark) if np.isnan(prices[-1, symbols.index(f)])
    ]
    if missing:
        raise RiskDataError(f"no {day} price for factor/benchmark ETF(s) {', '.join(missing)}")
    window = [(d, v) for d, v in inputs.rates if days[0] - dt.timedelta(days=14) <= d <= day]
    rate_dates = [d for d, _ in window]
    rate_pp = np.array(
        [window[i - 1][1] if (i := bisect.bisect_right(rate_dates, d)) else np.nan for d in dates],
        dtype=np.float64,
    )
    panel = Panel(
        dates=dates,
        symbols=symbols,
        prices=prices,
        rate_pp=rate_pp,
        factors=inputs.factors,
        benchmark=inputs.benchmark,
        dividend_factor=adjusted.dividend_factor,
    )
    market = _prepare(panel, corr_symbols=tuple(sorted(held)) if correlations else ())
    # C29: the previous session's window, for today's books (the same assets).
    previous_window = None
    if len(dates) > 1:
        before = last_sessions(dates[-2], inputs.lookback + 1)
        reusable = (
            before_market is not None
            and before_market.as_of == dates[-2]
            and before_market.market.panel.symbols == symbols
        )
        if before and before[0] >= inputs.start and reusable and before_market is not None:
            previous_window = (dates[-2], symbols, before_market.market.returns)
        elif before and before[0] >= inputs.start:
            # In the previous session's own basis, as its run computed it (C21).
            prev_dates, prev = _cut(inputs, before[0], dates[-2], symbols)
            if prev_dates and prev_dates[-1] == dates[-2]:
                previous_window = (
                    dates[-2],
                    symbols,
                    window_returns(
                        dataclasses.replace(panel, dates=prev_dates, prices=prev.prices)
                    ),
                )
    return PreparedMarket(
        as_of=day,
        market=market,
        factors=inputs.factors,
        scenarios=inputs.scenarios,
        default_rate=inputs.default_rate,
        detail=correlations,
        previous_window=previous_window,
        price_basis="total_return" if adjusted.total_return else "split_only",
        limits=inputs.limits,
    )


def _cut(
    inputs: MarketInputs, start: dt.date, day: dt.date, symbols: tuple[str, ...]
) -> tuple[tuple[dt.date, ...], AdjustedWindow]:
    """The dates and prices a single-date load of ``symbols`` from ``start`` to ``day`` gives.

    The prices are in ``day``'s basis: the as-traded closes adjusted by the actions dated
    on or before ``day`` (C14, C19-C21); the last row is ``day``'s as-traded close.
    """
    data = inputs.panel
    position = {s: i for i, s in enumerate(data.symbols)}
    absent = [s for s in symbols if s not in position]
    if absent:
        raise ValueError(f"assets not loaded for the range: {', '.join(absent[:5])}")
    cols = np.array([position[s] for s in symbols], dtype=np.int64)
    lo = bisect.bisect_left(data.dates, start)
    hi = bisect.bisect_right(data.dates, day)
    close = data.close[lo:hi][:, cols]
    # A date counts when one of these symbols has a bar on it (as load_panel's query does).
    rows = np.flatnonzero(~np.isnan(close).all(axis=1)) if close.size else np.empty(0, np.int64)
    dates = tuple(data.dates[lo + int(r)] for r in rows)
    stored = data.adj_close[lo:hi][:, cols][rows]
    actions = inputs.actions or PanelActions.empty(len(data.symbols))
    ordinals = np.fromiter((d.toordinal() for d in dates), dtype=np.int64, count=len(dates))
    return dates, adjusted_window(
        ordinals, close[rows], stored, actions.take(cols), day.toordinal()
    )


def adjusted_panel(
    session: Session, symbols: Sequence[str], *, start: dt.date, end: dt.date
) -> PanelData:
    """``load_panel`` with ``adj_close`` in ``end``'s basis: the series risk uses (C19-C21).

    For readers of one date's prices outside a risk run (the reports); the last row of a
    symbol with actions is its as-traded close.
    """
    panel = risk_inputs.load_panel(session, symbols, start=start, end=end)
    if not panel.dates:
        return panel
    actions = risk_inputs.load_actions(session, panel.symbols, after=start, through=end)
    ordinals = np.array([d.toordinal() for d in panel.dates], dtype=np.int64)
    window = adjusted_window(ordinals, panel.close, panel.adj_close, actions, end.toordinal())
    prices: np.ndarray[tuple[int, int], np.dtype[np.float64]] = np.asarray(
        window.prices, dtype=np.float64
    )
    return dataclasses.replace(panel, adj_close=prices)


def detail_kept(day: dt.date, latest: dt.date, retention_sessions: int) -> bool:
    """Whether ``day`` is among the last ``retention_sessions`` sessions up to ``latest``."""
    if retention_sessions <= 0:
        return False
    window = last_sessions(latest, retention_sessions)
    return bool(window) and day >= window[0]


@dataclass(frozen=True)
class DateChunk:
    """One chunk computed on one date: rows per table and a status per portfolio."""

    frames: dict[str, pd.DataFrame]
    statuses: dict[str, str]
    errors: dict[str, str]
    summary: list[dict[str, Any]]
    missing: list[str]
    #: Each computed portfolio's figures for the next date's ``history`` block.
    carry: dict[int, Previous]
    #: Seconds spent turning the engine's results into documents and table rows.
    build_rows_s: float = 0.0


def _compute_isolating(
    prepared: PreparedMarket, books: Books, correlations: bool
) -> tuple[list[tuple[Books, BookResults, list[int]]], dict[int, str]]:
    """Compute the whole chunk; if that fails, each portfolio alone so one bad book is isolated."""
    try:
        return [
            (
                books,
                compute_books(
                    prepared.market, books, prepared.scenarios, correlations=correlations
                ),
                list(range(books.portfolio_ids.size)),
            )
        ], {}
    except Exception as exc:  # a defect in one book must not sink the others
        log.warning("chunk failed as a whole (%s); computing portfolios one by one", exc)
    parts: list[tuple[Books, BookResults, list[int]]] = []
    errors: dict[int, str] = {}
    for p in range(books.portfolio_ids.size):
        single = subset(books, p)
        try:
            parts.append(
                (
                    single,
                    compute_books(
                        prepared.market, single, prepared.scenarios, correlations=correlations
                    ),
                    [p],
                )
            )
        except Exception as exc:
            errors[p] = f"{type(exc).__name__}: {exc}"
    return parts, errors


def value_chunk(
    prepared: PreparedMarket,
    rows: PortfolioRows,
    previous_dates: Mapping[int, dt.date],
    *,
    detail: bool,
) -> ValuedChunk:
    """Value the chunk's books in effect on the market's date (the engine's part of a date).

    ``previous_dates`` holds each portfolio's previous computed session (its flows and its
    attribution run from there); ``detail`` prepares position rows and correlations.
    """
    day = prepared.as_of
    ids = [int(i) for i in rows.portfolios["id"]]
    states = [rows.timelines[pid].state_on(day) for pid in ids]
    dated: DatedBooks = books_on(rows.portfolios, states, day, prepared.default_rate, rows.sectors)
    kept_ids = [int(i) for i in dated.books.portfolio_ids]
    prior = [previous_dates.get(pid) for pid in kept_ids]
    # Since the previous computed session, or the previous session (one calendar look-up).
    session_before = previous_trading_day(day)
    flows = [
        float(rows.timelines[pid].flow_between(before or session_before, day))
        for pid, before in zip(kept_ids, prior, strict=True)
    ]
    held_pnl = _previous_book_pnl(prepared, rows, dated, prior)
    market = prepared.market
    factor_returns = {
        f: float(market.returns[-1, market.index[f]]) if market.returns.size else float("nan")
        for f in prepared.factors
    }
    computed, errors = _compute_isolating(prepared, dated.books, detail)
    window = prepared.previous_window
    parts = [
        ValuedPart.of(books, result, members, prepared.limits, window, detail=detail)
        for books, result, members in computed
    ]
    return ValuedChunk(
        as_of=day,
        data_as_of=market.panel.dates[-1],
        factors=tuple(prepared.factors),
        # Without detail only the headline documents are built: no position rows.
        books=dated.books if detail else portfolio_rows_only(dated.books),
        external_ids=dated.external_ids,
        position_ids=dated.position_ids if detail else dated.position_ids[:0],
        facts=[BookFacts.of(state) for state in dated.states],
        missing=dated.missing,
        flows=flows,
        held_pnl=held_pnl,
        factor_returns=factor_returns,
        previous_session=window[0] if window is not None else None,
        parts=parts,
        errors=errors,
        limits=prepared.limits,
        detail=detail,
        price_basis=prepared.price_basis,
    )


def build_chunk(
    valued: ValuedChunk, previous: Mapping[int, Previous], *, run_id: uuid.UUID
) -> DateChunk:
    """The result rows of a valued chunk (no database: a history run calls it in its writer).

    ``previous`` holds each portfolio's previous computed session (for the ``history``,
    ``attribution``, ``backtest`` and ``limits`` blocks).
    """
    built = time.perf_counter()
    prior = [previous.get(int(pid)) for pid in valued.books.portfolio_ids]
    statuses: dict[str, str] = {valued.external_ids[p]: "error" for p in valued.errors}
    summary: list[dict[str, Any]] = []
    collected: dict[str, list[pd.DataFrame]] = {}
    carry: dict[int, Previous] = {}
    for part in valued.parts:
        tables, part_statuses, part_summary, part_carry = result_frames(valued, part, prior, run_id)
        statuses.update(part_statuses)
        summary.extend(part_summary)
        for name, frame in tables.items():
            collected.setdefault(name, []).append(frame)
        carry.update(part_carry)
    frames = {name: pd.concat(p, ignore_index=True) for name, p in collected.items()}
    return DateChunk(
        frames=frames,
        statuses=statuses,
        errors={valued.external_ids[p]: message for p, message in valued.errors.items()},
        summary=summary,
        missing=valued.missing,
        carry=carry,
        build_rows_s=time.perf_counter() - built,
    )


def compute_chunk(
    prepared: PreparedMarket,
    rows: PortfolioRows,
    previous: Mapping[int, Previous],
    *,
    run_id: uuid.UUID,
    detail: bool,
) -> DateChunk:
    """Value the chunk's books in effect on the market's date and build its result rows.

    ``previous`` holds each portfolio's previous computed session (for the ``history``
    block); ``detail`` keeps position rows and correlation matrices.
    """
    valued = value_chunk(
        prepared, rows, {pid: p.as_of for pid, p in previous.items()}, detail=detail
    )
    return build_chunk(valued, previous, run_id=run_id)


def _previous_book_pnl(
    prepared: PreparedMarket,
    rows: PortfolioRows,
    dated: DatedBooks,
    prior: Sequence[dt.date | None],
) -> HeldPnl:
    """Each portfolio's previous-session book valued over today (C28), by position.

    None where the previous computed session is not the market's previous session (a gap
    in the series): one day's holding P&L would not explain a longer P&L.
    """
    n = len(prior)
    dates = prepared.market.panel.dates
    last = dates[-2] if len(dates) > 1 else None
    wanted = [
        i
        for i, before in enumerate(prior)
        if before is not None and last is not None and before == last
    ]
    if not wanted or last is None:
        return HeldPnl.none(n)
    ids = [int(dated.books.portfolio_ids[i]) for i in wanted]
    # The previous book as held through today: after today's splits, before its trades.
    held = [rows.timelines[pid].held_over(last, prepared.as_of) for pid in ids]
    # A book with no trade, new book or split since the previous session holds the very
    # lines of today's book (the timeline shares them): today's rows, valued the same way
    # (element by element), give its P&L without building the book again.
    same = [
        state is not None and state.shares_lines(dated.states[i])
        for i, state in zip(wanted, held, strict=True)
    ]
    # (books, P&L per position row, first row of each portfolio row) of each valuation.
    sources: list[tuple[Books, FloatArray, list[int]]] = []
    picks: dict[int, tuple[int, int]] = {}  # portfolio row -> (source, its row there)
    if any(same):
        sources.append(
            (dated.books, holding_pnl(prepared.market, dated.books), _row_bounds(dated.books))
        )
        picks.update({i: (0, i) for i, reuse in zip(wanted, same, strict=True) if reuse})
    again = [
        (i, pid, state)
        for i, pid, state, reuse in zip(wanted, ids, held, same, strict=True)
        if not reuse
    ]
    if again:
        frame = rows.portfolios.set_index("id").loc[[pid for _, pid, _ in again]].reset_index()
        before = books_on(
            frame,
            [state for _, _, state in again],
            prepared.as_of,
            prepared.default_rate,
            rows.sectors,
        )
        row_of = {int(pid): r for r, pid in enumerate(before.books.portfolio_ids)}
        source = len(sources)
        sources.append(
            (before.books, holding_pnl(prepared.market, before.books), _row_bounds(before.books))
        )
        picks.update({i: (source, row_of[pid]) for i, pid, _ in again if pid in row_of})
    symbols: list[str] = []
    values: list[FloatArray] = []
    start = np.full(n, -1, dtype=np.int64)
    stop = np.full(n, -1, dtype=np.int64)
    size = 0
    for i in sorted(picks):
        source, row = picks[i]
        books, pnl, bounds = sources[source]
        lo, hi = bounds[row], bounds[row + 1]
        symbols.extend(books.pos_symbol[lo:hi])
        values.append(pnl[lo:hi])
        start[i], stop[i] = size, size + hi - lo
        size += hi - lo
    return HeldPnl.of_rows(symbols, np.concatenate(values) if values else np.empty(0), start, stop)


def _row_bounds(books: Books) -> list[int]:
    """First position row of each portfolio row (and the end): rows are grouped by portfolio."""
    owners = np.asarray(books.pos_portfolio, dtype=np.int64)
    if owners.size and np.any(np.diff(owners) < 0):
        raise ValueError("position rows are not grouped by portfolio")
    return cast(
        list[int], np.searchsorted(owners, np.arange(books.portfolio_ids.size + 1)).tolist()
    )


def previous_of(stored: Mapping[int, Sequence[StoredDay]]) -> dict[int, Previous]:
    """``results.previous_snapshots`` rows (oldest first) as :class:`Previous` entries."""
    found = {}
    for pid, rows in stored.items():
        if not rows:
            continue
        days = [
            (r.pnl, r.prev_var_95 * r.prev_nav, r.prev_var_99 * r.prev_nav)
            for r in rows
            if r.pnl is not None
            and r.prev_nav is not None
            and r.prev_var_95 is not None
            and r.prev_var_99 is not None
        ]
        last = rows[-1]
        found[pid] = Previous(
            as_of=last.as_of,
            nav=last.nav,
            twr_cumulative=last.twr_cumulative,
            var_95=last.var_95,
            var_99=last.var_99,
            backtest_days=tuple(days[-BACKTEST_WINDOW:]),
            factor_betas=last.factor_betas,
            breaches=breaches_of(last.limits),
        )
    return found


def assets_on(timelines: Mapping[int, Timeline], day: dt.date) -> list[str]:
    """The assets of every portfolio's book in effect on ``day`` (as ``held_symbols``)."""
    found: set[str] = set()
    for line in timelines.values():
        found |= line.assets_on(day)
    return sorted(found)


def detail_rebuilder(settings: Settings) -> DetailSource:
    """A ``documents_for(..., rebuild=)`` source: position detail computed again per date.

    The inputs are point in time, so the rebuilt positions and correlations are those the
    night computed (the headline figures stay as stored).
    """

    def rebuild(session: Session, snaps: Sequence[PortfolioSnapshot]) -> dict[DetailKey, Detail]:
        found: dict[DetailKey, Detail] = {}
        by_date: dict[dt.date, list[int]] = {}
        for snap in snaps:
            by_date.setdefault(snap.as_of_date, []).append(snap.portfolio_id)
        for day, ids in sorted(by_date.items()):
            found.update(_rebuild_date(session, settings, day, sorted(set(ids))))
        return found

    return rebuild


DetailKey = tuple[int, dt.date]


def _rebuild_date(
    session: Session, settings: Settings, day: dt.date, ids: list[int]
) -> dict[DetailKey, Detail]:
    held = risk_inputs.held_symbols(session, day)
    inputs = load_inputs(session, settings, day, day, held)
    prepared = market_on(inputs, day, held, correlations=True)
    rows = risk_inputs.load_timelines(session, ids, through=day)
    done = compute_chunk(prepared, rows, {}, run_id=uuid.UUID(int=0), detail=True)
    positions = done.frames.get("position_risk")
    correlations = done.frames.get("correlation_result")
    found: dict[DetailKey, Detail] = {}
    if positions is None or correlations is None:
        return found
    clean = positions.astype(object).where(positions.notna(), None)
    by_portfolio: dict[int, list[Any]] = {}
    for row in clean.sort_values("symbol").itertuples(index=False):
        by_portfolio.setdefault(int(cast(int, row.portfolio_id)), []).append(row)
    for pid, symbols, matrix in zip(
        correlations["portfolio_id"], correlations["symbols"], correlations["matrix"], strict=True
    ):
        mine = by_portfolio.get(int(pid), [])
        found[(int(pid), day)] = (
            [position_entry(row) for row in mine],
            doc.correlation_block(list(symbols), matrix_values(matrix)),
            [decomposition_row(row) for row in mine],
        )
    return found
