"""Reports tasks: plan the chunks, write them (on worker processes), then the run's artifacts."""

import datetime as dt
import uuid
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from sigmasight.runs import reports as reports_run
from sigmasight.runs.reports import ChunkOutcome
from sigmasight.settings import get_settings


class ReportsFailed(RuntimeError):
    """Some portfolios' reports could not be written (the others were)."""


@task
def plan_reports(as_of: dt.date, portfolio: str | None, chunk_size: int) -> list[list[str]]:
    """The portfolios with stored results on ``as_of``, in chunks of external ids."""
    chunks = reports_run.plan_reports(as_of, portfolio, chunk_size)
    get_run_logger().info("%d portfolios in %d chunks", sum(len(c) for c in chunks), len(chunks))
    return chunks


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10)
def write_reports(as_of: dt.date, chunks: list[list[str]], run_id: uuid.UUID) -> list[ChunkOutcome]:
    """Render, write and index the four report files of every portfolio, chunk by chunk.

    The chunks run on worker processes (``SIGMASIGHT_REPORTS_WORKERS``); a retry rewrites
    only the files whose bytes changed.
    """
    logger = get_run_logger()

    def log_chunk(portfolios: list[str], outcome: ChunkOutcome) -> None:
        ok = sum(r.status == "ok" for r in outcome.reports)
        logger.info(
            "%d of %d reported (%s to %s), files %s, %d index rows changed; timings %s",
            ok,
            len(portfolios),
            portfolios[0],
            portfolios[-1],
            outcome.files,
            outcome.indexed,
            outcome.timings,
        )
        for report in outcome.reports:
            if report.status != "ok":
                logger.error("portfolio %s: %s", report.portfolio, report.error)

    return reports_run.write_all(get_settings(), as_of, chunks, run_id, on_chunk=log_chunk)


@task(cache_policy=NO_CACHE)
def publish_report_artifacts(as_of: dt.date, outcomes: list[ChunkOutcome]) -> dict[str, Any]:
    """A markdown artifact linking the reports with book-level figures, and a table artifact."""
    reports = sorted((r for o in outcomes for r in o.reports), key=lambda r: r.portfolio)
    settings = get_settings()
    create_markdown_artifact(
        key="reports",
        markdown=reports_run.summary_markdown(
            as_of, reports, settings.reports_dir, api_url=settings.api_public_url
        ),
        description=f"Risk reports for {as_of}",
    )
    create_table_artifact(
        key="reports-summary",
        table=reports_run.summary_rows(reports, max_rows=reports_run.SUMMARY_TABLE_ROWS),
        description=(
            f"Reports for {as_of}: NAV, 1-day 95% historical VaR (currency), 150-day beta to "
            "SPY and the worst linear stress scenario"
            + (
                f" (the first {reports_run.SUMMARY_TABLE_ROWS} of {len(reports)}: failures "
                "first, then the largest VaR)"
                if len(reports) > reports_run.SUMMARY_TABLE_ROWS
                else ""
            )
        ),
    )
    timings: dict[str, float] = {}
    for outcome in outcomes:
        for stage, seconds in outcome.timings.items():
            timings[stage] = round(timings.get(stage, 0.0) + seconds, 3)
    narratives: dict[str, int] = {}
    for report in reports:
        if report.narrative:
            narratives[report.narrative] = narratives.get(report.narrative, 0) + 1
    counts = {
        "portfolios": len(reports),
        "ok": sum(r.status == "ok" for r in reports),
        "failed": sum(r.status != "ok" for r in reports),
        "files": sum(len(r.files) for r in reports),
        "index_rows_changed": sum(o.indexed for o in outcomes),
        "uploaded": sum(len(r.s3_keys) for r in reports),
        **{
            f"{name}": sum(o.files.get(key, 0) for o in outcomes)
            for name, key in (
                ("files_written", "written"),
                ("files_unchanged", "unchanged"),
                ("objects_put", "put"),
                ("objects_unchanged", "put_skipped"),
            )
        },
        "narratives": narratives,
    }
    return {"counts": counts, "timings": timings, "reports_dir": str(settings.reports_dir)}


@task(cache_policy=NO_CACHE)
def check_reports(outcomes: list[ChunkOutcome]) -> None:
    """Fail the run, naming each portfolio, when any report could not be written."""
    failed = [r for o in outcomes for r in o.reports if r.status != "ok"]
    if failed:
        listed = "; ".join(f"{r.portfolio}: {r.error}" for r in failed[:10])
        more = f" (and {len(failed) - 10} more)" if len(failed) > 10 else ""
        raise ReportsFailed(f"{len(failed)} report(s) failed: {listed}{more}")
