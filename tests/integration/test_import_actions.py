"""`import actions` end to end against PostgreSQL: upsert, idempotence, every refusal by line
with nothing written, and the stored risk dates a late action changes (C21)."""

import datetime as dt
import json
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from cli.main import main
from sigmasight.domain import InputError
from sigmasight.runs.imports import import_actions_file, import_bundle_file, import_prices_file
from tests.dbstate import table_digests

TODAY = dt.date(2025, 12, 2)
WED, THU, FRI = dt.date(2025, 11, 19), dt.date(2025, 11, 20), dt.date(2025, 11, 21)
MON, TUE = dt.date(2025, 11, 24), dt.date(2025, 11, 25)
DAYS = (WED, THU, FRI, MON, TUE)
WATCHED = ("corporate_action", "flow_run")

PRICES = "symbol,date,open,high,low,close,volume\n" + "".join(
    f"{symbol},{day},{close},{close},{close},{close},1000\n"
    for symbol, closes in {
        "NVDA": (140.0, 141.0, 142.0, 35.6, 35.9),  # split 4-for-1 on MON
        "AAPL": (230.0, 231.0, 232.0, 231.5, 233.0),
        "SPY": (600.0, 601.0, 602.0, 603.0, 604.0),
    }.items()
    for day, close in zip(DAYS, closes, strict=True)
)
BUNDLE = {
    "valuation_date": WED.isoformat(),
    "factor_etfs": {"SPY": "Market"},
    "portfolios": [
        {
            "id": "HOLDS_NVDA",
            "name": "Holds NVDA",
            "owner": "a@example.com",
            "cash": 1000,
            "positions": [{"symbol": "NVDA", "quantity": 10}],
        },
        {
            "id": "HOLDS_AAPL",
            "name": "Holds AAPL",
            "owner": "b@example.com",
            "cash": 1000,
            "positions": [{"symbol": "AAPL", "quantity": 10}],
        },
    ],
}


def write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content)
    return path


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> Engine:
    """Prices of NVDA, AAPL and SPY for WED..TUE; two portfolios with stored risk dates.

    Each portfolio has a snapshot on every day with one valued position (as the nightly run
    stores them): HOLDS_NVDA values NVDA, HOLDS_AAPL values AAPL.
    """
    import_prices_file(write(tmp_path, "prices.csv", PRICES), today=TODAY)
    import_bundle_file(write(tmp_path, "bundle.json", json.dumps(BUNDLE)), today=TODAY)
    run_id = uuid.uuid4()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO flow_run (id, flow, status, started_at) "
                "VALUES (:id, 'nightly-risk', 'succeeded', now())"
            ),
            {"id": run_id},
        )
        ids: dict[str, int] = dict(
            conn.execute(text("SELECT external_id, id FROM portfolio")).tuples().all()
        )
        for external_id, symbol in (("HOLDS_NVDA", "NVDA"), ("HOLDS_AAPL", "AAPL")):
            for day in DAYS:
                params = {"run": run_id, "day": day, "pid": ids[external_id], "symbol": symbol}
                conn.execute(
                    text(
                        "INSERT INTO portfolio_snapshot (run_id, as_of_date, portfolio_id, nav) "
                        "VALUES (:run, :day, :pid, 1)"
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
    return engine


def watched(engine: Engine) -> dict[str, str]:
    every = table_digests(engine)
    return {name: every[name] for name in WATCHED}


def stored(engine: Engine) -> list[tuple[str, dt.date, str, Decimal, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT symbol, ex_date, kind, value, source FROM corporate_action "
                "ORDER BY symbol, ex_date, kind"
            )
        ).all()
    return [(row[0], row[1], row[2], row[3], row[4]) for row in rows]


GOOD = "symbol,ex_date,type,value\nAAPL,2025-11-20,cash_dividend,0.26\nNVDA,2025-11-24,split,4\n"


def test_import_upserts_and_a_reimport_changes_nothing(world, tmp_path):
    path = write(tmp_path, "actions.csv", GOOD)
    first = import_actions_file(path)
    assert (first.rows, first.inserted, first.updated) == (2, 2, 0)
    assert first.run_id is not None
    assert stored(world) == [
        ("AAPL", THU, "cash_dividend", Decimal("0.26"), "csv"),
        ("NVDA", MON, "split", Decimal(4), "csv"),
    ]
    with world.connect() as conn:
        run_ids = conn.execute(text("SELECT DISTINCT run_id FROM corporate_action")).scalars().all()
        ledger = conn.execute(
            text("SELECT id, counts FROM flow_run WHERE flow = 'import-actions'")
        ).all()
    assert [str(r) for r in run_ids] == [first.run_id]
    assert [str(row.id) for row in ledger] == [first.run_id]
    assert ledger[0].counts["inserted"] == 2

    before = watched(world)
    again = import_actions_file(path)
    assert again.unchanged and (again.inserted, again.updated) == (0, 0)
    assert watched(world) == before

    # A file repeating one stored action and adding one: only the new one is written.
    more = write(tmp_path, "more.csv", GOOD + "SPY,2025-11-21,cash_dividend,1.74\n")
    third = import_actions_file(more)
    assert (third.rows, third.inserted, third.updated) == (3, 1, 0)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "NVDA,2025-11-24,split,0\n",
            "bad.csv line 3: value 0 must be a number > 0, new shares per old share "
            "(4-for-1: 4, 1-for-10: 0.1)",
        ),
        (
            "AAPL,2025-11-21,cash_dividend,231\n",
            "bad.csv line 3: dividend 231 is not below the previous close 231 (2025-11-20) of AAPL",
        ),
        (
            "AAPL,2025-11-22,cash_dividend,0.26\n",
            "bad.csv line 3: ex_date 2025-11-22 (Saturday) is not an NYSE session",
        ),
        (
            "AAPL,2025-11-20,cash_dividend,0.27\n",
            "bad.csv line 3: cash_dividend of AAPL on 2025-11-20 with value 0.27, but line 2 "
            "gives 0.26",
        ),
    ],
)
def test_a_bad_line_is_named_with_exit_2_and_nothing_written(
    world, tmp_path, capsys, body, message
):
    before = watched(world)
    path = write(
        tmp_path,
        "bad.csv",
        "symbol,ex_date,type,value\nAAPL,2025-11-20,cash_dividend,0.26\n" + body,
    )
    assert main(["import", "actions", str(path)]) == 2
    assert capsys.readouterr().err == f"sigmasight: error: {message}\n"
    assert watched(world) == before


