"""The ``market-data`` flow: prices, rates and profiles for the whole universe, once each."""

import datetime as dt
from typing import Any

from prefect import State, flow
from prefect.futures import as_completed

from flows.sessions import dated_run
from sigmasight.market_data import Move, QualityReport
from sigmasight.runs.market_data import ActionOutcome
from sigmasight.settings import get_settings
from tasks.ledger import close_run, mark_run_failed, open_run
from tasks.market_data import (
    check_data_quality,
    fetch_actions,
    fetch_prices,
    plan_market_data,
    refresh_profiles,
    refresh_rates,
)
from tasks.progress import Progress
from tasks.runners import thread_pool


def _action_counts(actions: ActionOutcome, report: QualityReport) -> dict[str, Any]:
    """The run summary's corporate actions: counts, and each late action's dates to re-run."""
    return {
        "actions": {
            "requests": actions.requests,
            "fetched": actions.fetched,
            "rejected": actions.rejected,
            "inserted": actions.inserted,
            "updated": actions.updated,
        },
        "restated": [
            {
                "symbol": r.symbol,
                "actions": list(r.actions),
                "dates": [d.isoformat() for d in r.dates],
                "portfolios": list(r.portfolios),
            }
            for r in report.restated
        ],
    }


@flow(
    name="market-data",
    task_runner=thread_pool(2),
    on_failure=[mark_run_failed],
    on_crashed=[mark_run_failed],
)
def pull_market_data(
    as_of: dt.date | None = None,
    provider: str | None = None,
    backfill_years: int | None = None,
) -> dict[str, Any] | State[Any]:
    """Fetch missing prices and corporate actions (each symbol once), DGS10 and profiles; check coverage."""
    with dated_run("market-data", as_of) as (as_of, stop):
        if stop is not None:
            return stop
        settings = get_settings()
        years = backfill_years or settings.backfill_years
        run_id = open_run("market-data", as_of, {"provider": provider, "backfill_years": years})
        plan = plan_market_data(as_of, provider, years, backfill_years is not None)
        chunks = plan.chunks(settings.fetch_chunk_size)
        symbols_in = [len({s for job in chunk for s in job.symbols}) for chunk in chunks]
        progress = Progress(
            sum(symbols_in), f"prices for {as_of} from {plan.price_provider}", unit="symbols"
        )
        futures = [
            fetch_prices.submit(chunk, plan.price_provider, run_id, sorted(plan.universe))
            for chunk in chunks
        ]
        sizes = dict(zip(futures, symbols_in, strict=True))
        issues: dict[str, list[str]] = {}
        moves: list[Move] = []
        totals = {"requests": 0, "rows_fetched": 0, "rows_rejected": 0, "inserted": 0, "updated": 0}
        for future in as_completed(futures):
            outcome = future.result()
            for key in totals:
                totals[key] += getattr(outcome, key)
            for symbol, notes in outcome.issues.items():
                issues.setdefault(symbol, []).extend(notes)
            moves.extend(outcome.moves)
            progress.advance(sizes[future], f"{totals['requests']} requests")
        actions = fetch_actions(
            list(plan.action_jobs),
            plan.price_provider,
            run_id,
            sorted(plan.universe),
            plan.last_stored,
        )
        rates = refresh_rates(as_of, plan.rate_provider, run_id, years)
        profiles = refresh_profiles(
            sorted(s for s, roles in plan.universe.items() if roles != ("option",)),
            plan.profile_provider,
        )
        report = check_data_quality(
            as_of, run_id, plan.universe, issues, settings.coverage_threshold, moves, actions
        )
        counts = {
            **totals,
            **_action_counts(actions, report),
            "symbols": len(plan.universe),
            "jobs": len(plan.jobs),
            "coverage": round(report.coverage, 4),
            "rates_written": rates,
            "profiles_refreshed": profiles,
            "providers": {
                "prices": plan.price_provider,
                "profiles": plan.profile_provider,
                "rates": plan.rate_provider,
            },
        }
        close_run(run_id, "succeeded", counts, {})
        return {"as_of": as_of.isoformat(), "run_id": str(run_id), **counts}
