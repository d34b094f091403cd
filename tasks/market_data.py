"""Market-data tasks: thin wrappers over ``sigmasight.runs.market_data``.

No Prefect retries here: the vendor clients retry themselves (Retry-After, jittered backoff,
bounded attempts), and a second layer would multiply the waits of a dead vendor.
"""

import datetime as dt
import uuid

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact

from sigmasight.market_data import FetchJob, QualityReport
from sigmasight.runs import market_data as market_run
from sigmasight.runs.market_data import ChunkOutcome, MarketDataPlan
from sigmasight.settings import get_settings


class DataQualityError(RuntimeError):
    """Coverage of the as-of date is below the threshold: risk must not run on this data."""


@task
def plan_market_data(
    as_of: dt.date, provider: str | None, backfill_years: int, extend_history: bool
) -> MarketDataPlan:
    """Build the universe once and decide what each symbol needs."""
    plan = market_run.plan_market_data(
        get_settings(),
        as_of,
        provider=provider,
        backfill_years=backfill_years,
        extend_history=extend_history,
    )
    reasons: dict[str, int] = {}
    for job in plan.jobs:
        reasons[f"{job.kind}/{job.reason}"] = reasons.get(f"{job.kind}/{job.reason}", 0) + 1
    get_run_logger().info(
        "universe %d symbols; prices from %s, profiles from %s, rates from %s; jobs %s",
        len(plan.universe),
        plan.price_provider,
        plan.profile_provider,
        plan.rate_provider,
        reasons or "none (up to date)",
    )
    return plan


@task
def fetch_prices(
    jobs: list[FetchJob], provider: str, run_id: uuid.UUID, universe: list[str]
) -> ChunkOutcome:
    """Fetch, validate and store one chunk of symbols."""
    outcome = market_run.fetch_and_store(
        get_settings(), jobs, provider=provider, run_id=run_id, universe=universe
    )
    get_run_logger().info(
        "%d requests, %d bars fetched, %d rejected, %d inserted, %d updated in %.1f s",
        outcome.requests,
        outcome.rows_fetched,
        outcome.rows_rejected,
        outcome.inserted,
        outcome.updated,
        outcome.seconds,
    )
    return outcome


@task
def refresh_rates(
    as_of: dt.date, provider: str, run_id: uuid.UUID, backfill_years: int
) -> dict[str, int]:
    """Bring DGS10 up to the as-of date."""
    changed = market_run.refresh_rates(
        get_settings(), as_of, provider=provider, run_id=run_id, backfill_years=backfill_years
    )
    get_run_logger().info("rates from %s: %s observations written", provider, changed)
    return changed


@task
def refresh_profiles(symbols: list[str], provider: str) -> int:
    """Refresh sector, industry and market cap of securities older than a week."""
    refreshed = market_run.refresh_profiles(get_settings(), symbols, provider=provider)
    get_run_logger().info("profiles from %s: %d refreshed", provider, refreshed)
    return refreshed


@task
def check_data_quality(
    as_of: dt.date,
    run_id: uuid.UUID,
    universe: dict[str, tuple[str, ...]],
    issues: dict[str, list[str]],
    threshold: float,
) -> QualityReport:
    """Store coverage and staleness, publish them as a table, fail below the threshold."""
    report = market_run.record_quality(as_of, run_id=run_id, universe=universe, issues=issues)
    create_table_artifact(
        key="market-data-quality",
        table=[
            {
                "symbol": row.symbol,
                "roles": ", ".join(row.roles),
                "status": row.status,
                "source": row.source or "",
                "last bar": str(row.last_date or ""),
                "sessions stale": "" if row.staleness_sessions is None else row.staleness_sessions,
                "issues": "; ".join(row.issues)[:300],
            }
            for row in report.rows
        ],
        description=f"Market data for {as_of}: coverage {report.coverage:.1%} of {report.required} required symbols",
    )
    logger = get_run_logger()
    logger.info("coverage %.1f%% of %d required symbols", 100 * report.coverage, report.required)
    if report.coverage < threshold:
        missing = ", ".join(report.missing[:50]) + (" ..." if len(report.missing) > 50 else "")
        raise DataQualityError(
            f"coverage for {as_of} is {report.coverage:.1%}, below the {threshold:.0%} threshold; "
            f"no bar for {as_of}: {missing}"
        )
    return report
