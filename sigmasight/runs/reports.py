"""The reports run's steps: plan the chunks, then per chunk collect, render, write and index.

``tasks/reports.py`` wraps these. Reports are built from stored results only. A run
(:func:`write_all`) reads the shared price panel once (every asset of the date, with its
corporate actions: :func:`load_run_market`) and hands the chunks to worker processes
(``SIGMASIGHT_REPORTS_WORKERS``, one per core by default); each worker is the one reader of
its chunk: the stored documents (:func:`sigmasight.repositories.documents.documents_for`),
names, position master data and stored extras, clusters and the actual history, one query
per table for the whole chunk, then renders, writes and indexes it. Each portfolio takes its
cut of the shared panel (``sigmasight.reports.market``), the same prices a read of its own
assets gives, so a report is byte for byte the same rendered in bulk or alone.

Files go to ``<reports_dir>/<portfolio>/<as_of>/`` (``report.json``, ``report.md``,
``positions.csv``, ``report.html``), each written to a temporary file in the same folder
and renamed over the old one, so a reader never sees half a file; a file that already
holds the rendered bytes is not rewritten, and an S3 object whose content the index already
records under its key is not put again. Each file is indexed in the ``report`` table (path,
size, sha256, run id) with an upsert on (portfolio, date, kind): re-running a date
replaces, never duplicates, and an unchanged file leaves its row alone. A failure in one
portfolio is caught and reported as its status; the others are still written.
"""

import contextlib
import datetime as dt
import gc
import hashlib
import logging
import os
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy.orm import Session

from models import PortfolioSnapshot
from sigmasight.db import reset_engine, session_scope
from sigmasight.documents import Headline, RiskDocument
from sigmasight.domain import InputError
from sigmasight.objectstore import ObjectStore, object_store, running_embedded_s3
from sigmasight.processes import worker_context
from sigmasight.reports import fmt
from sigmasight.reports.market import PriceCut, ReportMarket
from sigmasight.reports.model import (
    ActualHistory,
    PositionDetail,
    ReportInput,
    ReturnPath,
    ScenarioInfo,
    build_view,
)
from sigmasight.reports.narrative import NarrativeWriter
from sigmasight.reports.render import FILE_NAMES, RENDERERS
from sigmasight.reports.series import asset_weights, book_returns, wealth_and_drawdown
from sigmasight.repositories import reports as repo
from sigmasight.repositories import risk_inputs
from sigmasight.repositories.documents import Detail, DetailSource, documents_for
from sigmasight.risk.adjustment import PanelActions
from sigmasight.settings import Settings, get_settings
from sigmasight.trading_calendar import last_sessions

log = logging.getLogger(__name__)

_SAFE_CHAR = re.compile(r"[A-Za-z0-9_-]")


@dataclass(frozen=True)
class PortfolioReport:
    """What was written for one portfolio, with the headline figures the artifacts show."""

    portfolio: str
    status: str  # "ok" or "error"
    folder: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    s3_keys: dict[str, str] = field(default_factory=dict)
    nav: float | None = None
    var95: float | None = None
    beta: float | None = None
    daily_pnl: float | None = None
    gross_exposure: float | None = None
    net_exposure: float | None = None
    worst_stress: str | None = None
    worst_stress_pnl: float | None = None
    stress_pnl: dict[str, float] = field(default_factory=dict)
    narrative: str | None = None
    warnings: int = 0
    error: str | None = None


@dataclass(frozen=True)
class ChunkOutcome:
    """A chunk's per-portfolio results, index rows changed and seconds per stage."""

    reports: list[PortfolioReport]
    indexed: int
    timings: dict[str, float]
    #: Files ``written`` vs ``unchanged`` (bytes already on disk), objects ``put`` vs
    #: ``put_skipped`` (the index already records the content under the key).
    files: dict[str, int] = field(default_factory=dict)


def safe_name(external_id: str) -> str:
    """A portfolio id as a folder name and key segment, one-to-one.

    Letters, digits, ``_`` and ``-`` stay; every other character (``.`` included, so no name
    is ``.``, ``..`` or hidden) becomes ``%XX`` per UTF-8 byte. ``%`` itself is encoded, so
    two ids never share a folder or an S3 key (``X``, ``X.`` and ``.X`` are three tenants).
    """
    return "".join(
        char if _SAFE_CHAR.fullmatch(char) else "".join(f"%{b:02X}" for b in char.encode())
        for char in external_id
    )


