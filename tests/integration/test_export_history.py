"""``sigmasight export history`` on a computed history: every row against the stored snapshots.

The history world (``tests/history_world``: dated books, a book replaced mid-range, a late
first book, trades, flows on a session and on a weekend, Thanksgiving) is computed by the
risk-history run steps. The exported CSV is compared, row by row, with what the snapshot rows
hold (read here with plain SQL, the document's figures parsed from its JSON text) and with C17
computed here from the stored NAVs and the flows the world defines.
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
from tests import history_world as world

PORTFOLIOS = ("HIST_A", "HIST_B", "HIST_C")


@pytest.fixture
def computed(db_url, tmp_path: Path) -> uuid.UUID:
    world.load_world(tmp_path)
    return world.compute_history()


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


def flows_between(portfolio: str, after: dt.date, through: dt.date) -> float:
    amounts = (
        f.amount for f in world.FLOWS if f.portfolio == portfolio and after < f.flow_date <= through
    )
    return float(sum(amounts, Decimal(0)))


def number(cell: str) -> float | None:
    return None if cell == "" else float(cell)


def expected_dates(portfolio: str) -> list[dt.date]:
    first = world.LATE_BOOK if portfolio == "HIST_B" else world.FIRST
    return [d for d in world.RANGE if d >= first]


@pytest.mark.parametrize("portfolio", PORTFOLIOS)
def test_every_row_matches_the_snapshots_and_c17(computed, capsys, portfolio):
    rows = export(capsys, "--portfolio", portfolio)
    snaps = stored(portfolio)
    dates = expected_dates(portfolio)
    assert [r["as_of"] for r in rows] == [d.isoformat() for d in dates]
    assert [s["as_of_date"] for s in snaps] == dates
    cumulative = 1.0
    for i, (row, snap) in enumerate(zip(rows, snaps, strict=True)):
        document = json.loads(snap["document"])
        # What was stored comes out bit for bit (repr round-trips every double).
        assert number(row["nav"]) == snap["nav"]
        assert number(row["cash"]) == snap["cash"]
        assert number(row["hist_var_95"]) == snap["hist_var_95"]
        assert number(row["cvar_95"]) == snap["cvar_95"]
        assert number(row["beta_spy_150d"]) == snap["beta_spy"] == document["beta_spy"]["150d"]
        assert number(row["param_var_95"]) == document["risk"]["full"]["param_var_95"]["fraction"]
        assert number(row["ann_vol"]) == document["risk"]["full"]["ann_vol"]
        assert number(row["gross_leverage"]) == document["valuation"]["gross_leverage"]
        # VaR, CVaR and vol are fractions of NAV (the document's currency VaR is fraction x NAV).
        var = document["risk"]["full"]["hist_var_95"]
        assert number(row["hist_var_95"]) == var["fraction"]
        assert var["currency"] == pytest.approx(var["fraction"] * snap["nav"], rel=1e-12)
        assert 0 < float(row["hist_var_95"]) <= float(row["cvar_95"]) < 0.2
        assert 0 < float(row["ann_vol"]) < 2
        in_breach = [
            x for x in document.get("limits") or [] if x["status"] in ("new", "continuing")
        ]
        assert int(row["breaches"]) == len(in_breach)
        assert uuid.UUID(row["run_id"]) == snap["run_id"] == computed
        assert snap["book_date"].isoformat() == document["book"]["book_date"]
        # C17, computed here from the stored NAVs and the flows the world defines.
        before = dates[i - 1] if i else previous_trading_day(dates[0])
        flow = flows_between(portfolio, before, dates[i])
        assert number(row["external_flow"]) == flow
        if i == 0:
            assert row["pnl"] == row["twr_daily"] == row["twr_cumulative"] == ""
            continue
        nav, previous = snaps[i]["nav"], snaps[i - 1]["nav"]
        pnl = nav - previous - flow
        cumulative *= 1.0 + pnl / previous
        assert number(row["pnl"]) == pytest.approx(pnl, rel=1e-12, abs=1e-7)
        assert number(row["twr_daily"]) == pytest.approx(pnl / previous, rel=1e-12, abs=1e-15)
        assert number(row["twr_cumulative"]) == pytest.approx(cumulative - 1.0, rel=1e-12)
        # The document's history block says the same, to the bit.
        assert document["history"]["pnl"] == number(row["pnl"])
        assert document["history"]["twr_cumulative"] == number(row["twr_cumulative"])
        assert document["history"]["previous_as_of"] == dates[i - 1].isoformat()


def test_flows_books_and_holidays_show_in_the_series(computed, capsys):
    rows = {r["as_of"]: r for r in export(capsys, "--portfolio", "HIST_A")}
    snaps = {s["as_of_date"].isoformat(): s for s in stored("HIST_A")}
    # The 25,000 deposit of 11-24 is in NAV and the flow column, not in P&L.
    deposit = rows["2025-11-24"]
    assert float(deposit["external_flow"]) == 25000.0
    jump = snaps["2025-11-24"]["nav"] - snaps["2025-11-21"]["nav"]
    assert jump - float(deposit["pnl"]) == pytest.approx(25000.0, abs=1e-6)
    # The Saturday withdrawal counts on Monday 12-01, the day the second book took over.
    assert float(rows["2025-12-01"]["external_flow"]) == -5000.0
    assert snaps["2025-11-28"]["book_date"] == world.BOOK_1
    assert snaps["2025-12-01"]["book_date"] == world.BOOK_2
    # Thanksgiving is no session: no row, and the day after follows the 26th.
    assert world.HOLIDAY.isoformat() not in rows
    nav_26, nav_28 = snaps["2025-11-26"]["nav"], snaps["2025-11-28"]["nav"]
    assert float(rows["2025-11-28"]["pnl"]) == pytest.approx(nav_28 - nav_26, rel=1e-12)


def test_range_and_output_file(computed, capsys, tmp_path: Path):
    first, last = world.RANGE[2], world.RANGE[5]
    window = export(capsys, "--portfolio", "HIST_A", "--from", str(first), "--to", str(last))
    assert [r["as_of"] for r in window] == [d.isoformat() for d in world.RANGE[2:6]]
    everything = export(capsys, "--portfolio", "HIST_A")
    assert window == everything[2:6]
    # Bounds need not be sessions: a weekend and a holiday bound the same rows.
    loose = export(
        capsys, "--portfolio", "HIST_A", "--from", "2025-11-22", "--to", str(world.HOLIDAY)
    )
    assert [r["as_of"] for r in loose] == ["2025-11-24", "2025-11-25", "2025-11-26"]
    target = tmp_path / "history.csv"
    assert main(["export", "history", "--portfolio", "HIST_A", "-o", str(target)]) == 0
    said = capsys.readouterr()
    assert said.out == "" and f"wrote {len(everything)} session(s)" in said.err
    assert list(csv.DictReader(io.StringIO(target.read_text()))) == everything
    # A range with no computed session is a header, not an error.
    assert export(capsys, "--portfolio", "HIST_B", "--to", str(world.FIRST)) == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--portfolio", "NOPE"], "--portfolio NOPE: no such portfolio"),
        (
            ["--portfolio", "HIST_A", "--from", "2025-11-20", "--to", "2025-11-19"],
            "--from 2025-11-20 is after --to 2025-11-19",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(db_url, capsys, tmp_path, argv, message):
    world.load_world(tmp_path)
    target = tmp_path / "out.csv"
    assert main(["export", "history", *argv, "-o", str(target)]) == 2
    said = capsys.readouterr()
    assert said.err == f"sigmasight: error: {message}\n"
    assert said.out == "" and not target.exists()


def test_a_malformed_date_is_refused_by_the_parser(db_url, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["export", "history", "--portfolio", "HIST_A", "--from", "2025-13-01"])
    assert stopped.value.code == 2
    assert "'2025-13-01' is not a date (YYYY-MM-DD)" in capsys.readouterr().err
