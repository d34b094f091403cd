"""A rerun of a date that has results becomes visible only when all of it succeeds."""

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import text

from flows.market_data import pull_market_data
from flows.nightly_risk import nightly_risk
from sigmasight.runs import risk as risk_run
from sigmasight.runs.seed import seed_demo
from sigmasight.settings import get_settings
from tests.dbstate import table_digests

AS_OF = dt.date(2026, 11, 25)
RESULTS = (
    "portfolio_snapshot",
    "position_risk",
    "factor_exposure",
    "correlation_result",
    "stress_result",
)


def _results(engine) -> dict[str, str]:
    return {k: v for k, v in table_digests(engine).items() if k in RESULTS}


def _scalar(engine, sql: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar_one()


def test_a_killed_rerun_changes_nothing_and_the_next_one_replaces_the_date(engine):
    seed_demo(AS_OF)
    assert pull_market_data(
        as_of=AS_OF, provider="synthetic", backfill_years=1, return_state=True
    ).is_completed()
    assert nightly_risk(as_of=AS_OF, return_state=True).is_completed()
    before = _results(engine)
    nav_before = _scalar(
        engine,
        "SELECT s.nav FROM portfolio_snapshot s JOIN portfolio p ON p.id = s.portfolio_id "
        "WHERE p.external_id = 'DEMO_HNW' AND s.is_current",
    )
    # The book changes, so a rerun computes other numbers for that portfolio.
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE position SET quantity = quantity * 2 FROM portfolio p "
                "WHERE p.id = position.portfolio_id AND p.external_id = 'DEMO_HNW'"
            )
        )

    # A rerun killed after two of its three chunks: the run steps without the flip.
    settings = get_settings().model_copy(update={"risk_chunk_size": 1})
    dead_run = uuid.uuid4()
    plan = risk_run.plan_risk(settings, AS_OF, dead_run)
    assert len(plan.chunks) == 3
    for chunk in plan.chunks[:2]:
        risk_run.run_chunk(settings, AS_OF, chunk, dead_run)
    risk_run.release_market(dead_run)
    assert _results(engine) == before, "a partial rerun changed the stored results"
    assert _scalar(engine, "SELECT count(*) FROM risk_rerun_part") > 0

    # The next rerun replaces the whole date at once and clears the dead run's parts.
    assert nightly_risk(as_of=AS_OF, return_state=True).is_completed()
    assert _scalar(engine, "SELECT count(*) FROM risk_rerun_part") == 0
    assert _results(engine) != before
    nav_after = _scalar(
        engine,
        "SELECT s.nav FROM portfolio_snapshot s JOIN portfolio p ON p.id = s.portfolio_id "
        "WHERE p.external_id = 'DEMO_HNW' AND s.is_current",
    )
    assert nav_after != nav_before
    assert (
        _scalar(
            engine,
            f"SELECT count(*) FROM portfolio_snapshot WHERE is_current AND as_of_date = '{AS_OF}'",
        )
        == 3
    )