def report_folder(root: Path, external_id: str, as_of: dt.date) -> Path:
    """``<root>/<portfolio>/<as_of>``."""
    return root / safe_name(external_id) / as_of.isoformat()


def s3_key_for(external_id: str, as_of: dt.date, kind: str) -> str:
    """Object key of a report file under ``reports/``."""
    return f"reports/{safe_name(external_id)}/{as_of.isoformat()}/{FILE_NAMES[kind]}"


MEDIA_TYPES = {
    "json": "application/json",
    "md": "text/markdown; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8",
}


def report_store(settings: Settings) -> ObjectStore | None:
    """The object store when ``AWS_S3_BUCKET`` is set or the embedded S3 already runs.

    Reports never start the embedded S3 server themselves: without a bucket and without a
    running embedded server, reports stay local (``s3_key`` NULL).
    """
    if settings.aws_s3_bucket or running_embedded_s3(settings) is not None:
        return object_store(settings)
    return None


def upload_files(
    store: ObjectStore, external_id: str, as_of: dt.date, files: dict[str, bytes]
) -> dict[str, str]:
    """Put each file under ``reports/<portfolio>/<as_of>/``; returns the key per kind."""
    keys = {}
    for kind, payload in files.items():
        key = s3_key_for(external_id, as_of, kind)
        store.client.put_object(
            Bucket=store.bucket,
            Key=key,
            Body=payload,
            ContentType=MEDIA_TYPES[kind],
            Metadata={"sha256": hashlib.sha256(payload).hexdigest()},
        )
        keys[kind] = key
    return keys


def plan_reports(as_of: dt.date, portfolio: str | None, chunk_size: int) -> list[list[str]]:
    """External ids of the portfolios with stored results on ``as_of``, in chunks."""
    with session_scope() as session:
        found = repo.list_reportable(session, as_of, portfolio)
    if not found:
        if portfolio is not None:
            raise InputError(f"--portfolio {portfolio}: no risk results for {as_of}")
        raise InputError(
            f"no risk results for {as_of}: run `sigmasight run risk --as-of {as_of}` first"
        )
    ids = [r.external_id for r in found]
    return [ids[i : i + chunk_size] for i in range(0, len(ids), chunk_size)]


def write_atomic(path: Path, data: bytes, *, make_parent: bool = True) -> None:
    """Write ``data`` to a temporary file next to ``path``, then rename it over ``path``.

    ``make_parent=False`` when the caller has made the folder already (once per report).
    """
    if make_parent:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fchmod(fd, 0o644)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@dataclass(frozen=True)
class _Shared:
    """What every report of a chunk reads from the same queries (one per table)."""

    names: dict[str, tuple[int, str]]
    extras: dict[int, dict[str, PositionDetail]]
    clusters: dict[int, list[list[str]]]
    factor_names: dict[str, str]
    scenarios: dict[str, ScenarioInfo]
    histories: dict[int, ActualHistory]
    market: ReportMarket


def document_assets(document: RiskDocument, benchmark: str) -> set[str]:
    """The assets whose prices a report reads: weighted assets, position symbols, benchmark."""
    assets = {benchmark, *asset_weights(document.positions)}
    assets.update(p.symbol for p in document.positions)
    return assets


def load_market(
    session: Session, settings: Settings, as_of: dt.date, assets: Sequence[str]
) -> ReportMarket:
    """The stored closes and actions of ``assets`` (and the benchmark) over the lookback."""
    days = last_sessions(as_of, settings.risk_lookback_sessions + 1)
    start = days[0] if days else as_of
    symbols = sorted({*assets, settings.benchmark})
    panel = risk_inputs.load_panel(session, symbols, start=start, end=as_of)
    actions = (
        risk_inputs.load_actions(session, panel.symbols, after=start, through=as_of)
        if panel.dates
        else PanelActions.empty(len(panel.symbols))
    )
    return ReportMarket(
        end=as_of,
        benchmark=settings.benchmark,
        dates=panel.dates,
        symbols=panel.symbols,
        close=panel.close,
        stored=panel.adj_close,
        actions=actions,
    )


