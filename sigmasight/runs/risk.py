"""The nightly risk run's steps: prepare once, compute and write per chunk, then flip.

``tasks/risk.py`` wraps these one to one; ``sigmasight export risk`` reads with
:func:`export_documents`. Each chunk computes and writes in one transaction and reports a
status per portfolio; one portfolio that fails is isolated and reported, not fatal.
"""

import dataclasses
import datetime as dt
import logging
import queue
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from typing import Any, cast

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
#: Sessions per step of a history run (one Prefect task each): the writer thread overlaps
#: the writes with the computation within a step.
HISTORY_BATCH_SESSIONS = 21
#: Computed chunks the writer thread may hold (each a date of 1,000 portfolios, about
#: 20 MB with position detail): bounds the memory the overlap costs.
HISTORY_WRITE_AHEAD = 3
#: Chunks written together, in one transaction and one COPY per table.
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


@dataclass
class _Written:
    """What the writer thread did for one date (filled as its chunks are saved)."""

    written: dict[str, int] = field(default_factory=dict)
    write_s: float = 0.0
    #: Chunks queued for the writer, and those it has committed.
    queued: int = 0
    saved: int = 0


@dataclass(frozen=True)
class _Part:
    """One computed chunk of one date, queued for the writer."""

    day: dt.date
    portfolio_ids: tuple[int, ...]
    frames: dict[str, pd.DataFrame]


_STOP = object()


class _Writer:
    """Writes queued chunks in a thread while the next dates are computed.

    A bounded queue (``HISTORY_WRITE_AHEAD`` chunks) holds the computed chunks; the thread
    takes what is queued (up to ``HISTORY_WRITE_GROUP`` chunks) and writes it in one
    transaction, the new dates' rows of each table in one COPY. The COPY waits on the
    server without the GIL, so the computation of the next date goes on meanwhile. The
    first error stops the thread; :meth:`put` and :meth:`close` raise it.
    """

    def __init__(self, run_id: uuid.UUID, done: dict[dt.date, _Written]) -> None:
        self.run_id = run_id
        self.done = done
        self.queue: queue.Queue[object] = queue.Queue(maxsize=HISTORY_WRITE_AHEAD)
        self.error: BaseException | None = None
        self.wait_s = 0.0
        self.thread = threading.Thread(target=self._run, name="history-writer", daemon=True)
        self.thread.start()

    def put(self, part: _Part) -> None:
        """Queue a chunk (waiting while the queue is full); raises the writer's error."""
        started = time.perf_counter()
        while True:
            self._raise()
            try:
                self.queue.put(part, timeout=0.2)
                break
            except queue.Full:
                continue
        self.wait_s += time.perf_counter() - started

    def close(self) -> None:
        """Wait until everything queued is written; raises the writer's error."""
        started = time.perf_counter()
        while self.thread.is_alive():
            try:
                self.queue.put(_STOP, timeout=0.2)
                break
            except queue.Full:
                continue
        self.thread.join()
        self.wait_s += time.perf_counter() - started
        self._raise()

    def abandon(self) -> None:
        """Stop the thread after a failure elsewhere (what is queued is not written)."""
        while True:
            try:
                self.queue.get_nowait()
            except queue.Empty:
                break
        with suppress(queue.Full):  # the writer only takes: after the drain there is room
            self.queue.put_nowait(_STOP)
        self.thread.join()

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            while True:
                item = self.queue.get()
                if item is _STOP:
                    return
                group = [cast(_Part, item)]
                stop = False
                while len(group) < HISTORY_WRITE_GROUP:
                    try:
                        more = self.queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is _STOP:
                        stop = True
                        break
                    group.append(cast(_Part, more))
                self._write(group)
                if stop:
                    return
        except BaseException as error:  # handed to the computing thread, which raises it
            self.error = error

    def _write(self, group: list[_Part]) -> None:
        started = time.perf_counter()
        with session_scope() as session:
            fresh: list[_Part] = []
            for part in group:
                if results_repo.has_results(session, part.day, part.portfolio_ids):
                    # A rerun of a date with results: held back until the run succeeds.
                    self._count(
                        part,
                        results_repo.stage_chunk(session, self.run_id, part.day, part.frames),
                    )
                else:
                    fresh.append(part)
            tables: dict[str, list[pd.DataFrame]] = {}
            for part in fresh:
                for table, frame in part.frames.items():
                    tables.setdefault(table, []).append(frame)
            if tables:
                saved = results_repo.save_chunk(
                    session,
                    {
                        table: frames[0]
                        if len(frames) == 1
                        else pd.concat(frames, ignore_index=True)
                        for table, frames in tables.items()
                    },
                )
                sent = {table: sum(len(f) for f in frames) for table, frames in tables.items()}
                if saved == sent:
                    for part in fresh:
                        self._count(part, {t: len(f) for t, f in part.frames.items()})
                elif fresh:  # rows merged after a conflict: the group's count, on its last date
                    self._count(fresh[-1], saved)
        spent = (time.perf_counter() - started) / len(group)
        for part in group:
            self.done[part.day].write_s += spent
            self.done[part.day].saved += 1

    def _count(self, part: _Part, written: dict[str, int]) -> None:
        target = self.done[part.day].written
        for table, n in written.items():
            target[table] = target.get(table, 0) + n


