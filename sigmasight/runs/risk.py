"""The nightly risk run's steps: prepare once, compute and write per chunk, then flip.

``tasks/risk.py`` wraps these one to one; ``sigmasight export risk`` reads with
:func:`export_documents`. Each chunk computes and writes in one transaction and reports a
status per portfolio; one portfolio that fails is isolated and reported, not fatal.
"""

import dataclasses
import datetime as dt
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from sigmasight.books import ActionLedger, Timeline
from sigmasight.dated_risk import (
    MarketInputs,
    PreparedMarket,
    assets_on,
    compute_chunk,
    detail_kept,
    detail_rebuilder,
    load_inputs,
    market_on,
    previous_of,
    value_chunk,
)
from sigmasight.db import session_scope
from sigmasight.documents import RiskDocument
from sigmasight.domain import InputError
from sigmasight.history import HistoryPoint
from sigmasight.repositories import book_events, risk_inputs
from sigmasight.repositories import results as results_repo
from sigmasight.repositories.documents import documents_for
from sigmasight.repositories.risk_inputs import PortfolioRows
from sigmasight.risk_rows import Previous
from sigmasight.runs import ledger
from sigmasight.runs.history_writer import HistoryWriter
from sigmasight.settings import Settings
from sigmasight.trading_calendar import last_sessions, sessions

log = logging.getLogger(__name__)

#: Prepared markets kept per process (the current run, and one more while a run overlaps).
HELD_MARKETS = 2


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
    #: Portfolios with no book on or before the date (no result, RISK-CONVENTIONS C15).
    missing: list[str] = field(default_factory=list)


def _newest(session: Session, day: dt.date) -> dt.date:
    """The newest computed date, counting ``day``: detail retention counts back from it."""
    stored = results_repo.latest_snapshot_date(session)
    return max(day, stored) if stored is not None else day


def load_market(settings: Settings, as_of: dt.date) -> PreparedMarket:
    """Load the price panel of ``as_of`` and prepare its market (returns, betas, correlations)."""
    started = time.perf_counter()
    with session_scope() as session:
        held = risk_inputs.held_symbols(session, as_of)
        inputs = load_inputs(session, settings, as_of, as_of, held)
        detail = detail_kept(as_of, _newest(session, as_of), settings.detail_retention_sessions)
        # Read once per run: every chunk's books share it (C19-C20).
        actions = ActionLedger(risk_inputs.load_book_actions(session, None, through=as_of))
    loaded = time.perf_counter()
    prepared = market_on(inputs, as_of, held, correlations=detail)
    prepared = dataclasses.replace(prepared, book_actions=actions)
    prepared.timings.update(
        load_s=round(loaded - started, 3), prepare_s=round(time.perf_counter() - loaded, 3)
    )
    return prepared


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


def _write(
    session: Session,
    run_id: uuid.UUID,
    as_of: dt.date,
    portfolio_ids: Sequence[int],
    frames: dict[str, pd.DataFrame],
) -> dict[str, int]:
    """Save a chunk's rows, or stage them when the date already has results (a rerun)."""
    if not frames:
        return {}
    if results_repo.has_results(session, as_of, portfolio_ids):
        # A rerun of a date with results: held back until the whole run succeeds.
        return results_repo.stage_chunk(session, run_id, as_of, frames)
    return results_repo.save_chunk(session, frames)


def run_chunk(
    settings: Settings, as_of: dt.date, portfolio_ids: Sequence[int], run_id: uuid.UUID
) -> ChunkReport:
    """Compute and write one chunk in one transaction; report a status per portfolio."""
    prepared = market_for_run(settings, as_of, run_id)
    t0 = time.perf_counter()
    with session_scope() as session:
        rows = risk_inputs.load_timelines(
            session, portfolio_ids, through=as_of, actions=prepared.book_actions
        )
        previous = previous_of(
            results_repo.previous_snapshots(session, portfolio_ids, before=as_of)
        )
    t1 = time.perf_counter()
    done = compute_chunk(prepared, rows, previous, run_id=run_id, detail=prepared.detail)
    t2 = time.perf_counter()
    with session_scope() as session:
        written = _write(session, run_id, as_of, portfolio_ids, done.frames)
    t3 = time.perf_counter()
    return ChunkReport(
        statuses=done.statuses,
        errors=done.errors,
        written=written,
        timings={
            "load_books_s": round(t1 - t0, 3),
            "compute_s": round(t2 - t1 - done.build_rows_s, 3),
            "build_rows_s": round(done.build_rows_s, 3),
            "write_s": round(t3 - t2, 3),
        },
        summary=done.summary,
        missing=done.missing,
    )