def load_run_market(settings: Settings, as_of: dt.date) -> ReportMarket:
    """The run's shared price panel: every asset stored for ``as_of`` or held on it, read once.

    A chunk whose documents hold an asset outside it (a position rebuilt for a date past
    the detail retention) reads its own panel instead (:func:`collect_inputs`).
    """
    with session_scope() as session:
        assets = {*repo.reported_assets(session, as_of), *risk_inputs.held_symbols(session, as_of)}
        return load_market(session, settings, as_of, sorted(assets))


def _collect_shared(
    session: Session,
    as_of: dt.date,
    external_ids: Sequence[str],
    documents: Sequence[RiskDocument],
    settings: Settings,
    market: ReportMarket | None,
) -> _Shared:
    assets: set[str] = set()
    for document in documents:
        assets |= document_assets(document, settings.benchmark)
    if market is None or not market.covers(assets):
        market = load_market(session, settings, as_of, sorted(assets))
    names = {
        r.external_id: (r.portfolio_id, r.name)
        for r in repo.list_reportable(session, as_of, external_ids=external_ids)
    }
    ids = [pid for pid, _ in names.values()]
    extras: dict[int, dict[str, PositionDetail]] = {}
    for e in repo.load_position_extras(session, ids, as_of):
        extras.setdefault(e.portfolio_id, {})[e.symbol] = PositionDetail(
            position_id=e.position_id,
            position_type=e.position_type,
            entry_price=e.entry_price,
            entry_date=e.entry_date,
            strike=e.strike,
            expiry=e.expiry,
            option_right=e.option_right,
            multiplier=e.multiplier,
            daily_pnl=e.daily_pnl,
            beta_spy_150d=e.beta_spy_150d,
            sector=e.sector,
            industry=e.industry,
            asset_type=e.asset_type,
        )
    return _Shared(
        names=names,
        extras=extras,
        clusters=repo.load_clusters(session, ids, as_of),
        factor_names=risk_inputs.load_factors(session),
        scenarios={
            s.name: ScenarioInfo(s.category, s.description)
            for s in risk_inputs.load_scenarios(session)
        },
        histories=repo.load_actual_histories(session, ids, as_of),
        market=market,
    )


def _return_path(document: RiskDocument, prices: PriceCut) -> ReturnPath | None:
    if len(prices.dates) < 3 or document.valuation.nav is None:
        return None
    weights = asset_weights(document.positions)
    if not weights:
        return None
    returns = book_returns(prices.prices, prices.symbols, weights)
    wealth, drawdown = wealth_and_drawdown(returns)
    return ReturnPath(
        dates=prices.dates,
        wealth=wealth,
        drawdown=drawdown,
        benchmark_symbol=prices.benchmark if prices.benchmark_wealth is not None else None,
        benchmark_wealth=prices.benchmark_wealth,
        returns=returns,
        benchmark_returns=prices.benchmark_returns,
    )


def _details(
    document: RiskDocument, stored: dict[str, PositionDetail], prices: PriceCut
) -> dict[str, PositionDetail]:
    details = {}
    for p in document.positions:
        detail = stored.get(p.symbol, PositionDetail())
        if p.underlying:
            detail = replace(detail, underlying_price=prices.last_price.get(p.underlying))
        details[p.symbol] = detail
    return details


def _headline_fields(headline: Headline | None) -> dict[str, Any]:
    """The report row's summary figures, from the document's one :class:`Headline`."""
    if headline is None:
        return {}
    return {
        "nav": headline.nav,
        "var95": headline.var_95,
        "beta": headline.beta_spy,
        "daily_pnl": headline.daily_pnl,
        "gross_exposure": headline.gross_exposure,
        "net_exposure": headline.net_exposure,
        "worst_stress": headline.worst_stress,
        "worst_stress_pnl": headline.worst_stress_pnl,
        "stress_pnl": dict(headline.stress_pnl),
        "warnings": headline.warnings,
    }


