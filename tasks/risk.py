"""Nightly-risk tasks: prepare once, one task per chunk of portfolios, flip at the end."""

import dataclasses
import datetime as dt
import uuid
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from sigmasight.runs import risk as risk_run
from sigmasight.runs.risk import ChunkReport, DateReport, HistoryPlan, RiskPlan
from sigmasight.settings import get_settings

SUMMARY_ROWS = 500


@task
def prepare_risk(as_of: dt.date, run_id: uuid.UUID) -> RiskPlan:
    """Load the price panel once (held in this process for the run); plan the chunks."""
    plan = risk_run.plan_risk(get_settings(), as_of, run_id)
    get_run_logger().info(
        "panel %d sessions x %d symbols; %d portfolios in %d chunks; %s",
        plan.n_dates,
        plan.n_symbols,
        plan.n_portfolios,
        len(plan.chunks),
        plan.timings,
    )
    return plan


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10)
def compute_chunk(as_of: dt.date, portfolio_ids: list[int], run_id: uuid.UUID) -> ChunkReport:
    """Compute and write one chunk in one transaction; a status per portfolio."""
    report = risk_run.run_chunk(get_settings(), as_of, portfolio_ids, run_id)
    logger = get_run_logger()
    logger.info(
        "%d portfolios: %s; timings %s", len(portfolio_ids), _count(report.statuses), report.timings
    )
    for portfolio, message in report.errors.items():
        logger.error(
            "portfolio %s failed: %s", portfolio, message, extra={"portfolio_id": portfolio}
        )
    # What returns to the flow (through the Dask scheduler when chunks run on a cluster)
    # stays small: of the headline rows, only those the run's artifact can show.
    return dataclasses.replace(report, summary=_shown_first(report.summary)[:SUMMARY_ROWS])


def _shown_first(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The artifact's order: problems first, then the largest VaR."""
    return sorted(rows, key=lambda r: (r["status"] == "ok", -(r["var95"] or 0.0)))


def _count(statuses: dict[str, str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    return counts


@task
def flip_current(as_of: dt.date, portfolio_ids: list[int], run_id: uuid.UUID) -> int:
    """Make this run's snapshots current, atomically, once every chunk has succeeded."""
    flipped = risk_run.finish_risk(get_settings(), as_of, portfolio_ids, run_id)
    get_run_logger().info("%d snapshots became current", flipped)
    return flipped


@task
def publish_summary(as_of: dt.date, plan: RiskPlan, reports: list[ChunkReport]) -> dict[str, Any]:
    """A table artifact of every portfolio's headline figures; returns status counts and timings."""
    rows = [row for report in reports for row in report.summary]
    rows += [
        {
            "portfolio": p,
            "status": "error",
            "nav": None,
            "var95": None,
            "beta_spy": None,
            "warnings": 1,
        }
        for report in reports
        for p in report.errors
    ]
    # The server refuses events over 1.5 MB: show problems first, then the largest VaR. Each
    # chunk kept its own first SUMMARY_ROWS in this order, so these are the run's first.
    shown = _shown_first(rows)[:SUMMARY_ROWS]
    statuses = {p: s for report in reports for p, s in report.statuses.items()}
    create_table_artifact(
        key="nightly-risk-summary",
        table=shown,
        description=(
            f"Nightly risk for {as_of}: NAV, 1-day 95% historical VaR (currency), 150-day beta to SPY. "
            f"{len(statuses)} portfolios"
            + (
                f"; showing {len(shown)}: those with warnings or errors first, then the largest VaR"
                if len(statuses) > len(shown)
                else ""
            )
        ),
    )
    timings: dict[str, float] = dict(plan.timings)
    for report in reports:
        for stage, seconds in report.timings.items():
            timings[stage] = round(timings.get(stage, 0.0) + seconds, 3)
    return {
        "statuses": _count(statuses),
        "timings": timings,
    }


@task
def prepare_history(first: dt.date, last: dt.date, run_id: uuid.UUID) -> HistoryPlan:
    """Load the range's price panel and every book once (held in this process)."""
    plan = risk_run.plan_history(get_settings(), first, last, run_id)
    get_run_logger().info(
        "history %s..%s: %d sessions, %d portfolios in %d chunks, %d symbols; %s",
        plan.first,
        plan.last,
        len(plan.dates),
        len(plan.portfolio_ids),
        len(plan.chunks),
        plan.n_symbols,
        plan.timings,
    )
    return plan


@task(cache_policy=NO_CACHE)
def compute_history_dates(days: list[dt.date], run_id: uuid.UUID) -> list[DateReport]:
    """Compute and write consecutive dates of a history run (every chunk of each)."""
    reports = risk_run.run_history_dates(get_settings(), days, run_id)
    logger = get_run_logger()
    for report in reports:
        for portfolio, message in report.errors.items():
            logger.error(
                "portfolio %s failed on %s: %s",
                portfolio,
                report.as_of,
                message,
                extra={"portfolio_id": portfolio},
            )
        if report.missing:
            logger.warning(
                "%s: %d portfolio(s) have no book on or before this date: %s",
                report.as_of,
                len(report.missing),
                ", ".join(report.missing[:10]),
            )
    return reports


@task
def finish_history(run_id: uuid.UUID) -> int:
    """Load staged reruns, make the newest date current and drop old detail, atomically."""
    flipped = risk_run.finish_history(get_settings(), run_id)
    get_run_logger().info("%d snapshots became current", flipped)
    return flipped


@task
def missed_sessions(as_of: dt.date) -> list[dt.date]:
    """Sessions before ``as_of`` without results since the last computed one (catch-up)."""
    due, left = risk_run.missed_sessions(get_settings(), as_of)
    logger = get_run_logger()
    if due:
        logger.info("catch-up: %d missed session(s) %s..%s first", len(due), due[0], due[-1])
    if left:
        logger.warning(
            "catch-up: %d older missed session(s) %s..%s are not computed tonight "
            "(SIGMASIGHT_CATCHUP_MAX_SESSIONS); run `sigmasight run risk --from %s --to %s`",
            len(left),
            left[0],
            left[-1],
            left[0],
            left[-1],
        )
    return due