def finish_risk(
    settings: Settings, as_of: dt.date, portfolio_ids: Sequence[int], run_id: uuid.UUID
) -> int:
    """Load a rerun's staged chunks and flip ``is_current`` in one transaction (after success).

    Position detail older than the retention window is dropped in the same transaction.
    The run's prepared market is released from this process.
    """
    release_market(run_id)
    with session_scope() as session:
        results_repo.apply_staged(session, run_id)
        flipped = results_repo.flip_current(session, as_of, portfolio_ids)
        _prune(session, settings, as_of)
        return flipped


def _prune(session: Session, settings: Settings, day: dt.date) -> None:
    window = last_sessions(_newest(session, day), settings.detail_retention_sessions)
    if window:
        dropped = results_repo.prune_detail(session, before=window[0])
        if any(dropped.values()):
            log.info("position detail before %s dropped: %s", window[0], dropped)


def export_documents(
    settings: Settings, as_of: dt.date | None, external_id: str | None = None
) -> list[RiskDocument]:
    """Stored ``sigmasight.risk/1`` documents for ``as_of`` (or the current ones).

    A date older than the detail retention gets its positions and correlations rebuilt
    from its point-in-time inputs, so the document is the one the night produced.
    """
    with session_scope() as session:
        documents = documents_for(
            session,
            as_of,
            None if external_id is None else [external_id],
            rebuild=detail_rebuilder(settings),
        )
    if external_id is not None and not documents:
        when = as_of.isoformat() if as_of else "the current snapshot"
        raise InputError(f"--portfolio {external_id}: no risk results for {when}")
    return documents


def export_history(
    external_id: str, start: dt.date | None = None, end: dt.date | None = None
) -> list[HistoryPoint]:
    """One portfolio's stored snapshot series in ``[start, end]``, oldest first (C17, C18)."""
    with session_scope() as session:
        found = book_events.portfolio_ids(session, [external_id])
        if external_id not in found:
            raise InputError(f"--portfolio {external_id}: no such portfolio")
        return results_repo.load_history(session, found[external_id], start=start, end=end)


# --- History runs: every session of a range from one panel load (RISK-CONVENTIONS C14-C18) ---

#: The longest range one history run accepts (FORMATS section 7: more is an input error).
MAX_HISTORY_YEARS = 10
#: Sessions per step of a history run (one Prefect task each): the writer process overlaps
#: the writes with the computation within a step.
HISTORY_BATCH_SESSIONS = 21
#: Valued dates sent to the writer process and not yet written (each a date of 1,000 portfolios,
#: about 20 MB with position detail): bounds the memory the overlap costs.
HISTORY_WRITE_AHEAD = 3
#: Dates written together (when that many are waiting), in one transaction and one COPY per table.
HISTORY_WRITE_GROUP = 3


@dataclass(frozen=True)
class HistoryPlan:
    """The sessions of a history run and its portfolio chunks."""

    first: dt.date
    last: dt.date
    dates: tuple[dt.date, ...]
    chunks: tuple[tuple[int, ...], ...]
    n_symbols: int
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def portfolio_ids(self) -> list[int]:
        """Every portfolio id of the run, chunk by chunk."""
        return [pid for chunk in self.chunks for pid in chunk]

    @property
    def batches(self) -> list[tuple[dt.date, ...]]:
        """The dates in steps of ``HISTORY_BATCH_SESSIONS``, oldest first."""
        size = HISTORY_BATCH_SESSIONS
        return [self.dates[i : i + size] for i in range(0, len(self.dates), size)]


@dataclass(frozen=True)
class DateReport:
    """One date of a history run: statuses, what was written, and where the time went."""

    as_of: dt.date
    statuses: dict[str, str]
    errors: dict[str, str]
    missing: list[str]
    written: dict[str, int]
    detail: bool
    timings: dict[str, float]


