"""The nightly risk run's steps: prepare once, compute and write per chunk, then flip.

``tasks/risk.py`` wraps these one to one; ``sigmasight export risk`` reads with
:func:`export_documents`. Each chunk computes and writes in one transaction and reports a
status per portfolio; one portfolio that fails is isolated and reported, not fatal.
"""

import bisect
import datetime as dt
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sigmasight.db import session_scope
from sigmasight.documents import RiskDocument
from sigmasight.domain import InputError, ScenarioSpec
from sigmasight.repositories import results as results_repo
from sigmasight.repositories import risk_inputs
from sigmasight.repositories.documents import documents_for
from sigmasight.risk.engine import (
    BookResults,
    Books,
    Market,
    Panel,
    Scenario,
    compute_books,
    prepare_market,
)
from sigmasight.risk_rows import books_from_rows, result_frames, subset
from sigmasight.settings import Settings
from sigmasight.trading_calendar import last_sessions

log = logging.getLogger(__name__)

#: Prepared markets kept per process (the current run, and one more while a run overlaps).
HELD_MARKETS = 2


class RiskDataError(RuntimeError):
    """The database lacks what the run needs (no prices for the date, no factor ETFs)."""


@dataclass(frozen=True)
class PreparedMarket:
    """What every chunk of one run shares: the prepared market, its factors and scenarios."""

    as_of: dt.date
    market: Market
    factors: tuple[str, ...]
    scenarios: tuple[Scenario, ...]
    default_rate: float
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class RiskPlan:
    """What the flow fans out: chunks of portfolio ids, and how the shared market was built."""

    as_of: dt.date
    chunks: tuple[tuple[int, ...], ...]
    n_dates: int
    n_symbols: int
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def n_portfolios(self) -> int:
        """Portfolios in the run."""
        return sum(len(c) for c in self.chunks)

    @property
    def portfolio_ids(self) -> list[int]:
        """Every portfolio id of the run, chunk by chunk."""
        return [pid for chunk in self.chunks for pid in chunk]


@dataclass(frozen=True)
class ChunkReport:
    """Per-portfolio statuses and what the chunk wrote."""

    statuses: dict[str, str]
    errors: dict[str, str]
    written: dict[str, int]
    timings: dict[str, float]
    summary: list[dict[str, Any]]


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


def load_market(settings: Settings, as_of: dt.date) -> PreparedMarket:
    """Load the price panel once and derive returns, betas and correlations for ``as_of``."""
    started = time.perf_counter()
    lookback = settings.risk_lookback_sessions
    days = last_sessions(as_of, lookback + 1)
    if not days or days[-1] != as_of:
        raise RiskDataError(f"{as_of} is not an NYSE session")
    with session_scope() as session:
        factors = tuple(risk_inputs.load_factors(session))
        held = risk_inputs.held_symbols(session)
        specs = risk_inputs.load_scenarios(session)
        symbols = sorted({*held, *factors, settings.benchmark})
        data = risk_inputs.load_panel(session, symbols, start=days[0], end=as_of)
        rates = risk_inputs.load_rates(
            session, "DGS10", start=days[0] - dt.timedelta(days=14), end=as_of
        )
    loaded = time.perf_counter()
    if not factors:
        raise RiskDataError("no factor ETFs are defined: seed or import a bundle first")
    if not data.dates or data.dates[-1] != as_of:
        latest = data.dates[-1] if data.dates else "none"
        raise RiskDataError(
            f"no prices stored for {as_of} (latest: {latest}); run market-data for {as_of} first"
        )
    missing = [
        f
        for f in (*factors, settings.benchmark)
        if np.isnan(data.adj_close[-1, data.symbols.index(f)])
    ]
    if missing:
        raise RiskDataError(f"no {as_of} price for factor/benchmark ETF(s) {', '.join(missing)}")
    rate_dates = [d for d, _ in rates]
    rate_pp = np.array(
        [
            rates[i - 1][1] if (i := bisect.bisect_right(rate_dates, d)) else np.nan
            for d in data.dates
        ],
        dtype=np.float64,
    )
    panel = Panel(
        dates=data.dates,
        symbols=data.symbols,
        prices=data.adj_close,
        rate_pp=rate_pp,
        factors=factors,
        benchmark=settings.benchmark,
    )
    market = prepare_market(panel, corr_symbols=tuple(held))
    return PreparedMarket(
        as_of=as_of,
        market=market,
        factors=factors,
        scenarios=_scenario_vectors(specs, factors),
        default_rate=settings.risk_free_rate,
        timings={
            "load_s": round(loaded - started, 3),
            "prepare_s": round(time.perf_counter() - loaded, 3),
        },
    )


_held: "OrderedDict[uuid.UUID, PreparedMarket]" = OrderedDict()
_held_lock = threading.Lock()


