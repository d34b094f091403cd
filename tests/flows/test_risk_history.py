"""History runs against single-date runs, point in time, on a real PostgreSQL and Prefect.

RISK-CONVENTIONS "History runs": for each date of ``run risk --from D1 --to D2`` the stored
rows and the exported document are exactly (to the last bit) what ``run risk --as-of D``
gives. C14: a date never sees data dated after it, and a rerun after a late bar changes
the date and records the new run.
"""

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from cli.main import main
from sigmasight.db import session_scope
from sigmasight.runs import ledger
from sigmasight.runs import risk as risk_run
from sigmasight.runs.history_writer import WriterFailed
from sigmasight.runs.imports import import_prices_file
from sigmasight.settings import get_settings
from tests import history_world as world

SNAPSHOT_COLUMNS = (
    "portfolio_id, as_of_date, status, nav, cash, long_mv, short_mv, gross_exposure, "
    "net_exposure, daily_pnl, daily_return, book_date, external_flow, pnl, twr_daily, "
    "twr_cumulative, hist_var_95, hist_var_99, cvar_95, beta_spy, document, warnings"
)


def documents(days: list[dt.date]) -> dict[tuple[str, str], str]:
    """Every exported document of ``days`` as canonical JSON text, without its run id."""
    found = {}
    for day in days:
        for document in risk_run.export_documents(get_settings(), day):
            body = document.as_json()
            body.pop("run_id")
            found[(document.portfolio_id, day.isoformat())] = json.dumps(body)
    return found


def snapshot_rows() -> list[tuple[Any, ...]]:
    with session_scope() as session:
        return [
            tuple(r)
            for r in session.execute(
                text(f"SELECT {SNAPSHOT_COLUMNS} FROM portfolio_snapshot ORDER BY 1, 2")
            )
        ]


def detail_rows() -> list[tuple[Any, ...]]:
    with session_scope() as session:
        positions = session.execute(
            text(
                "SELECT portfolio_id, as_of_date, symbol, position_id, quantity, price, "
                "market_value, exposure, weight, delta, beta_spy_150d, factor_symbols, factor_betas "
                "FROM position_risk ORDER BY 1, 2, 3"
            )
        ).all()
        matrices = session.execute(
            text(
                "SELECT portfolio_id, as_of_date, symbols, matrix FROM correlation_result ORDER BY 1, 2"
            )
        ).all()
    return [tuple(r) for r in (*positions, *matrices)]


def clear_results() -> None:
    with session_scope() as session:
        session.execute(
            text(
                "TRUNCATE portfolio_snapshot, position_risk, factor_exposure, "
                "correlation_result, stress_result"
            )
        )