def run_history_dates(
    settings: Settings, days: Sequence[dt.date], run_id: uuid.UUID
) -> list[DateReport]:
    """Compute and write every chunk of ``days`` (consecutive dates of the run, oldest first).

    The dates are computed in order in this thread (each date's ``history`` block needs
    the one before) while a writer thread saves the dates already computed, several per
    transaction. Every date holds its nightly-risk guard until its rows are written, so a
    nightly run of the same date cannot write beside it. Returns once everything is written.
    """
    held_run = _histories.get(run_id)
    if held_run is None:
        raise RuntimeError(f"history run {run_id} was not planned in this process")
    done = {day: _Written() for day in days}
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
    # Each date's guard is held from its computation until its rows are committed (the
    # queue bounds how many are held: each holds a connection).
    guards: dict[dt.date, ExitStack] = {}

    def release(written_only: bool) -> None:
        for day in [d for d in guards if not written_only or done[d].saved == done[d].queued]:
            guards.pop(day).close()

    writer = _Writer(run_id, done)
    try:
        for day in days:
            release(written_only=True)
            guard = ExitStack()
            guard.enter_context(ledger.run_guard("nightly-risk", day))
            guards[day] = guard
            computed.append(
                (day, _compute_date(settings, held_run, day, chunk_rows, run_id, writer))
            )
        writer.close()
    except BaseException:
        writer.abandon()
        raise
    finally:
        release(written_only=False)
    reports = []
    for day, found in computed:
        timings = found["timings"]
        timings["write_s"] = round(done[day].write_s, 3)
        reports.append(
            DateReport(
                as_of=day,
                statuses=found["statuses"],
                errors=found["errors"],
                missing=found["missing"],
                written=done[day].written,
                detail=found["detail"],
                timings=timings,
            )
        )
    if reports:
        reports[-1].timings["write_wait_s"] = round(writer.wait_s, 3)
    return reports


def _compute_date(
    settings: Settings,
    held_run: "_History",
    day: dt.date,
    chunk_rows: Sequence[PortfolioRows],
    run_id: uuid.UUID,
    writer: _Writer,
) -> dict[str, Any]:
    """Compute one date's chunks and queue them for the writer."""
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
    statuses: dict[str, str] = {}
    errors: dict[str, str] = {}
    missing: list[str] = []
    compute_s = build_s = 0.0
    for chunk, rows in zip(held_run.plan.chunks, chunk_rows, strict=True):
        c0 = time.perf_counter()
        done = compute_chunk(prepared, rows, held_run.previous, run_id=run_id, detail=detail)
        compute_s += time.perf_counter() - c0
        build_s += done.build_rows_s
        if done.frames:
            writer.done[day].queued += 1
            writer.put(_Part(day, chunk, done.frames))
        held_run.previous.update(done.carry)
        statuses.update(done.statuses)
        errors.update(done.errors)
        missing.extend(done.missing)
    return {
        "statuses": statuses,
        "errors": errors,
        "missing": missing,
        "detail": detail,
        "timings": {
            "prepare_s": round(t1 - t0, 3),
            "compute_s": round(compute_s - build_s, 3),
            "build_rows_s": round(build_s, 3),
        },
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