def test_another_value_than_the_stored_one_is_refused(world, tmp_path, capsys):
    import_actions_file(write(tmp_path, "actions.csv", GOOD))
    before = watched(world)
    changed = write(
        tmp_path,
        "changed.csv",
        "symbol,ex_date,type,value\nSPY,2025-11-21,cash_dividend,1.7\nNVDA,2025-11-24,split,2\n",
    )
    assert main(["import", "actions", str(changed)]) == 2
    assert capsys.readouterr().err == (
        "sigmasight: error: changed.csv line 3: split of NVDA on 2025-11-24 is stored with "
        "value 4 (from csv); 2 would change it\n"
    )
    assert watched(world) == before


def test_a_late_split_names_the_stored_risk_dates_it_changes(world, tmp_path, capsys):
    path = write(tmp_path, "late.csv", "symbol,ex_date,type,value\nNVDA,2025-11-24,split,4\n")
    assert main(["import", "actions", str(path)]) == 0
    out = capsys.readouterr().out
    # Bars of NVDA were stored through TUE, so the MON split is late: the dates from MON on of
    # the portfolio that valued NVDA change; HOLDS_AAPL's do not.
    assert "1 rows validated; 1 inserted, 0 updated" in out
    assert (
        "  split 4 ex 2025-11-24 arrived after bars from the ex-date were stored: it changes the "
        "figures of 2 stored risk dates of 1 portfolio (2025-11-24, 2025-11-25); re-run them "
        "with `sigmasight run risk --from 2025-11-24 --to 2025-11-25`\n"
    ) in out


def test_an_action_of_a_factor_etf_changes_every_portfolio(world, tmp_path):
    path = write(
        tmp_path, "spy.csv", "symbol,ex_date,type,value\nSPY,2025-11-25,cash_dividend,1.74\n"
    )
    result = import_actions_file(path)
    assert result.details["restated"] == [
        "dividend 1.74 ex 2025-11-25 arrived after bars from the ex-date were stored: it changes "
        "the figures of 1 stored risk date of 2 portfolios (2025-11-25); re-run them with "
        "`sigmasight run risk --from 2025-11-25 --to 2025-11-25`"
    ]


def test_an_action_ahead_of_the_stored_bars_is_not_late(world, tmp_path):
    path = write(tmp_path, "ahead.csv", "symbol,ex_date,type,value\nNVDA,2025-11-26,split,2\n")
    result = import_actions_file(path)
    assert result.inserted == 1
    assert result.details["restated"] == []


def test_a_missing_file_is_an_input_error(world, tmp_path):
    with pytest.raises(InputError, match="no such file"):
        import_actions_file(tmp_path / "nope.csv")
