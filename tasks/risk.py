"""Nightly-risk tasks: prepare once, one task per chunk of portfolios, flip at the end."""

import datetime as dt
import uuid
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from sigmasight import risk_run
from sigmasight.risk_run import ChunkReport, RiskInputs

SUMMARY_ROWS = 500


# The prepared market holds large arrays: never hash or persist it as a cache key.
@task(cache_policy=NO_CACHE)
def prepare_risk(as_of: dt.date, chunk_size: int, lookback_sessions: int) -> RiskInputs:
    """Load the price panel once; derive returns, betas and correlations for the universe."""
    inputs = risk_run.prepare_risk(
        as_of, chunk_size=chunk_size, lookback_sessions=lookback_sessions
    )
    get_run_logger().info(
        "panel %d sessions x %d symbols; %d portfolios in %d chunks; %s",
        len(inputs.market.panel.dates),
        len(inputs.market.panel.symbols),
        inputs.n_portfolios,
        len(inputs.chunks),
        inputs.timings,
    )
    return inputs


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10)
def compute_chunk(inputs: RiskInputs, portfolio_ids: list[int], run_id: uuid.UUID) -> ChunkReport:
    """Compute and write one chunk in one transaction; a status per portfolio."""
    report = risk_run.run_chunk(inputs, portfolio_ids, run_id)
    logger = get_run_logger()
    logger.info(
        "%d portfolios: %s; timings %s", len(portfolio_ids), _count(report.statuses), report.timings
    )
    for portfolio, message in report.errors.items():
        logger.error(
            "portfolio %s failed: %s", portfolio, message, extra={"portfolio_id": portfolio}
        )
    return report


def _count(statuses: dict[str, str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    return counts


@task
def flip_current(as_of: dt.date, portfolio_ids: list[int]) -> int:
    """Make this run's snapshots current, atomically, once every chunk has succeeded."""
    flipped = risk_run.finish_risk(as_of, portfolio_ids)
    get_run_logger().info("%d snapshots became current", flipped)
    return flipped


@task
def publish_summary(
    as_of: dt.date, inputs: RiskInputs, reports: list[ChunkReport]
) -> dict[str, Any]:
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
    # The server refuses events over 1.5 MB: show problems first, then the largest VaR.
    shown = sorted(rows, key=lambda r: (r["status"] == "ok", -(r["var95"] or 0.0)))[:SUMMARY_ROWS]
    create_table_artifact(
        key="nightly-risk-summary",
        table=shown,
        description=(
            f"Nightly risk for {as_of}: NAV, 1-day 95% historical VaR (currency), 150-day beta to SPY. "
            f"{len(rows)} portfolios"
            + (
                f"; showing {len(shown)}: those with warnings or errors first, then the largest VaR"
                if len(rows) > len(shown)
                else ""
            )
        ),
    )
    timings: dict[str, float] = dict(inputs.timings)
    for report in reports:
        for stage, seconds in report.timings.items():
            timings[stage] = round(timings.get(stage, 0.0) + seconds, 3)
    return {
        "statuses": _count({str(r["portfolio"]): str(r["status"]) for r in rows}),
        "timings": timings,
    }
