"""A history run's writer: builds each valued date's rows and writes them in a child process.

A history run values its dates in order in the flow's process (the engine's part:
``dated_risk.value_chunk``). Turning a valued date into its documents and table rows
(``dated_risk.build_chunk``) is the other half of the work, and it needs the interpreter as
much: a thread would wait for the same lock as the valuation. So it runs in one child
process, which takes the valued dates in order and keeps every portfolio's previous computed
session (the ``history``, ``attribution``, ``backtest`` and ``limits`` blocks read it). A
thread of the child writes the built dates (several per transaction, one COPY per table)
while the next one is built: the server's work overlaps the building.

The parent holds at most ``ahead`` dates that are sent and not yet written; each written
date is acknowledged with its statuses, rows per table and timings. The first error in the
child stops it and :class:`HistoryWriter` raises it in the parent (:class:`WriterFailed`):
what was not yet committed is not written. :meth:`HistoryWriter.abandon` stops the child
after a failure in the parent, committing nothing more.
"""

import datetime as dt
import logging
import os
import queue
import threading
import time
import traceback
import uuid
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from sigmasight.dated_risk import build_chunk
from sigmasight.db import reset_engine, session_scope
from sigmasight.processes import worker_context
from sigmasight.repositories import results as results_repo
from sigmasight.risk_rows import Previous, ValuedChunk
from sigmasight.settings import get_settings

log = logging.getLogger(__name__)

#: How long the parent waits on the child between checks that it is still alive.
_POLL_S = 0.2


class WriterFailed(RuntimeError):
    """The history run's writer process failed (its message names the error)."""


@dataclass(frozen=True)
class SavedDate:
    """One date the writer committed: statuses, rows per table and where its time went."""

    day: dt.date
    statuses: dict[str, str]
    written: dict[str, int]
    build_rows_s: float
    write_s: float


@dataclass(frozen=True)
class _Part:
    """One built chunk of one date, waiting to be written."""

    day: dt.date
    portfolio_ids: tuple[int, ...]
    frames: dict[str, pd.DataFrame]


@dataclass
class _Built:
    """One built date: its chunks' rows and statuses."""

    day: dt.date
    parts: list[_Part]
    statuses: dict[str, str]
    build_rows_s: float
    written: dict[str, int] = field(default_factory=dict)


def write_group(session: Any, run_id: uuid.UUID, parts: Sequence[_Part]) -> list[dict[str, int]]:
    """Write built chunks in one transaction; rows per table for each part, in order.

    A chunk of a date that already has results (a rerun) is held back (staged) until the
    run succeeds; the others' rows go in one COPY per table. When the COPY met rows and
    merged them, the count is the group's, given on its last fresh part.
    """
    counts: list[dict[str, int]] = [{} for _ in parts]
    fresh: list[int] = []
    for i, part in enumerate(parts):
        if results_repo.has_results(session, part.day, part.portfolio_ids):
            counts[i] = results_repo.stage_chunk(session, run_id, part.day, part.frames)
        else:
            fresh.append(i)
    tables: dict[str, list[pd.DataFrame]] = {}
    for i in fresh:
        for table, frame in parts[i].frames.items():
            tables.setdefault(table, []).append(frame)
    if tables:
        saved = results_repo.save_chunk(
            session,
            {
                table: frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
                for table, frames in tables.items()
            },
        )
        sent = {table: sum(len(f) for f in frames) for table, frames in tables.items()}
        if saved == sent:
            for i in fresh:
                counts[i] = {t: len(f) for t, f in parts[i].frames.items()}
        else:
            counts[fresh[-1]] = saved
    return counts


def _flush(run_id: uuid.UUID, built: list[_Built], outbox: Any) -> None:
    started = time.perf_counter()
    parts = [part for date in built for part in date.parts]
    with session_scope() as session:
        counts = write_group(session, run_id, parts) if parts else []
    spent = (time.perf_counter() - started) / len(built)
    for part, written in zip(parts, counts, strict=True):
        target = next(date for date in built if date.day == part.day).written
        for table, n in written.items():
            target[table] = target.get(table, 0) + n
    outbox.put(
        (
            "saved",
            [
                SavedDate(date.day, date.statuses, date.written, date.build_rows_s, spent)
                for date in built
            ],
        )
    )


def _report_error(outbox: Any, error: BaseException) -> None:
    detail = "".join(traceback.format_exception(error))
    log.error("history writer failed: %s", detail)
    outbox.put(("error", f"{type(error).__name__}: {error}"[:2000]))


class _Copier:
    """The child's COPY thread: writes built dates (several per transaction) in order.

    A COPY waits on the server without the interpreter's lock, so the next date is built
    meanwhile. Its first error goes to the parent at once and stops it.
    """

    def __init__(self, run_id: uuid.UUID, outbox: Any, group: int) -> None:
        self.run_id = run_id
        self.outbox = outbox
        self.group = max(1, group)
        self.queue: queue.Queue[_Built | None] = queue.Queue(maxsize=self.group)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="history-copy", daemon=True)
        self.thread.start()

    def put(self, built: _Built | None) -> None:
        """Hand over a built date (``None``: no more); raises the thread's error."""
        while True:
            self._raise()
            try:
                self.queue.put(built, timeout=_POLL_S)
                return
            except queue.Full:
                continue

    def close(self) -> None:
        """Wait until everything handed over is written; raises the thread's error."""
        self.put(None)
        self.thread.join()
        self._raise()

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            while True:
                first = self.queue.get()
                if first is None:
                    return
                batch, stop = [first], False
                while len(batch) < self.group:
                    try:
                        more = self.queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        stop = True
                        break
                    batch.append(more)
                _flush(self.run_id, batch, self.outbox)
                if stop:
                    return
        except BaseException as error:
            self.error = error
            _report_error(self.outbox, error)


