"""The reports run's steps: plan the chunks, then per chunk collect, render, write and index.

``tasks/reports.py`` wraps these one to one. Reports are built from stored results only:
the risk documents come from :func:`sigmasight.repositories.documents.documents_for` (one
batch per chunk), and the extras (names, position master data, sectors, clusters, the
stored prices behind the replay chart, see ``series``, and the snapshot series behind the
actual-history chart) are read once per chunk.

Files go to ``<reports_dir>/<portfolio>/<as_of>/`` (``report.json``, ``report.md``,
``positions.csv``, ``report.html``), each written to a temporary file in the same folder
and renamed over the old one, so a reader never sees half a file. Each file is indexed in
the ``report`` table (path, size, sha256, run id) with an upsert on (portfolio, date,
kind): re-running a date replaces, never duplicates. A failure in one portfolio is caught
and reported as its status; the others are still written.
"""

import contextlib
import datetime as dt
import hashlib
import logging
import os
import re
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from sigmasight.dated_risk import adjusted_panel, detail_rebuilder
from sigmasight.db import session_scope
from sigmasight.documents import Headline, RiskDocument
from sigmasight.domain import InputError
from sigmasight.objectstore import ObjectStore, object_store, running_embedded_s3
from sigmasight.reports import fmt
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
from sigmasight.repositories.documents import documents_for
from sigmasight.risk.engine import FFILL_LIMIT
from sigmasight.risk.returns import ffill_prices
from sigmasight.settings import Settings
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


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file next to ``path``, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@dataclass(frozen=True)
class _Shared:
    """What every report of a chunk reads from the same queries."""

    names: dict[str, tuple[int, str]]
    extras: dict[int, dict[str, PositionDetail]]
    clusters: dict[int, list[list[str]]]
    factor_names: dict[str, str]
    scenarios: dict[str, ScenarioInfo]
    dates: tuple[dt.date, ...]
    symbols: tuple[str, ...]
    prices: Any
    last_price: dict[str, float]
    benchmark: str
    benchmark_wealth: Any
    benchmark_returns: Any
    histories: dict[int, ActualHistory]