@dataclass
class _History:
    """What one history run holds in its process: the range's market and every book."""

    plan: HistoryPlan
    inputs: MarketInputs
    portfolios: pd.DataFrame
    timelines: dict[int, Timeline]
    sectors: dict[str, str | None]
    previous: dict[int, Previous]
    newest: dt.date
    #: The last date's prepared market (lends its returns to the next date's C29 window).
    market: PreparedMarket | None = None


_histories: dict[uuid.UUID, _History] = {}


def history_range_problem(first: dt.date, last: dt.date) -> str | None:
    """Why ``--from first --to last`` is not a range a history run takes (None if it is)."""
    if first > last:
        return f"--from {first} is after --to {last}"
    if (last - first).days > MAX_HISTORY_YEARS * 366:
        return f"--from {first} --to {last} spans more than {MAX_HISTORY_YEARS} years; split it"
    return None


def plan_history(
    settings: Settings, first: dt.date, last: dt.date, run_id: uuid.UUID
) -> HistoryPlan:
    """Load the range's panel and every book once (held in this process); plan the dates."""
    problem = history_range_problem(first, last)
    if problem is not None:
        raise InputError(problem)
    dates = tuple(sessions(first, last))
    if not dates:
        raise InputError(f"--from {first} --to {last} holds no NYSE session")
    started = time.perf_counter()
    with session_scope() as session:
        ids = risk_inputs.list_portfolio_ids(session)
        rows = risk_inputs.load_timelines(session, ids, through=dates[-1])
        held = risk_inputs.symbols_through(session, dates[-1])
        inputs = load_inputs(session, settings, dates[0], dates[-1], held)
        previous = previous_of(results_repo.previous_snapshots(session, ids, before=dates[0]))
        newest = _newest(session, dates[-1])
        for day in dates:
            results_repo.drop_stale_parts(session, day, run_id)
    size = settings.risk_chunk_size
    plan = HistoryPlan(
        first=dates[0],
        last=dates[-1],
        dates=dates,
        chunks=tuple(tuple(ids[i : i + size]) for i in range(0, len(ids), size)),
        n_symbols=len(inputs.panel.symbols),
        timings={"load_s": round(time.perf_counter() - started, 3)},
    )
    _histories[run_id] = _History(
        plan, inputs, rows.portfolios, rows.timelines, rows.sectors, previous, newest
    )
    return plan


def run_history_date(settings: Settings, day: dt.date, run_id: uuid.UUID) -> DateReport:
    """Compute and write every chunk of one date of the run (see :func:`run_history_dates`)."""
    return run_history_dates(settings, [day], run_id)[0]


def run_history_dates(
    settings: Settings, days: Sequence[dt.date], run_id: uuid.UUID
) -> list[DateReport]:
    """Compute and write every chunk of ``days`` (consecutive dates of the run, oldest first).

    The dates are valued in order in this process while a writer process
    (:mod:`sigmasight.runs.history_writer`) builds the dates already valued into documents
    and rows and writes them, several per transaction; it keeps each portfolio's previous
    computed session, which the next date's ``history`` block needs. Every date holds its
    nightly-risk guard until its rows are written, so a nightly run of the same date cannot
    write beside it. Returns once everything is written.
    """
    held_run = _histories.get(run_id)
    if held_run is None:
        raise RuntimeError(f"history run {run_id} was not planned in this process")
    computed: list[tuple[dt.date, dict[str, Any]]] = []
    frame = held_run.portfolios
    chunk_rows = [
        PortfolioRows(
            frame[frame["id"].isin(chunk)].reset_index(drop=True),
            {pid: held_run.timelines[pid] for pid in chunk},
            held_run.sectors,
        )
        for chunk in held_run.plan.chunks
    ]
    # Each portfolio's last computed session: where its flows and attribution start.
    last_dates = {pid: before.as_of for pid, before in held_run.previous.items()}
    # Each date's guard is held from its valuation until its rows are committed (at most
    # HISTORY_WRITE_AHEAD + 1 at once: each holds a connection).
    guards: dict[dt.date, ExitStack] = {}
    writer = HistoryWriter(
        run_id, held_run.previous, ahead=HISTORY_WRITE_AHEAD, group=HISTORY_WRITE_GROUP
    )

    def release(written_only: bool) -> None:
        if written_only:
            writer.collect()
        for day in [d for d in guards if not written_only or d in writer.saved]:
            guards.pop(day).close()

    try:
        for day in days:
            release(written_only=True)
            guard = ExitStack()
            guard.enter_context(ledger.run_guard("nightly-risk", day))
            guards[day] = guard
            computed.append(
                (day, _compute_date(settings, held_run, day, chunk_rows, last_dates, writer))
            )
        held_run.previous = writer.close()
    except BaseException:
        writer.abandon()
        raise
    finally:
        release(written_only=False)
    reports = []
    for day, found in computed:
        saved = writer.saved[day]
        timings = found["timings"]
        timings["build_rows_s"] = round(saved.build_rows_s, 3)
        timings["write_s"] = round(saved.write_s, 3)
        reports.append(
            DateReport(
                as_of=day,
                statuses=saved.statuses,
                errors=found["errors"],
                missing=found["missing"],
                written=saved.written,
                detail=found["detail"],
                timings=timings,
            )
        )
    if reports:
        reports[-1].timings["write_wait_s"] = round(writer.wait_s, 3)
        reports[-1].timings["writer_cpu_s"] = round(writer.cpu_s, 3)
    return reports