def market_for_run(settings: Settings, as_of: dt.date, run_id: uuid.UUID) -> PreparedMarket:
    """The prepared market of run ``run_id``, loaded once per process and then shared.

    Chunk tasks take only ``as_of``, the run id and their portfolio ids: in the flow's process
    the plan step has already loaded the market, and a Dask worker process loads it on its
    first chunk of the run (from the database, not through the scheduler).
    """
    with _held_lock:
        found = _held.get(run_id)
        if found is None:
            found = load_market(settings, as_of)
            _held[run_id] = found
            while len(_held) > HELD_MARKETS:
                _held.popitem(last=False)
        elif found.as_of != as_of:
            raise ValueError(f"run {run_id} holds the market of {found.as_of}, not {as_of}")
        return found


def release_market(run_id: uuid.UUID) -> None:
    """Drop run ``run_id``'s prepared market from this process."""
    with _held_lock:
        _held.pop(run_id, None)


def plan_risk(settings: Settings, as_of: dt.date, run_id: uuid.UUID) -> RiskPlan:
    """Prepare the run's market in this process and split the portfolios into chunks."""
    prepared = market_for_run(settings, as_of, run_id)
    with session_scope() as session:
        ids = risk_inputs.list_portfolio_ids(session)
        # Staged chunks of an earlier rerun of this date that never finished (the date's
        # guard is ours, so no live run owns them).
        results_repo.drop_stale_parts(session, as_of, run_id)
    size = settings.risk_chunk_size
    panel = prepared.market.panel
    return RiskPlan(
        as_of=as_of,
        chunks=tuple(tuple(ids[i : i + size]) for i in range(0, len(ids), size)),
        n_dates=len(panel.dates),
        n_symbols=len(panel.symbols),
        timings=dict(prepared.timings),
    )


def _compute_isolating(
    prepared: PreparedMarket, books: Books
) -> tuple[list[tuple[Books, BookResults, list[int]]], dict[int, str]]:
    """Compute the whole chunk; if that fails, each portfolio alone so one bad book is isolated."""
    try:
        return [
            (
                books,
                compute_books(prepared.market, books, prepared.scenarios),
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
            parts.append((single, compute_books(prepared.market, single, prepared.scenarios), [p]))
        except Exception as exc:
            errors[p] = f"{type(exc).__name__}: {exc}"
    return parts, errors


def run_chunk(
    settings: Settings, as_of: dt.date, portfolio_ids: Sequence[int], run_id: uuid.UUID
) -> ChunkReport:
    """Compute and write one chunk in one transaction; report a status per portfolio."""
    prepared = market_for_run(settings, as_of, run_id)
    t0 = time.perf_counter()
    with session_scope() as session:
        rows = risk_inputs.load_books(session, portfolio_ids)
    books, external_ids, position_ids = books_from_rows(
        rows.portfolios, rows.positions, as_of, prepared.default_rate
    )
    t1 = time.perf_counter()
    parts, errors = _compute_isolating(prepared, books)
    t2 = time.perf_counter()
    statuses: dict[str, str] = {external_ids[p]: "error" for p in errors}
    summary: list[dict[str, Any]] = []
    collected: dict[str, list[pd.DataFrame]] = {}
    ids = np.asarray(position_ids, dtype=np.int64)
    for part in parts:
        tables, part_statuses, part_summary = result_frames(
            as_of=as_of,
            data_as_of=prepared.market.panel.dates[-1],
            factors=prepared.factors,
            books=books,
            external_ids=external_ids,
            position_ids=ids,
            part=part,
            run_id=run_id,
        )
        statuses.update(part_statuses)
        summary.extend(part_summary)
        for name, frame in tables.items():
            collected.setdefault(name, []).append(frame)
    frames = {name: pd.concat(parts_, ignore_index=True) for name, parts_ in collected.items()}
    t3 = time.perf_counter()
    written: dict[str, int] = {}
    if frames:
        with session_scope() as session:
            if results_repo.has_results(session, as_of, portfolio_ids):
                # A rerun of a date with results: held back until the whole run succeeds.
                written = results_repo.stage_chunk(session, run_id, as_of, frames)
            else:
                written = results_repo.save_chunk(session, frames)
    t4 = time.perf_counter()
    return ChunkReport(
        statuses=statuses,
        errors={external_ids[p]: message for p, message in errors.items()},
        written=written,
        timings={
            "load_books_s": round(t1 - t0, 3),
            "compute_s": round(t2 - t1, 3),
            "build_rows_s": round(t3 - t2, 3),
            "write_s": round(t4 - t3, 3),
        },
        summary=summary,
    )


def finish_risk(as_of: dt.date, portfolio_ids: Sequence[int], run_id: uuid.UUID) -> int:
    """Load a rerun's staged chunks and flip ``is_current`` in one transaction (after success).

    The run's prepared market is released from this process.
    """
    release_market(run_id)
    with session_scope() as session:
        results_repo.apply_staged(session, run_id)
        return results_repo.flip_current(session, as_of, portfolio_ids)


def export_documents(as_of: dt.date | None, external_id: str | None = None) -> list[RiskDocument]:
    """Stored ``sigmasight.risk/1`` documents for ``as_of`` (or the current ones)."""
    with session_scope() as session:
        documents = documents_for(session, as_of, None if external_id is None else [external_id])
    if external_id is not None and not documents:
        when = as_of.isoformat() if as_of else "the current snapshot"
        raise InputError(f"--portfolio {external_id}: no risk results for {when}")
    return documents
