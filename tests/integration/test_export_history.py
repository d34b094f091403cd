"""``sigmasight export history`` on a computed history: every row against the stored snapshots.

A small dated world (``tests/history_data``) is computed for 8 sessions by the risk-history
run steps. The exported CSV is compared, row by row, with what the snapshot rows hold (read
here with plain SQL, the document's figures parsed from its JSON text) and with C17 computed
here from the stored NAVs and the flows the test itself defined.
"""

import csv
import datetime as dt
import io
import json
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from cli.main import main
from sigmasight.db import get_engine
from sigmasight.history import HISTORY_COLUMNS
from sigmasight.trading_calendar import previous_trading_day
from tests.history_data import BOOK_DATE, FLOWING, FLOWS, HISTORY, PLAIN, import_world, run_history


@pytest.fixture
def computed(db_url, tmp_path: Path) -> uuid.UUID:
    import_world(tmp_path)
    return run_history()


def export(capsys, *argv: str) -> list[dict[str, str]]:
    assert main(["export", "history", *argv]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == ",".join(HISTORY_COLUMNS)
    return list(csv.DictReader(io.StringIO(out)))


def stored(portfolio: str) -> list[dict[str, Any]]:
    with get_engine().connect() as conn:
        found = conn.execute(
            text(
                "SELECT s.as_of_date, s.nav, s.cash, s.pnl, s.external_flow, s.twr_daily, "
                "s.twr_cumulative, s.hist_var_95, s.cvar_95, s.beta_spy, s.run_id, "
                "s.book_date, s.document::text AS document FROM portfolio_snapshot s "
                "JOIN portfolio p ON p.id = s.portfolio_id WHERE p.external_id = :p "
                "ORDER BY s.as_of_date"
            ),
            {"p": portfolio},
        ).mappings()
        return [dict(row) for row in found]


def flows_between(after: dt.date, through: dt.date) -> float:
    return float(sum((a for d, a in FLOWS if after < d <= through), Decimal(0)))


def number(cell: str) -> float | None:
    return None if cell == "" else float(cell)


@pytest.mark.parametrize("portfolio", [FLOWING, PLAIN])
def test_every_row_matches_the_snapshots_and_c17(computed, capsys, portfolio):
    rows = export(capsys, "--portfolio", portfolio)
    snaps = stored(portfolio)
    assert [r["as_of"] for r in rows] == [d.isoformat() for d in HISTORY]
    assert len(snaps) == len(HISTORY)
    cumulative = 1.0
    for i, (row, snap) in enumerate(zip(rows, snaps, strict=True)):
        day = HISTORY[i]
        document = json.loads(snap["document"])
        # What was stored comes out bit for bit (repr round-trips every double).
        assert number(row["nav"]) == snap["nav"]
        assert number(row["cash"]) == snap["cash"]
        assert number(row["hist_var_95"]) == snap["hist_var_95"]
        assert number(row["cvar_95"]) == snap["cvar_95"]
        assert number(row["beta_spy_150d"]) == snap["beta_spy"]
        assert number(row["param_var_95"]) == document["risk"]["full"]["param_var_95"]["fraction"]
        assert number(row["ann_vol"]) == document["risk"]["full"]["ann_vol"]
        assert number(row["gross_leverage"]) == document["valuation"]["gross_leverage"]
        # VaR and vol are fractions of NAV; the currency VaR is the fraction times NAV.
        assert number(row["hist_var_95"]) == document["risk"]["full"]["hist_var_95"]["fraction"]
        assert 0 < float(row["hist_var_95"]) < 0.2 and 0 < float(row["ann_vol"]) < 2
        assert row["breaches"] == ""
        assert uuid.UUID(row["run_id"]) == snap["run_id"] == computed
        assert snap["book_date"] == BOOK_DATE
        # C17, computed here from the stored NAVs and the flows the test defined.
        before = HISTORY[i - 1] if i else previous_trading_day(day)
        flow = flows_between(before, day) if portfolio == FLOWING else 0.0
        assert number(row["external_flow"]) == pytest.approx(flow, abs=1e-9)
        if i == 0:
            assert row["pnl"] == row["twr_daily"] == row["twr_cumulative"] == ""
            continue
        nav, previous = snaps[i]["nav"], snaps[i - 1]["nav"]
        pnl = nav - previous - flow
        cumulative *= 1.0 + pnl / previous
        assert number(row["pnl"]) == pytest.approx(pnl, rel=1e-12, abs=1e-7)
        assert number(row["twr_daily"]) == pytest.approx(pnl / previous, rel=1e-12, abs=1e-15)
        assert number(row["twr_cumulative"]) == pytest.approx(cumulative - 1.0, rel=1e-12)
        # The document's history block says the same.
        assert document["history"]["pnl"] == number(row["pnl"])
        assert document["history"]["previous_as_of"] == HISTORY[i - 1].isoformat()
    if portfolio == FLOWING:
        # The flows really moved NAV: a 50,000 deposit shows in NAV, not in P&L.
        deposit = HISTORY.index(FLOWS[1][0])
        jump = snaps[deposit]["nav"] - snaps[deposit - 1]["nav"]
        assert jump - float(rows[deposit]["pnl"]) == pytest.approx(50000.0)


def test_range_and_output_file(computed, capsys, tmp_path: Path):
    first, last = HISTORY[2], HISTORY[5]
    window = export(capsys, "--portfolio", FLOWING, "--from", str(first), "--to", str(last))
    assert [r["as_of"] for r in window] == [d.isoformat() for d in HISTORY[2:6]]
    everything = export(capsys, "--portfolio", FLOWING)
    assert window == everything[2:6]
    target = tmp_path / "history.csv"
    assert main(["export", "history", "--portfolio", FLOWING, "-o", str(target)]) == 0
    said = capsys.readouterr()
    assert said.out == "" and f"wrote {len(HISTORY)} session(s)" in said.err
    assert list(csv.DictReader(io.StringIO(target.read_text()))) == everything
    # A range with no computed session is a header, not an error.
    assert export(capsys, "--portfolio", FLOWING, "--to", str(BOOK_DATE)) == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--portfolio", "NOPE"], "--portfolio NOPE: no such portfolio"),
        (
            ["--portfolio", FLOWING, "--from", "2025-11-20", "--to", "2025-11-19"],
            "--from 2025-11-20 is after --to 2025-11-19",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(computed, capsys, tmp_path, argv, message):
    target = tmp_path / "out.csv"
    assert main(["export", "history", *argv, "-o", str(target)]) == 2
    said = capsys.readouterr()
    assert said.err == f"sigmasight: error: {message}\n"
    assert said.out == "" and not target.exists()


def test_a_malformed_date_is_refused_by_the_parser(db_url, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["export", "history", "--portfolio", FLOWING, "--from", "2025-13-01"])
    assert stopped.value.code == 2
    assert "'2025-13-01' is not a date (YYYY-MM-DD)" in capsys.readouterr().err