@pytest.fixture
def history(engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # Keep detail for part of the range only, so both kinds of date are compared.
    monkeypatch.setenv("SIGMASIGHT_DETAIL_RETENTION_SESSIONS", "4")
    monkeypatch.setenv("SIGMASIGHT_RISK_CHUNK_SIZE", "2")
    get_settings.cache_clear()
    world.load_world(tmp_path)
    return tmp_path


def test_a_history_run_stores_and_exports_exactly_what_single_date_runs_do(history, capsys):
    assert world.HOLIDAY not in world.RANGE and len(world.RANGE) == 11
    code = main(["run", "risk", "--from", world.FIRST.isoformat(), "--to", world.LAST.isoformat()])
    assert code == 0, capsys.readouterr()
    from_history = documents(world.RANGE)
    rows_history, detail_history = snapshot_rows(), detail_rows()

    clear_results()
    for day in world.RANGE:
        world.single_date(day)
    from_single = documents(world.RANGE)

    assert rows_history == snapshot_rows()
    assert detail_history == detail_rows()
    assert from_history.keys() == from_single.keys()
    for key, body in from_history.items():
        assert body == from_single[key], key
    # The world's limits (C31) went through every state, identically in both kinds of run:
    # a single-date run reads the previous session's breaches back from its stored document.
    seen = {s["status"] for body in from_history.values() for s in json.loads(body)["limits"]}
    assert {"ok", "new", "continuing", "resolved"} <= seen
    # HIST_B has no book before 2025-11-24; HIST_A and HIST_C have one every day.
    b_days = sorted(day for pid, day in from_history if pid == "HIST_B")
    assert b_days[0] == world.LATE_BOOK.isoformat()
    assert len(from_history) == 2 * len(world.RANGE) + len(b_days)
    # Only the newest 4 sessions keep stored detail; older documents were rebuilt in full.
    with session_scope() as session:
        kept = session.execute(text("SELECT DISTINCT as_of_date FROM position_risk")).scalars()
        assert sorted(kept) == world.RANGE[-4:]
    first = json.loads(from_history[("HIST_A", world.FIRST.isoformat())])
    assert [p["symbol"] for p in first["positions"]] == ["AAPL", "MSFT", "XOM"]
    assert first["correlation"]["symbols"] == ["AAPL", "MSFT", "XOM"]
    # The range holds a split and a dividend, and both went through the compared documents.
    doc = {k: json.loads(v) for k, v in from_history.items()}

    def quantity(pid: str, day: str, symbol: str) -> float:
        return float(
            next(p["quantity"] for p in doc[(pid, day)]["positions"] if p["symbol"] == symbol)
        )

    assert quantity("HIST_A", "2025-12-02", "NVDA") == 100
    assert quantity("HIST_A", "2025-12-03", "NVDA") == 400
    assert quantity("HIST_C", "2025-12-03", "NVDA") == -200
    c3, c4 = doc[("HIST_C", "2025-12-03")], doc[("HIST_C", "2025-12-04")]
    assert c4["valuation"]["cash"] - c3["valuation"]["cash"] == pytest.approx(100 * 1.75)
    assert (c3["price_basis"], c4["price_basis"]) == ("split_only", "total_return")
    assert abs(c3["history"]["twr_daily"]) < 0.05 and abs(c4["history"]["twr_daily"]) < 0.05


def test_the_books_trades_and_flows_reach_the_document(history, capsys):
    assert (
        main(["run", "risk", "--from", world.FIRST.isoformat(), "--to", world.LAST.isoformat()])
        == 0
    )
    docs = {k: json.loads(v) for k, v in documents(world.RANGE).items()}

    def doc(pid: str, day: str) -> dict[str, Any]:
        found: dict[str, Any] = docs[(pid, day)]
        return found

    # 11-21: the AAPL buy applied to BOOK_1 (average cost 210 -> (200*210+50*231.5)/250).
    d = doc("HIST_A", "2025-11-21")
    assert d["book"]["book_date"] == "2025-11-19" and d["book"]["trades_applied"] == 1
    quantities = {p["symbol"]: p["quantity"] for p in d["positions"]}
    assert quantities == {"AAPL": 250.0, "MSFT": 100.0, "XOM": 100.0}
    assert d["valuation"]["cash"] == pytest.approx(50000 - 50 * 231.5 - 1, abs=1e-9)
    # 11-25: 40 MSFT sold above the 400 average: realised (433.1 - 400) * 40.
    d = doc("HIST_A", "2025-11-25")
    assert d["book"]["realized_pnl"] == pytest.approx((433.1 - 400) * 40, abs=1e-9)
    # The deposit of 11-24 is in that day's cash and flow, and out of its P&L (C17).
    d, before = doc("HIST_A", "2025-11-24"), doc("HIST_A", "2025-11-21")
    h = d["history"]
    assert h["external_flow"] == 25000 and h["previous_as_of"] == "2025-11-21"
    assert h["pnl"] == pytest.approx(d["valuation"]["nav"] - before["valuation"]["nav"] - 25000)
    assert h["twr_daily"] == pytest.approx(h["pnl"] / before["valuation"]["nav"])
    # The Saturday withdrawal counts on Monday 12-01, the day BOOK_2 replaced the book.
    d = doc("HIST_A", "2025-12-01")
    assert d["history"]["external_flow"] == -5000
    assert d["book"] == {
        "book_date": "2025-12-01",
        "trades_applied": 0,
        "realized_pnl": 0.0,
        "cost_basis": pytest.approx(250 * 212 + 60 * 401 + 100 * 110 + 100 * 151.2 + 40 * 180),
        "unrealized_pnl": d["book"]["unrealized_pnl"],
    }
    # Thanksgiving has no document; the day after links back to the 26th.
    assert ("HIST_A", world.HOLIDAY.isoformat()) not in docs
    assert doc("HIST_A", "2025-11-28")["history"]["previous_as_of"] == "2025-11-26"
    # The first date of the series has no history block, and says why.
    first = doc("HIST_C", world.FIRST.isoformat())
    assert first["history"] is None
    assert any(w.startswith("history:") for w in first["warnings"])
    # The cumulative TWR chains the daily ones.
    series = [doc("HIST_C", day.isoformat())["history"] for day in world.RANGE[1:]]
    growth = 1.0
    for h in series:
        growth *= 1.0 + h["twr_daily"]
    assert series[-1]["twr_cumulative"] == pytest.approx(growth - 1.0, rel=1e-12)
    # An option bought by a trade is valued from its trade's terms.
    calls = [p for p in doc("HIST_C", "2025-12-02")["positions"] if p["symbol"] == world.CALL]
    assert calls[0]["quantity"] == 5.0 and calls[0]["greeks"]["delta"] > 0


def test_no_look_ahead_later_data_does_not_change_a_date(engine, tmp_path: Path):
    day = dt.date(2025, 11, 25)
    (tmp_path / "early").mkdir()
    world.load_world(tmp_path / "early", through=day)
    first_run = world.single_date(day)
    before = documents([day])
    # Everything dated after the day arrives: prices, the BOOK_2 bundle, trades and flows.
    (tmp_path / "all").mkdir()
    world.load_world(tmp_path / "all")
    with session_scope() as session:
        later = session.execute(
            text("SELECT count(*) FROM price_bar WHERE price_date > :d"), {"d": day}
        ).scalar_one()
    assert later > 0
    world.single_date(day)
    assert documents([day]) == before
    with session_scope() as session:
        runs = set(
            session.execute(
                text("SELECT DISTINCT run_id FROM portfolio_snapshot WHERE as_of_date = :d"),
                {"d": day},
            ).scalars()
        )
    assert runs == {first_run}  # nothing was rewritten


def test_a_rerun_after_a_late_bar_changes_the_date_and_records_the_run(history, tmp_path: Path):
    day = dt.date(2025, 11, 25)
    first_run = world.single_date(day)
    before = documents([day])
    prices = pd.read_csv(history / "prices.csv", index_col="date")
    corrected = prices.loc[[day.isoformat()], ["AAPL"]] * 1.03  # a restated close
    corrected.to_csv(tmp_path / "late.csv")
    import_prices_file(tmp_path / "late.csv", today=world.TODAY)
    second_run = world.single_date(day)
    after = documents([day])
    assert after[("HIST_A", day.isoformat())] != before[("HIST_A", day.isoformat())]
    with session_scope() as session:
        runs: dict[str, uuid.UUID] = dict(
            session.execute(
                text(
                    "SELECT p.external_id, s.run_id FROM portfolio_snapshot s "
                    "JOIN portfolio p ON p.id = s.portfolio_id WHERE s.as_of_date = :d"
                ),
                {"d": day},
            ).all()
        )
        ledger_rows = session.execute(
            text("SELECT count(*) FROM flow_run WHERE as_of_date = :d AND status = 'succeeded'"),
            {"d": day},
        ).scalar_one()
    assert runs["HIST_A"] == second_run != first_run  # AAPL is in HIST_A's book
    assert runs["HIST_C"] == first_run  # no AAPL: its figures did not change
    assert ledger_rows == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--from", "2025-12-05", "--to", "2025-11-20"],
            "--from 2025-12-05 is after --to 2025-11-20",
        ),
        (["--from", "2010-01-04", "--to", "2025-11-20"], "spans more than 10 years"),
        (["--from", "2025-11-20"], "give either --as-of D, or both --from D1 and --to D2"),
        (["--as-of", "2025-11-20", "--to", "2025-11-21"], "give either --as-of D"),
    ],
)
def test_bad_ranges_are_refused_and_write_nothing(history, args, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", "risk", *args])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
    with session_scope() as session:
        assert session.execute(text("SELECT count(*) FROM portfolio_snapshot")).scalar_one() == 0
        assert (
            session.execute(
                text("SELECT count(*) FROM flow_run WHERE flow LIKE '%risk%'")
            ).scalar_one()
            == 0
        )


def test_the_nightly_flow_catches_up_missed_sessions_first(history, monkeypatch, capfd):
    from flows.nightly import nightly

    monkeypatch.setenv("SIGMASIGHT_CATCHUP_MAX_SESSIONS", "4")
    get_settings.cache_clear()
    world.single_date(world.FIRST)
    state = nightly(as_of=world.LAST, provider="synthetic", return_state=True)
    assert state.is_completed(), state.message
    with session_scope() as session:
        computed = sorted(
            session.execute(text("SELECT DISTINCT as_of_date FROM portfolio_snapshot")).scalars()
        )
        history_runs = session.execute(
            text(
                "SELECT as_of_date, inputs->>'from', status FROM flow_run WHERE flow = 'risk-history'"
            )
        ).all()
    missed = world.RANGE[1:-1]
    assert computed == [world.FIRST, *missed[-4:], world.LAST]
    assert history_runs == [(missed[-1], missed[-4].isoformat(), "succeeded")]
    left = f"{missed[0]} --to {missed[-5]}"
    err = capfd.readouterr().err
    assert f"run `sigmasight run risk --from {left}`" in err, "the hole left is named"
    assert "crashed" not in err
    # The first caught-up date links its history to the last computed one.
    doc = documents([missed[-4]])[("HIST_A", missed[-4].isoformat())]
    assert json.loads(doc)["history"]["previous_as_of"] == world.FIRST.isoformat()


def test_the_backtest_counts_stored_pnl_against_the_previous_var(history, capsys):
    """C30 on 70 computed sessions, checked against the stored snapshot rows."""
    days = world.ALL_SESSIONS[-70:]
    code = main(["run", "risk", "--from", days[0].isoformat(), "--to", days[-1].isoformat()])
    assert code == 0, capsys.readouterr()
    with session_scope() as session:
        rows = session.execute(
            text(
                "SELECT s.as_of_date, s.nav, s.pnl, s.hist_var_95, s.hist_var_99 "
                "FROM portfolio_snapshot s JOIN portfolio p ON p.id = s.portfolio_id "
                "WHERE p.external_id = 'HIST_C' ORDER BY s.as_of_date"
            )
        ).all()
    frame = pd.DataFrame(rows, columns=["day", "nav", "pnl", "v95", "v99"])
    var95 = (frame["v95"] * frame["nav"]).shift(1)
    var99 = (frame["v99"] * frame["nav"]).shift(1)
    usable = frame["pnl"].notna() & var95.notna()
    assert usable.sum() == 69
    expected95 = int((-frame["pnl"][usable] > var95[usable]).sum())
    expected99 = int((-frame["pnl"][usable] > var99[usable]).sum())
    from_history = json.loads(documents([days[-1]])[("HIST_C", days[-1].isoformat())])
    block = from_history["backtest"]
    assert block["var_95"]["days"] == 69 and block["var_95"]["exceptions"] == expected95
    assert block["var_99"]["exceptions"] == expected99
    assert block["var_95"]["expected"] == pytest.approx(69 * 0.05)
    # Nine sessions earlier there were only 60 days: still a backtest; at 59, none.
    assert json.loads(documents([days[-10]])[("HIST_C", days[-10].isoformat())])["backtest"]
    early = json.loads(documents([days[-11]])[("HIST_C", days[-11].isoformat())])
    assert early["backtest"] is None
    assert any(w.startswith("backtest: 59 sessions") for w in early["warnings"])
    # A single-date rerun of the last date reads the same window back from the database.
    world.single_date(days[-1])
    assert json.loads(documents([days[-1]])[("HIST_C", days[-1].isoformat())]) == from_history


def test_pnl_attribution_splits_the_day_into_holding_factor_and_trading(history, capsys):
    """C28 against the generated prices and the previous day's stored document."""
    assert (
        main(["run", "risk", "--from", world.FIRST.isoformat(), "--to", world.LAST.isoformat()])
        == 0
    )
    docs = {k: json.loads(v) for k, v in documents(world.RANGE).items()}
    prices = pd.read_csv(history / "prices.csv", index_col="date")
    for day, before in (("2025-11-25", "2025-11-24"), ("2025-12-01", "2025-11-28")):
        today, prev = docs[("HIST_A", day)], docs[("HIST_A", before)]
        block = today["attribution"]
        # The book held through the day is the previous document's.
        held = {p["symbol"]: p["quantity"] for p in prev["positions"]}
        change = prices.loc[day] - prices.loc[before]
        expected = {s: q * change[s] for s, q in held.items()}
        assert {p["symbol"]: p["pnl"] for p in block["positions"]} == pytest.approx(expected)
        assert block["holding_pnl"] == pytest.approx(sum(expected.values()))
        factor_returns = prices.loc[day] / prices.loc[before] - 1.0
        betas = prev["factor_exposures"]["betas"]
        by_factor = {f: prev["valuation"]["nav"] * b * factor_returns[f] for f, b in betas.items()}
        assert block["by_factor"] == pytest.approx(by_factor)
        assert block["factor_pnl"] == pytest.approx(sum(by_factor.values()))
        assert block["specific_pnl"] == pytest.approx(block["holding_pnl"] - block["factor_pnl"])
        pnl = today["history"]["pnl"]
        assert block["holding_pnl"] + block["trading_pnl"] == pytest.approx(pnl, abs=1e-6)
    # On 12-01 a new book replaced the old one: the difference is trading P&L, not holding.
    assert abs(docs[("HIST_A", "2025-12-01")]["attribution"]["trading_pnl"]) > 1.0
    first = docs[("HIST_A", world.FIRST.isoformat())]
    assert first["attribution"] is None
    assert any(w.startswith("attribution:") for w in first["warnings"])


def test_the_var_change_splits_into_book_and_market_effects(history, capsys):
    """C29: today's weights over yesterday's window, against numpy on the generated prices."""
    assert (
        main(["run", "risk", "--from", world.FIRST.isoformat(), "--to", world.LAST.isoformat()])
        == 0
    )
    docs = {k: json.loads(v) for k, v in documents(world.RANGE).items()}
    prices = pd.read_csv(history / "prices.csv", index_col="date")
    for day, before in (("2025-11-25", "2025-11-24"), ("2025-12-01", "2025-11-28")):
        today, prev = docs[("HIST_A", day)], docs[("HIST_A", before)]
        change = today["change"]["hist_var_95"]
        assert today["change"]["previous_as_of"] == before
        assert change["previous"] == prev["risk"]["full"]["hist_var_95"]["fraction"]
        weights = {p["symbol"]: p["weight"] for p in today["positions"]}
        window = prices.loc[:before, list(weights)].pct_change().dropna()
        series = window.to_numpy() @ np.array(list(weights.values()))
        book_on_previous = -np.quantile(series, 0.05, method="linear")
        assert change["previous"] + change["book_effect"] == pytest.approx(
            book_on_previous, rel=1e-9
        )
        var_today = today["risk"]["full"]["hist_var_95"]["fraction"]
        total = change["book_effect"] + change["market_effect"]
        assert total == pytest.approx(var_today - change["previous"], rel=1e-9, abs=1e-15)
    first = docs[("HIST_A", world.FIRST.isoformat())]
    assert first["change"] is None


def test_stress_and_factor_rows_of_an_old_date_come_back_from_its_document(history, monkeypatch):
    from sigmasight.repositories import api_reads
    from sigmasight.repositories import results as results_repo

    def read(day: dt.date) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        with session_scope() as session:
            pid = session.execute(
                text("SELECT id FROM portfolio WHERE external_id = 'HIST_C'")
            ).scalar_one()
            stress = [
                (r.scenario, r.method, r.return_impact, r.pnl)
                for r in results_repo.stress_for(session, pid, day)
            ]
            factors = [
                (r.factor_symbol, name, r.beta, r.exposure_usd, r.window, r.n_obs, r.r2)
                for r, name in api_reads.portfolio_factor_exposures(session, pid, day)
            ]
        return stress, factors

    days = world.RANGE[:3]
    monkeypatch.setenv("SIGMASIGHT_DETAIL_RETENTION_SESSIONS", "100")
    get_settings.cache_clear()
    assert main(["run", "risk", "--from", days[0].isoformat(), "--to", days[-1].isoformat()]) == 0
    stored = read(days[0])
    assert len(stored[0]) > 20 and len(stored[1]) == 7
    clear_results()
    monkeypatch.setenv("SIGMASIGHT_DETAIL_RETENTION_SESSIONS", "1")
    get_settings.cache_clear()
    assert main(["run", "risk", "--from", days[0].isoformat(), "--to", days[-1].isoformat()]) == 0
    with session_scope() as session:
        kept = session.execute(text("SELECT DISTINCT as_of_date FROM stress_result")).scalars()
        assert list(kept) == [days[-1]]
    assert read(days[0]) == stored


def test_the_run_summary_reads_the_figures_the_document_headline_gives(history):
    settings, day = get_settings(), world.LAST
    run_id = ledger.open_run("nightly-risk", as_of=day, inputs={"test": "summary"})
    plan = risk_run.plan_risk(settings, day, run_id)
    summary = [
        row
        for chunk in plan.chunks
        for row in risk_run.run_chunk(settings, day, chunk, run_id).summary
    ]
    risk_run.finish_risk(settings, day, plan.portfolio_ids, run_id)
    heads = {d.portfolio_id: d.headline() for d in risk_run.export_documents(settings, day)}
    assert len(summary) == len(heads) == 3
    for row in summary:
        head = heads[row["portfolio"]]
        assert (row["nav"], row["var95"], row["beta_spy"], row["warnings"]) == (
            head.nav,
            head.var_95,
            head.beta_spy,
            head.warnings,
        )


def test_a_database_error_in_the_writer_process_fails_the_run_and_keeps_what_came_after_out(
    history,
):
    """The writer process's first error stops the run and is raised by it, naming the cause.

    The failing date and every later one have no rows (a write group commits as a whole,
    so dates before it may or may not); each date's nightly-risk guard is free again.
    """
    bad = world.RANGE[6]
    with session_scope() as session:
        session.execute(
            text(
                "CREATE FUNCTION refuse_day() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF NEW.as_of_date = DATE '{bad.isoformat()}' THEN "
                "RAISE EXCEPTION 'snapshot refused by the test'; END IF; RETURN NEW; END $$"
            )
        )
        session.execute(
            text(
                "CREATE TRIGGER refuse_day BEFORE INSERT ON portfolio_snapshot "
                "FOR EACH ROW EXECUTE FUNCTION refuse_day()"
            )
        )
    try:
        with pytest.raises(WriterFailed, match="snapshot refused by the test"):
            world.compute_history()
        with session_scope() as session:
            written = set(
                session.execute(text("SELECT DISTINCT as_of_date FROM portfolio_snapshot"))
                .scalars()
                .all()
            )
        assert written and all(day < bad for day in written), written
        for day in world.RANGE:
            with ledger.run_guard("nightly-risk", day):
                pass
    finally:
        with session_scope() as session:
            session.execute(text("DROP TRIGGER refuse_day ON portfolio_snapshot"))
            session.execute(text("DROP FUNCTION refuse_day()"))
