"""Market-data tasks: thin wrappers over ``sigmasight.runs.market_data``.

No Prefect retries here: the vendor clients retry themselves (Retry-After, jittered backoff,
bounded attempts), and a second layer would multiply the waits of a dead vendor.
"""

import datetime as dt
import uuid

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact

from sigmasight.domain import ActionSpec
from sigmasight.market_data import ActionJob, FetchJob, Move, QualityReport, describe_action
from sigmasight.runs import market_data as market_run
from sigmasight.runs.market_data import ActionOutcome, ChunkOutcome, MarketDataPlan
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
        "universe %d symbols; prices from %s, profiles from %s, rates from %s; jobs %s; "
        "action requests %d",
        len(plan.universe),
        plan.price_provider,
        plan.profile_provider,
        plan.rate_provider,
        reasons or "none (up to date)",
        len(plan.action_jobs),
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
def fetch_actions(
    jobs: list[ActionJob],
    provider: str,
    run_id: uuid.UUID,
    universe: list[str],
    last_stored: dict[str, dt.date],
) -> ActionOutcome:
    """Fetch, validate and store the splits and dividends of the universe (after its prices)."""
    outcome = market_run.fetch_and_store_actions(
        get_settings(),
        jobs,
        provider=provider,
        run_id=run_id,
        universe=universe,
        last_stored=last_stored,
    )
    logger = get_run_logger()
    logger.info(
        "actions from %s: %d requests, %d fetched, %d rejected, %d inserted, %d updated",
        provider,
        outcome.requests,
        outcome.fetched,
        outcome.rejected,
        outcome.inserted,
        outcome.updated,
    )
    for action in outcome.late:
        logger.warning(
            "%s of %s arrived after its ex-date's bars were stored (C21)",
            describe_action(action),
            action.symbol,
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
    moves: list[Move] | None = None,
    actions: ActionOutcome | None = None,
) -> QualityReport:
    """Store coverage, staleness, unexplained moves and late actions; fail below the threshold."""
    new: tuple[ActionSpec, ...] = actions.new if actions is not None else ()
    late: tuple[ActionSpec, ...] = actions.late if actions is not None else ()
    merged = {symbol: list(notes) for symbol, notes in issues.items()}
    for symbol, notes in (actions.issues if actions is not None else {}).items():
        merged.setdefault(symbol, []).extend(notes)
    report = market_run.record_quality(
        as_of,
        run_id=run_id,
        universe=universe,
        issues=merged,
        moves=moves or [],
        new_actions=new,
        late=late,
    )
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
    for restated in report.restated:
        logger.warning(
            "%s: %s changes %d stored risk dates of %d portfolios; re-run %s..%s",
            restated.symbol,
            ", ".join(restated.actions),
            len(restated.dates),
            len(restated.portfolios),
            restated.dates[0] if restated.dates else "-",
            restated.dates[-1] if restated.dates else "-",
        )
    if report.coverage < threshold:
        missing = ", ".join(report.missing[:50]) + (" ..." if len(report.missing) > 50 else "")
        raise DataQualityError(
            f"coverage for {as_of} is {report.coverage:.1%}, below the {threshold:.0%} threshold; "
            f"no bar for {as_of}: {missing}"
        )
    return report