def narrative_writer(settings: Settings) -> NarrativeWriter:
    """A writer configured from the settings (OpenAI only when a key is set)."""
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    return NarrativeWriter(
        api_key=key or None,
        model=settings.openai_model,
        base_url=settings.openai_base_url,
        timeout_s=settings.openai_timeout_s,
        max_retries=settings.openai_max_retries,
    )


@dataclass(frozen=True)
class Collected:
    """A chunk's report inputs (with each portfolio's database id) and what failed early."""

    inputs: list[tuple[int, ReportInput]]
    failed: list[PortfolioReport]
    timings: dict[str, float]
    headlines: dict[str, Headline] = field(default_factory=dict)


def collect_inputs(
    settings: Settings,
    as_of: dt.date,
    external_ids: Sequence[str],
    writer: NarrativeWriter,
    market: ReportMarket | None = None,
) -> Collected:
    """Everything the chunk's reports render from: stored documents, extras, narratives.

    One session and one query per table for the whole chunk. ``market`` is the run's
    shared price panel (:func:`load_run_market`); without it, or when it lacks one of the
    chunk's assets, the chunk reads the panel of its own assets.
    """
    with collector_paused():
        return _collect_inputs(settings, as_of, external_ids, writer, market)


def _detail_rebuilder(settings: Settings) -> DetailSource:
    """``sigmasight.dated_risk.detail_rebuilder``, imported when a snapshot needs it.

    Only a snapshot older than the detail retention is rebuilt. The module brings in the
    risk history's dependencies (SciPy's statistics among them): imported at the top, they
    were seconds of every worker's start (the fork server imports this module first).
    """

    def rebuild(
        session: Session, snaps: Sequence[PortfolioSnapshot]
    ) -> dict[tuple[int, dt.date], Detail]:
        from sigmasight.dated_risk import detail_rebuilder

        return detail_rebuilder(settings)(session, snaps)

    return rebuild


def _collect_inputs(
    settings: Settings,
    as_of: dt.date,
    external_ids: Sequence[str],
    writer: NarrativeWriter,
    market: ReportMarket | None,
) -> Collected:
    t0 = time.perf_counter()
    with session_scope() as session:
        documents = documents_for(session, as_of, external_ids, rebuild=_detail_rebuilder(settings))
        shared = _collect_shared(session, as_of, external_ids, documents, settings, market)
    headlines = {d.portfolio_id: d.headline() for d in documents}
    found = set(headlines)
    # A portfolio deleted since the chunk was planned is reported, not fatal to the chunk.
    failed = [
        PortfolioReport(external_id, "error", error=f"no risk results for {as_of}")
        for external_id in external_ids
        if external_id not in found
    ]
    t1 = time.perf_counter()
    narratives = writer.write_many(
        documents, shared.factor_names, workers=settings.openai_concurrency
    )
    t2 = time.perf_counter()
    inputs: list[tuple[int, ReportInput]] = []
    for document, narrative in zip(documents, narratives, strict=True):
        external_id = document.portfolio_id
        try:
            pid, name = shared.names[external_id]
            prices = shared.market.cut(document_assets(document, settings.benchmark))
            inputs.append(
                (
                    pid,
                    ReportInput(
                        document=document,
                        portfolio_name=name,
                        narrative=narrative,
                        details=_details(document, shared.extras.get(pid, {}), prices),
                        path=_return_path(document, prices),
                        history=shared.histories.get(pid),
                        factor_names=shared.factor_names,
                        scenarios=shared.scenarios,
                        clusters=shared.clusters.get(pid, []),
                    ),
                )
            )
        except Exception as exc:  # one bad portfolio is reported, the others still written
            log.exception("report inputs for %s failed", external_id)
            failed.append(PortfolioReport(external_id, "error", error=_reason(exc)))
    return Collected(
        inputs,
        failed,
        {"collect_s": t1 - t0 + time.perf_counter() - t2, "narrative_s": t2 - t1},
        headlines,
    )


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for a chunk's reads.

    The reads allocate a few hundred thousand objects that all live until the chunk is
    written; each automatic collection would scan them again, which measured as half the
    reads' CPU time. They hold no reference cycles that need collecting early, and the
    collector runs again as usual afterwards.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass
class _Publisher:
    """Writes a chunk's files, skipping those whose bytes are already there.

    Local files: a file whose bytes equal the rendered ones is left alone (compared with
    the file itself, so a file changed or deleted behind the index is written again).
    S3: an object is put again unless the index already records this content (sha256)
    under this key.
    """

    root: Path
    as_of: dt.date
    store: ObjectStore | None
    indexed: dict[tuple[int, str], repo.IndexRow]
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("written", "unchanged", "put", "put_skipped"), 0)
    )

    def publish(
        self, pid: int, external_id: str, files: dict[str, bytes]
    ) -> tuple[dict[str, str], dict[str, str], list[repo.IndexRow], str | None]:
        """Write (and upload) the files; returns paths, keys, changed index rows, error."""
        folder = report_folder(self.root, external_id, self.as_of)
        written: dict[str, str] = {}
        keys: dict[str, str] = {}
        digests = {kind: hashlib.sha256(payload).hexdigest() for kind, payload in files.items()}
        error = None
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for kind, payload in files.items():
                path = folder / FILE_NAMES[kind]
                if same_bytes(path, payload):
                    self.counts["unchanged"] += 1
                else:
                    write_atomic(path, payload, make_parent=False)
                    self.counts["written"] += 1
                written[kind] = str(path)
            if self.store is not None:
                for kind, payload in files.items():
                    key = s3_key_for(external_id, self.as_of, kind)
                    known = self.indexed.get((pid, kind))
                    if known is not None and (known.s3_key, known.sha256) == (key, digests[kind]):
                        self.counts["put_skipped"] += 1
                    else:
                        upload_files(self.store, external_id, self.as_of, {kind: payload})
                        self.counts["put"] += 1
                    keys[kind] = key
        except Exception as exc:  # disk or S3: reported for this portfolio
            log.error("report for %s not published: %s", external_id, _reason(exc))
            error = _reason(exc)
        rows = []
        for kind, path_text in written.items():
            row = repo.IndexRow(
                portfolio_id=pid,
                as_of=self.as_of,
                kind=kind,
                path=path_text,
                size_bytes=len(files[kind]),
                sha256=digests[kind],
                s3_key=keys.get(kind),
            )
            if self.indexed.get((pid, kind)) != row:
                rows.append(row)
        return written, keys, rows, error


def same_bytes(path: Path, payload: bytes) -> bool:
    """Whether ``path`` exists and holds exactly ``payload`` (size checked before reading)."""
    try:
        if os.stat(path).st_size != len(payload):
            return False
        with open(path, "rb", buffering=0) as handle:
            return handle.read() == payload
    except FileNotFoundError:
        return False


def write_chunk(
    settings: Settings,
    as_of: dt.date,
    external_ids: Sequence[str],
    run_id: uuid.UUID,
    market: ReportMarket | None = None,
) -> ChunkOutcome:
    """Collect, render, write and index the reports of one chunk of portfolios.

    Files whose bytes are unchanged are not rewritten (nor uploaded again), and their index
    rows are left as they are.
    """
    cpu = time.process_time()
    with narrative_writer(settings) as writer:
        collected = collect_inputs(settings, as_of, external_ids, writer, market)
    timings = dict(collected.timings)
    reports = list(collected.failed)
    stamp = time.perf_counter()
    with session_scope() as session:
        indexed = repo.indexed_files(session, [pid for pid, _ in collected.inputs], as_of)
    timings["collect_s"] += time.perf_counter() - stamp
    publisher = _Publisher(settings.reports_dir, as_of, report_store(settings), indexed)
    index: list[repo.IndexRow] = []
    with inputs_frozen():
        _render_and_publish(collected, settings, as_of, publisher, index, reports, timings)
    t3 = time.perf_counter()
    with session_scope() as session:
        changed = repo.upsert_reports(session, index, run_id)
    timings["index_s"] = time.perf_counter() - t3
    # This process's CPU seconds (every thread's): unlike the stages, not inflated when
    # other work shares the cores.
    timings["cpu_s"] = time.process_time() - cpu
    return ChunkOutcome(
        reports=sorted(reports, key=lambda r: r.portfolio),
        indexed=changed,
        timings={k: round(v, 3) for k, v in timings.items()},
        files=dict(publisher.counts),
    )