def _compute_date(
    settings: Settings,
    held_run: "_History",
    day: dt.date,
    chunk_rows: Sequence[PortfolioRows],
    last_dates: dict[int, dt.date],
    writer: HistoryWriter,
) -> dict[str, Any]:
    """Value one date's chunks and send them to the writer; ``last_dates`` moves to ``day``."""
    t0 = time.perf_counter()
    detail = detail_kept(day, held_run.newest, settings.detail_retention_sessions)
    prepared = market_on(
        held_run.inputs,
        day,
        assets_on(held_run.timelines, day),
        correlations=detail,
        before_market=held_run.market,
    )
    held_run.market = prepared
    t1 = time.perf_counter()
    errors: dict[str, str] = {}
    missing: list[str] = []
    valued_chunks = []
    for chunk, rows in zip(held_run.plan.chunks, chunk_rows, strict=True):
        valued = value_chunk(prepared, rows, last_dates, detail=detail)
        for part in valued.parts:
            for pid in valued.books.portfolio_ids[part.members].tolist():
                last_dates[pid] = day
        errors.update({valued.external_ids[p]: message for p, message in valued.errors.items()})
        missing.extend(valued.missing)
        valued_chunks.append((chunk, valued))
    t2 = time.perf_counter()
    writer.put(day, valued_chunks)
    return {
        "errors": errors,
        "missing": missing,
        "detail": detail,
        "timings": {"prepare_s": round(t1 - t0, 3), "compute_s": round(t2 - t1, 3)},
    }


def finish_history(settings: Settings, run_id: uuid.UUID) -> int:
    """Load staged reruns, make the newest date current, drop old detail; one transaction."""
    held_run = _histories.pop(run_id, None)
    if held_run is None:
        raise RuntimeError(f"history run {run_id} was not planned in this process")
    plan = held_run.plan
    with session_scope() as session:
        results_repo.apply_staged(session, run_id)
        flipped = results_repo.flip_current(session, plan.last, plan.portfolio_ids)
        _prune(session, settings, plan.last)
        return flipped


def release_history(run_id: uuid.UUID) -> None:
    """Forget a history run's held state (after a failure)."""
    _histories.pop(run_id, None)


def missed_sessions(settings: Settings, as_of: dt.date) -> tuple[list[dt.date], list[dt.date]]:
    """Sessions before ``as_of`` since the last computed date that have no results.

    Returns (to compute now, oldest first, at most ``catchup_max_sessions``; left over,
    older than those). Nothing is missed on a database with no results yet.
    """
    with session_scope() as session:
        last = results_repo.latest_snapshot_date(session, before=as_of)
    if last is None:
        return [], []
    gap = [d for d in sessions(last + dt.timedelta(days=1), as_of) if d < as_of]
    limit = settings.catchup_max_sessions
    if limit <= 0:
        return [], gap
    return gap[-limit:], gap[:-limit]
