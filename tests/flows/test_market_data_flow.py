"""The market-data flow end to end: synthetic provider, real Prefect run, real PostgreSQL."""

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import text

from flows.market_data import pull_market_data
from sigmasight.providers.synthetic import SyntheticProvider
from sigmasight.runs.imports import import_prices_file
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


def scalar_list(engine, sql, **params):
    with engine.connect() as conn:
        return list(conn.execute(text(sql), params).scalars())


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


# ------------------------------------------------------------------ corporate actions

FRIDAY, SPLIT_DAY, TUESDAY = dt.date(2026, 10, 2), dt.date(2026, 10, 5), dt.date(2026, 10, 6)


def actions_in(engine) -> dict[tuple[str, dt.date, str], tuple[Decimal, str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT symbol, ex_date, kind, value, source, run_id FROM corporate_action")
        ).all()
    return {(r.symbol, r.ex_date, r.kind): (r.value, r.source, str(r.run_id)) for r in rows}


def issues_of(engine, day: dt.date) -> dict[str, list[str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT symbol, issues FROM data_quality WHERE as_of_date = :d"), {"d": day}
        ).all()
    return {r.symbol: r.issues for r in rows}


def test_two_nights_with_a_split_between_them(engine, tmp_path):
    seed_demo(FRIDAY)
    first = run(as_of=FRIDAY, provider="synthetic", backfill_years=1)
    assert first["coverage"] == 1.0
    # Every action the provider reports for the universe in the backfill window is stored,
    # with who served it and the run that fetched it; nothing else is.
    symbols = scalar_list(engine, "SELECT DISTINCT symbol FROM price_bar")
    expected = {
        (a.symbol, a.ex_date, a.kind): a.value
        for s in symbols
        for a in SyntheticProvider().corporate_actions(s, dt.date(2025, 10, 2), FRIDAY)
    }
    assert expected, "the demo universe has dividends in the window"
    stored = actions_in(engine)
    assert {k: v[0] for k, v in stored.items()} == expected
    assert {(v[1], v[2]) for v in stored.values()} == {("synthetic", first["run_id"])}
    assert first["actions"]["inserted"] == len(expected)
    assert first["actions"]["rejected"] == 0

    # AAPL's stored Friday close is made four times too high (a bad import), so Monday's
    # fetched close falls 75 % with no action to explain it; NVDA falls 75 % on its split.
    with engine.connect() as conn:
        aapl = conn.execute(
            text("SELECT close FROM price_bar WHERE symbol = 'AAPL' AND price_date = :d"),
            {"d": FRIDAY},
        ).scalar_one()
    bad = 4 * aapl
    prices = tmp_path / "aapl.csv"
    prices.write_text(
        f"symbol,date,open,high,low,close,volume\nAAPL,{FRIDAY},{bad},{bad},{bad},{bad},1000\n"
    )
    import_prices_file(prices, today=SPLIT_DAY)

    second = run(as_of=SPLIT_DAY, provider="synthetic")
    assert second["requests"] == 1  # one grouped request for the whole universe's bars
    assert second["actions"]["requests"] == 1  # one market-wide listing of actions
    stored = actions_in(engine)
    assert stored[("NVDA", SPLIT_DAY, "split")] == (Decimal(4), "synthetic", second["run_id"])
    with engine.connect() as conn:
        closes = dict(
            conn.execute(
                text(
                    "SELECT price_date, close FROM price_bar WHERE symbol = 'NVDA' "
                    "AND price_date IN (:a, :b)"
                ),
                {"a": FRIDAY, "b": SPLIT_DAY},
            )
            .tuples()
            .all()
        )
    assert closes[SPLIT_DAY] / closes[FRIDAY] - 1 < -0.7  # stored as traded
    issues = issues_of(engine, SPLIT_DAY)
    assert issues["NVDA"] == []  # the split explains the move
    assert issues["AAPL"] == [
        f"{SPLIT_DAY}: close moved -75% from the previous bar ({FRIDAY}); "
        "no split or dividend explains it"
    ]
    assert second["restated"] == []


def test_a_split_learned_a_day_late_names_the_risk_dates_it_changes(engine):
    seed_demo(SPLIT_DAY)
    run(as_of=SPLIT_DAY, provider="synthetic", backfill_years=1)
    # As if the vendor had not listed the split on its ex-date: it is missing, and the
    # move into the split day was flagged then.
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM corporate_action WHERE symbol = 'NVDA'"))
        run_id = conn.execute(
            text("SELECT id FROM flow_run WHERE flow = 'market-data'")
        ).scalar_one()
        portfolios = conn.execute(
            text("SELECT id, external_id FROM portfolio ORDER BY external_id")
        ).all()
        # Risk dates stored on the split day (as the nightly run stores them): all but the
        # last portfolio valued NVDA then; the last one held only AAPL on that date.
        holders = portfolios[:-1]
        for pid, external_id in portfolios:
            params = {
                "run": run_id,
                "day": SPLIT_DAY,
                "pid": pid,
                "symbol": "NVDA" if (pid, external_id) in holders else "AAPL",
            }
            conn.execute(
                text(
                    "INSERT INTO portfolio_snapshot (run_id, as_of_date, portfolio_id) "
                    "VALUES (:run, :day, :pid)"
                ),
                params,
            )
            conn.execute(
                text(
                    "INSERT INTO position_risk (run_id, as_of_date, portfolio_id, symbol) "
                    "VALUES (:run, :day, :pid, :symbol)"
                ),
                params,
            )
    assert len(holders) >= 2

    late = run(as_of=TUESDAY, provider="synthetic")
    assert late["restated"] == [
        {
            "symbol": "NVDA",
            "actions": [f"split 4 ex {SPLIT_DAY}"],
            "dates": [SPLIT_DAY.isoformat()],
            "portfolios": [external_id for _, external_id in holders],
        }
    ]
    notes = issues_of(engine, TUESDAY)["NVDA"]
    assert notes == [
        f"split 4 ex {SPLIT_DAY} arrived after bars from the ex-date were stored: it changes "
        f"the figures of 1 stored risk date of {len(holders)} portfolio"
        f"{'s' if len(holders) > 1 else ''} ({SPLIT_DAY}); re-run them with "
        f"`sigmasight run risk --from {SPLIT_DAY} --to {SPLIT_DAY}`"
    ]
    assert actions_in(engine)[("NVDA", SPLIT_DAY, "split")][2] == late["run_id"]