def _render_and_publish(
    collected: Collected,
    settings: Settings,
    as_of: dt.date,
    publisher: "_Publisher",
    index: list[repo.IndexRow],
    reports: list[PortfolioReport],
    timings: dict[str, float],
) -> None:
    """Render and write each collected portfolio; index rows and outcomes are appended."""
    for pid, data in collected.inputs:
        external_id = data.document.portfolio_id
        try:
            files = _render(data, timings)
        except Exception as exc:  # one bad report is reported, the others still written
            log.exception("report for %s failed", external_id)
            reports.append(PortfolioReport(external_id, "error", error=_reason(exc)))
            continue
        stamp = time.perf_counter()
        written, keys, rows, error = publisher.publish(pid, external_id, files)
        index.extend(rows)
        timings["write_s"] = timings.get("write_s", 0.0) + time.perf_counter() - stamp
        reports.append(
            PortfolioReport(
                external_id,
                "error" if error else "ok",
                folder=str(report_folder(settings.reports_dir, external_id, as_of)),
                files=written,
                s3_keys=keys,
                narrative=data.narrative.source,
                error=error,
                **_headline_fields(collected.headlines.get(external_id)),
            )
        )


@contextlib.contextmanager
def inputs_frozen() -> Iterator[None]:
    """Keep the cyclic garbage collector off the objects alive now while a chunk renders.

    A chunk's inputs (its documents and everything read with them, a few hundred thousand
    objects) live until its last report is written; every older-generation collection
    during the rendering scanned them all again, about a tenth of the chunk's CPU. They are
    moved to the permanent generation (``gc.freeze``) and back afterwards; reference
    counting still frees each of them as usual.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


# ---- the whole run: chunks on worker processes ------------------------------------------------
#: The run's shared price panel in a worker process (set once by :func:`_start_worker`).
_worker_market: ReportMarket | None = None


def _start_worker(environ: dict[str, str], market: ReportMarket) -> None:
    """Worker set-up: the parent's environment (its database), and the shared panel."""
    global _worker_market
    os.environ.clear()
    os.environ.update(environ)
    get_settings.cache_clear()
    reset_engine()
    _worker_market = market
    # The modules and the panel live as long as the worker: no collection need scan them.
    gc.freeze()


def _worker_chunk(
    settings: Settings, as_of: dt.date, external_ids: list[str], run_id: uuid.UUID
) -> ChunkOutcome:
    return write_chunk(settings, as_of, external_ids, run_id, _worker_market)


def write_all(
    settings: Settings,
    as_of: dt.date,
    chunks: Sequence[Sequence[str]],
    run_id: uuid.UUID,
    *,
    workers: int | None = None,
    on_chunk: Callable[[list[str], ChunkOutcome], None] | None = None,
) -> list[ChunkOutcome]:
    """Every chunk's reports: the shared panel read once, chunks on ``workers`` processes.

    Each worker is the one reader of its chunk (one query per table), renders and writes
    it and indexes its files, so only chunk ids go out and small outcomes come back; the
    panel goes to each worker once. One worker, or one chunk, runs in this process; a
    single chunk (``--portfolio``) reads only the prices of its own assets. ``on_chunk`` is
    called in this process as each chunk finishes (in chunk order). When a chunk fails, the
    chunks not yet started are cancelled and the error is raised.
    """
    workers = settings.reports_workers if workers is None else workers
    if len(chunks) <= 1:
        return _write_here(settings, as_of, chunks, run_id, None, on_chunk)
    # The fork server starts first: it imports the modules while the panel is read.
    context = worker_context(__name__) if workers > 1 else None
    market = load_run_market(settings, as_of)
    if context is None:
        return _write_here(settings, as_of, chunks, run_id, market, on_chunk)
    with ProcessPoolExecutor(
        max_workers=min(workers, len(chunks)),
        mp_context=context,
        initializer=_start_worker,
        initargs=(dict(os.environ), market),
    ) as pool:
        futures = [pool.submit(_worker_chunk, settings, as_of, list(c), run_id) for c in chunks]
        outcomes = []
        try:
            for chunk, future in zip(chunks, futures, strict=True):
                outcome = future.result()
                if on_chunk is not None:
                    on_chunk(list(chunk), outcome)
                outcomes.append(outcome)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return outcomes


