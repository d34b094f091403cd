"""The market-data flow end to end: synthetic provider, real Prefect run, real PostgreSQL."""

import datetime as dt
from typing import Any

from sqlalchemy import text

from flows.market_data import pull_market_data
from sigmasight.runs.seed import seed_demo
from sigmasight.trading_calendar import previous_trading_day
from tests.dbstate import table_digests

AS_OF = dt.date(2025, 11, 24)
NEXT = dt.date(2025, 11, 25)
DATA_TABLES = ("price_bar", "rate_observation", "security", "data_quality")


def run(**params) -> dict[str, Any]:
    state = pull_market_data(return_state=True, **params)
    assert state.is_completed(), state.message
    result = state.result()
    assert isinstance(result, dict)
    return result


def scalar(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def test_backfill_then_idempotent_rerun_then_incremental(engine, caplog):
    seed_demo(AS_OF)
    with caplog.at_level("INFO"):
        first = run(as_of=AS_OF, provider="synthetic", backfill_years=1)
    # a long backfill says how far it is: symbols done, requests so far, an ETA
    progress = [r.getMessage() for r in caplog.records if "ETA" in r.getMessage()]
    assert progress, "no progress line in the market-data log"
    assert f"{first['symbols'] - 8}/{first['symbols'] - 8} symbols (100 %)" in progress[-1]
    assert f"{first['requests']} requests" in progress[-1]
    assert first["coverage"] == 1.0
    assert first["providers"]["prices"] == "synthetic"
    symbols = scalar(engine, "SELECT count(DISTINCT symbol) FROM price_bar")
    # 54 demo stocks/ETFs/funds + 7 factor ETFs overlap; every non-option symbol got bars.
    required = scalar(engine, "SELECT count(*) FROM data_quality WHERE required AND status = 'ok'")
    assert symbols == required == first["symbols"] - 8
    assert scalar(engine, "SELECT min(price_date) FROM price_bar") >= dt.date(2024, 11, 24)
    assert scalar(engine, "SELECT max(price_date) FROM price_bar") == AS_OF
    per_symbol = scalar(
        engine, "SELECT min(n) FROM (SELECT count(*) n FROM price_bar GROUP BY symbol) t"
    )
    assert 245 <= per_symbol <= 256
    assert scalar(engine, "SELECT count(*) FROM rate_observation WHERE series_id = 'DGS10'") >= 245
    assert scalar(engine, "SELECT count(*) FROM price_bar WHERE source <> 'synthetic'") == 0
    status = scalar(engine, "SELECT status FROM flow_run WHERE flow = 'market-data'")
    assert status == "succeeded"

    before = {k: v for k, v in table_digests(engine).items() if k in DATA_TABLES}
    again = run(as_of=AS_OF, provider="synthetic", backfill_years=None)
    assert (again["requests"], again["inserted"], again["updated"]) == (0, 0, 0)
    after = {k: v for k, v in table_digests(engine).items() if k in DATA_TABLES}
    assert after == before

    nxt = run(as_of=NEXT, provider="synthetic")
    assert nxt["requests"] == 1  # one grouped request for the whole universe
    assert nxt["inserted"] == required
    assert (
        scalar(engine, "SELECT count(*) FROM price_bar WHERE price_date = :d", d=NEXT) == required
    )
    assert previous_trading_day(NEXT) == AS_OF


def test_holiday_is_skipped_with_a_clear_state(engine):
    state = pull_market_data(as_of=dt.date(2025, 12, 25), return_state=True)
    assert state.is_completed() and state.name == "Skipped"
    assert state.message
    assert "not an NYSE trading day" in state.message
    assert scalar(engine, "SELECT count(*) FROM flow_run") == 0