def _serve(
    inbox: Any,
    outbox: Any,
    environ: dict[str, str],
    run_id: uuid.UUID,
    previous: dict[int, Previous],
    group: int,
) -> None:
    """The child: build each date received, in order, and write it, until ``None`` comes."""
    try:
        os.environ.clear()
        os.environ.update(environ)
        get_settings.cache_clear()
        reset_engine()
        copier = _Copier(run_id, outbox, group)
    except BaseException as error:
        _report_error(outbox, error)
        return
    try:
        while True:
            item = inbox.get()
            if item is None:
                copier.close()
                outbox.put(("carry", (previous, time.process_time())))
                return
            day, chunks = item
            started = time.perf_counter()
            parts: list[_Part] = []
            statuses: dict[str, str] = {}
            for ids, valued in chunks:
                done = build_chunk(valued, previous, run_id=run_id)
                previous.update(done.carry)
                statuses.update(done.statuses)
                if done.frames:
                    parts.append(_Part(day, ids, done.frames))
            copier.put(_Built(day, parts, statuses, time.perf_counter() - started))
    except BaseException as error:  # handed to the parent, which raises it
        if error is not copier.error:  # the thread has reported its own
            _report_error(outbox, error)


class HistoryWriter:
    """The parent's side: send valued dates, collect what was written, raise the child's error."""

    def __init__(
        self, run_id: uuid.UUID, previous: dict[int, Previous], *, ahead: int, group: int
    ) -> None:
        context: Any = worker_context(__name__)
        self._inbox: Any = context.Queue()
        self._outbox: Any = context.Queue()
        self._ahead = max(1, ahead)
        self._in_flight: list[dt.date] = []
        self.saved: dict[dt.date, SavedDate] = {}
        self.carry: dict[int, Previous] | None = None
        #: CPU seconds the child spent (building and writing), known after :meth:`close`.
        self.cpu_s = 0.0
        #: Seconds the parent waited for the child (a full pipeline, or the last dates).
        self.wait_s = 0.0
        self._process = context.Process(
            target=_serve,
            args=(self._inbox, self._outbox, dict(os.environ), run_id, previous, group),
            name="history-writer",
            daemon=True,
        )
        self._process.start()

    def put(self, day: dt.date, chunks: list[tuple[tuple[int, ...], ValuedChunk]]) -> None:
        """Send one valued date (waiting while ``ahead`` dates are unwritten)."""
        started = time.perf_counter()
        self.collect()
        while len(self._in_flight) >= self._ahead:
            self._receive(block=True)
        self.wait_s += time.perf_counter() - started
        self._inbox.put((day, chunks))
        self._in_flight.append(day)

    def collect(self) -> list[SavedDate]:
        """The dates written since the last call (without waiting); raises the child's error."""
        found: list[SavedDate] = []
        while True:
            got = self._receive(block=False)
            if got is None:
                return found
            found.extend(got)

    def close(self) -> dict[int, Previous]:
        """Wait until every date sent is written; the portfolios' last computed sessions."""
        started = time.perf_counter()
        self._inbox.put(None)
        while self.carry is None:
            self._receive(block=True)
        self._process.join()
        self._inbox.close()
        self.wait_s += time.perf_counter() - started
        return self.carry

    def abandon(self) -> None:
        """Stop the child after a failure (here or in it): nothing more is committed."""
        if self._process.is_alive():
            self._process.kill()
        self._process.join()
        # Take back what the child never read, so the queue's feeder thread is not left
        # blocked on a full pipe.
        with suppress(queue.Empty, OSError, EOFError):
            while True:
                self._inbox.get(timeout=_POLL_S)
        self._inbox.cancel_join_thread()
        self._inbox.close()

    def _receive(self, *, block: bool) -> list[SavedDate] | None:
        """One message from the child (None when there is none and ``block`` is false)."""
        while True:
            try:
                kind, payload = (
                    self._outbox.get(timeout=_POLL_S) if block else (self._outbox.get_nowait())
                )
            except queue.Empty:
                if not self._process.is_alive() and self._outbox.empty():
                    raise WriterFailed(
                        f"the history writer process stopped (exit code {self._process.exitcode})"
                    ) from None
                if not block:
                    return None
                continue
            if kind == "error":  # the caller abandons the child (it may still be waiting)
                raise WriterFailed(f"history writer: {payload}")
            if kind == "carry":
                self.carry, self.cpu_s = payload
                return []
            for date in payload:
                self.saved[date.day] = date
                self._in_flight.remove(date.day)
            return list(payload)