def _write_here(
    settings: Settings,
    as_of: dt.date,
    chunks: Sequence[Sequence[str]],
    run_id: uuid.UUID,
    market: ReportMarket | None,
    on_chunk: Callable[[list[str], ChunkOutcome], None] | None,
) -> list[ChunkOutcome]:
    outcomes = []
    for chunk in chunks:
        outcome = write_chunk(settings, as_of, chunk, run_id, market)
        if on_chunk is not None:
            on_chunk(list(chunk), outcome)
        outcomes.append(outcome)
    return outcomes


def _render(data: ReportInput, timings: dict[str, float]) -> dict[str, bytes]:
    stamp = time.perf_counter()
    view = build_view(data)
    now = time.perf_counter()
    timings["render_view_s"] = timings.get("render_view_s", 0.0) + now - stamp
    files = {}
    for kind, renderer in RENDERERS.items():
        files[kind] = renderer(view)
        stamp, now = now, time.perf_counter()
        timings[f"render_{kind}_s"] = timings.get(f"render_{kind}_s", 0.0) + now - stamp
    return files


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


# ---- run summaries (the flow's artifacts) -----------------------------------------------------
#: Rows of the ``reports-summary`` table artifact. Prefect refuses an artifact event much
#: over a megabyte (10,000 rows are about 2.8 MB), so a large run shows its first rows only.
SUMMARY_TABLE_ROWS = 500


def summary_rows(
    reports: Sequence[PortfolioReport], *, max_rows: int | None = None
) -> list[dict[str, Any]]:
    """One row per portfolio: NAV, VaR95, beta, worst stress and where its report is.

    With ``max_rows``, at most that many: failed reports first, then the largest VaR.
    """
    chosen = list(reports)
    if max_rows is not None and len(chosen) > max_rows:
        chosen = sorted(chosen, key=lambda r: (r.status == "ok", -(r.var95 or 0.0)))[:max_rows]
    return [
        {
            "portfolio": r.portfolio,
            "status": r.status,
            "nav": _round(r.nav),
            "var95": _round(r.var95),
            "beta_spy_150d": _round(r.beta, 3),
            "worst_stress": r.worst_stress,
            "worst_stress_pnl": _round(r.worst_stress_pnl),
            "html": r.files.get("html") or r.error,
        }
        for r in chosen
    ]


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def book_figures(reports: Sequence[PortfolioReport]) -> dict[str, Any]:
    """Book-level figures across the portfolios reported (sums; NAV-weighted beta)."""
    ok = [r for r in reports if r.status == "ok" and r.nav is not None]
    nav = sum(r.nav for r in ok if r.nav is not None)
    weighted = [(r.nav, r.beta) for r in ok if r.nav is not None and r.beta is not None]
    scenario_totals: dict[str, float] = {}
    for r in ok:
        for name, pnl in r.stress_pnl.items():
            scenario_totals[name] = scenario_totals.get(name, 0.0) + pnl
    worst = min(scenario_totals.items(), key=lambda i: (i[1], i[0])) if scenario_totals else None
    return {
        "portfolios": len(ok),
        "nav": nav,
        "gross_exposure": sum(r.gross_exposure or 0.0 for r in ok),
        "net_exposure": sum(r.net_exposure or 0.0 for r in ok),
        "daily_pnl": sum(r.daily_pnl or 0.0 for r in ok),
        "var95_sum": sum(r.var95 or 0.0 for r in ok),
        "beta_nav_weighted": (
            sum(n * b for n, b in weighted) / sum(n for n, _ in weighted) if weighted else None
        ),
        "worst_stress": worst[0] if worst else None,
        "worst_stress_pnl": worst[1] if worst else None,
    }