def _collect_shared(
    as_of: dt.date,
    external_ids: Sequence[str],
    documents: Sequence[RiskDocument],
    settings: Settings,
) -> _Shared:
    assets = {settings.benchmark}
    for document in documents:
        assets.update(asset_weights(document.positions))
        assets.update(p.symbol for p in document.positions)
    lookback = settings.risk_lookback_sessions
    days = last_sessions(as_of, lookback + 1)
    with session_scope() as session:
        reportable = repo.list_reportable(session, as_of)
        wanted = set(external_ids)
        names = {
            r.external_id: (r.portfolio_id, r.name) for r in reportable if r.external_id in wanted
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
        clusters = repo.load_clusters(session, ids, as_of)
        histories = repo.load_actual_histories(session, ids, as_of)
        factor_names = risk_inputs.load_factors(session)
        scenarios = {
            s.name: ScenarioInfo(s.category, s.description)
            for s in risk_inputs.load_scenarios(session)
        }
        panel = adjusted_panel(session, sorted(assets), start=days[0] if days else as_of, end=as_of)
    last = ffill_prices(panel.adj_close, FFILL_LIMIT)[-1] if panel.dates else np.empty(0)
    last_price = {s: float(v) for s, v in zip(panel.symbols, last, strict=False) if np.isfinite(v)}
    bench_wealth = bench_returns = None
    if len(panel.dates) >= 2 and settings.benchmark in panel.symbols:
        bench_returns = book_returns(panel.adj_close, panel.symbols, {settings.benchmark: 1.0})
        bench_wealth, _ = wealth_and_drawdown(bench_returns)
    return _Shared(
        names=names,
        extras=extras,
        clusters=clusters,
        factor_names=factor_names,
        scenarios=scenarios,
        dates=panel.dates,
        symbols=panel.symbols,
        prices=panel.adj_close,
        last_price=last_price,
        benchmark=settings.benchmark,
        benchmark_wealth=bench_wealth,
        benchmark_returns=bench_returns,
        histories=histories,
    )


def _return_path(document: RiskDocument, shared: _Shared) -> ReturnPath | None:
    if len(shared.dates) < 3 or document.valuation.nav is None:
        return None
    weights = asset_weights(document.positions)
    if not weights:
        return None
    returns = book_returns(shared.prices, shared.symbols, weights)
    wealth, drawdown = wealth_and_drawdown(returns)
    return ReturnPath(
        dates=shared.dates,
        wealth=wealth,
        drawdown=drawdown,
        benchmark_symbol=shared.benchmark if shared.benchmark_wealth is not None else None,
        benchmark_wealth=shared.benchmark_wealth,
        returns=returns,
        benchmark_returns=shared.benchmark_returns,
    )


def _details(document: RiskDocument, shared: _Shared, pid: int) -> dict[str, PositionDetail]:
    stored = shared.extras.get(pid, {})
    details = {}
    for p in document.positions:
        detail = stored.get(p.symbol, PositionDetail())
        if p.underlying:
            detail = replace(detail, underlying_price=shared.last_price.get(p.underlying))
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
    settings: Settings, as_of: dt.date, external_ids: Sequence[str], writer: NarrativeWriter
) -> Collected:
    """Everything the chunk's reports render from: stored documents, extras, narratives."""
    t0 = time.perf_counter()
    with session_scope() as session:
        documents = documents_for(session, as_of, external_ids, rebuild=detail_rebuilder(settings))
    headlines = {d.portfolio_id: d.headline() for d in documents}
    found = set(headlines)
    # A portfolio deleted since the chunk was planned is reported, not fatal to the chunk.
    failed = [
        PortfolioReport(external_id, "error", error=f"no risk results for {as_of}")
        for external_id in external_ids
        if external_id not in found
    ]
    shared = _collect_shared(as_of, external_ids, documents, settings)
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
            inputs.append(
                (
                    pid,
                    ReportInput(
                        document=document,
                        portfolio_name=name,
                        narrative=narrative,
                        details=_details(document, shared, pid),
                        path=_return_path(document, shared),
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


def write_chunk(
    settings: Settings, as_of: dt.date, external_ids: Sequence[str], run_id: uuid.UUID
) -> ChunkOutcome:
    """Collect, render, write and index the reports of one chunk of portfolios."""
    with narrative_writer(settings) as writer:
        collected = collect_inputs(settings, as_of, external_ids, writer)
    timings = dict(collected.timings)
    reports = list(collected.failed)
    root = settings.reports_dir
    store = report_store(settings)
    index: list[repo.IndexRow] = []
    for pid, data in collected.inputs:
        external_id = data.document.portfolio_id
        narrative = data.narrative
        try:
            files = _render(data, timings)
        except Exception as exc:  # one bad report is reported, the others still written
            log.exception("report for %s failed", external_id)
            reports.append(PortfolioReport(external_id, "error", error=_reason(exc)))
            continue
        stamp = time.perf_counter()
        folder = report_folder(root, external_id, as_of)
        written: dict[str, str] = {}
        keys: dict[str, str] = {}
        error = None
        try:
            for kind, payload in files.items():
                path = folder / FILE_NAMES[kind]
                write_atomic(path, payload)
                written[kind] = str(path)
            if store is not None:
                keys = upload_files(store, external_id, as_of, files)
        except Exception as exc:  # disk or S3: reported for this portfolio
            log.error("report for %s not published: %s", external_id, _reason(exc))
            error = _reason(exc)
        for kind, path_text in written.items():
            payload = files[kind]
            index.append(
                repo.IndexRow(
                    portfolio_id=pid,
                    as_of=as_of,
                    kind=kind,
                    path=path_text,
                    size_bytes=len(payload),
                    sha256=hashlib.sha256(payload).hexdigest(),
                    s3_key=keys.get(kind),
                )
            )
        timings["write_s"] = timings.get("write_s", 0.0) + time.perf_counter() - stamp
        reports.append(
            PortfolioReport(
                external_id,
                "error" if error else "ok",
                folder=str(folder),
                files=written,
                s3_keys=keys,
                narrative=narrative.source,
                error=error,
                **_headline_fields(collected.headlines.get(external_id)),
            )
        )
    t3 = time.perf_counter()
    with session_scope() as session:
        indexed = repo.upsert_reports(session, index, run_id)
    timings["index_s"] = time.perf_counter() - t3
    return ChunkOutcome(
        reports=sorted(reports, key=lambda r: r.portfolio),
        indexed=indexed,
        timings={k: round(v, 3) for k, v in timings.items()},
    )


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
def summary_rows(reports: Sequence[PortfolioReport]) -> list[dict[str, Any]]:
    """One row per portfolio: NAV, VaR95, beta, worst stress and where its report is."""
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
        for r in reports
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
        lines += ["", f"… and {len(reports) - max_rows} more: see the `reports-summary` table."]
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