def report_links(report: PortfolioReport, as_of: dt.date, api_url: str | None) -> str:
    """A portfolio's reports as the artifact shows them.

    The API's report pages when it is configured (a ``file://`` link does nothing in the
    Prefect UI), else the file names.
    """
    kinds = sorted(report.files)
    if api_url:
        base = api_url.rstrip("/")
        portfolio = quote(report.portfolio, safe="")
        return " · ".join(
            f"[{kind}]({base}/reports/{portfolio}/{as_of.isoformat()}/{FILE_NAMES[kind]})"
            for kind in kinds
        )
    return " · ".join(f"`{Path(report.files[kind]).name}`" for kind in kinds)


def summary_markdown(
    as_of: dt.date,
    reports: Sequence[PortfolioReport],
    root: Path,
    *,
    max_rows: int = 50,
    api_url: str | None = None,
) -> str:
    """The run's markdown artifact: book-level figures, then each portfolio's reports.

    With ``api_url`` the reports link to the API's pages (sign-in required); without it the
    artifact says which folder holds them and names the files.
    """
    book = book_figures(reports)
    failed = [r for r in reports if r.status != "ok"]
    lines = [
        f"# Risk reports for {as_of}",
        "",
        f"{book['portfolios']} portfolio(s) reported"
        + (f", **{len(failed)} failed**" if failed else "")
        + (
            f"; files under `{root}` (also at {api_url.rstrip('/')}/ after signing in)."
            if api_url
            else f"; files under `{root}/<portfolio>/{as_of.isoformat()}/` on the machine "
            "that ran the flow (set SIGMASIGHT_API_PUBLIC_URL to link them here)."
        ),
        "",
        "## Book",
        "",
        "| Figure | Value |",
        "|---|---:|",
        f"| NAV | {fmt.money(book['nav'], 0)} |",
        f"| Gross / net exposure | {fmt.money(book['gross_exposure'], 0)} / {fmt.money(book['net_exposure'], 0)} |",
        f"| Daily P&L | {fmt.money(book['daily_pnl'], 0, sign=True)} |",
        f"| Sum of 1-day VaR 95% (undiversified) | {fmt.money(book['var95_sum'], 0)} |",
        f"| Beta to SPY (NAV-weighted) | {fmt.number(book['beta_nav_weighted'], 2)} |",
        f"| Worst stress for the whole book | {book['worst_stress'] or '–'}: "
        f"{fmt.money(book['worst_stress_pnl'], 0, sign=True)} |",
        "",
        "## Portfolios",
        "",
        "| Portfolio | NAV | VaR 95% | Beta | Worst stress | Reports |",
        "|---|---:|---:|---:|---|---|",
    ]
    for r in list(reports)[:max_rows]:
        if r.status != "ok":
            lines.append(f"| {r.portfolio} | – | – | – | – | failed: {r.error} |")
            continue
        links = report_links(r, as_of, api_url)
        lines.append(
            f"| {r.portfolio} | {fmt.money(r.nav, 0)} | {fmt.money(r.var95, 0)} | "
            f"{fmt.number(r.beta, 2)} | {r.worst_stress or '–'} "
            f"({fmt.money(r.worst_stress_pnl, 0, sign=True)}) | {links} |"
        )
    if len(reports) > max_rows:
        more = len(reports) - max_rows
        table = (
            "the `reports-summary` table"
            if len(reports) <= SUMMARY_TABLE_ROWS
            else f"the `reports-summary` table (its {SUMMARY_TABLE_ROWS} rows: failures first, "
            "then the largest VaR) and each portfolio's folder"
        )
        lines += ["", f"… and {more} more: see {table}."]
    return "\n".join(lines) + "\n"


def report_locations(
    as_of: dt.date, portfolio: str | None = None
) -> list[tuple[str, dict[str, str], dict[str, str]]]:
    """Indexed report files of ``as_of``: (portfolio, path per kind, S3 key per kind)."""
    found: dict[str, tuple[dict[str, str], dict[str, str]]] = {}
    with session_scope() as session:
        for external_id, report in repo.list_reports(session, as_of, portfolio):
            paths, keys = found.setdefault(external_id, ({}, {}))
            paths[report.kind] = report.path
            if report.s3_key:
                keys[report.kind] = report.s3_key
    order = list(FILE_NAMES)
    return [
        (
            external_id,
            dict(
                sorted(paths.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99)
            ),
            keys,
        )
        for external_id, (paths, keys) in sorted(found.items())
    ]
