"""Risk across corporate actions on a real PostgreSQL (RISK-CONVENTIONS C14, C19-C21).

The world (``tests/actions_world.py``) stores as-traded closes and three actions on one
ex-date E: a 4-for-1 split, a 1-for-10 reverse split and a special dividend, each on a
stock held long, held short and under a call. The references below value the books and
build the return series from the generated closes with pandas and py_vollib.
"""

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from sigmasight.db import session_scope
from tests import actions_world as world
from tests.history_world import single_date


@pytest.fixture
def raw(engine, tmp_path: Path) -> pd.DataFrame:
    return world.load(tmp_path)


def test_books_keep_their_value_across_a_split_a_reverse_split_and_a_special_dividend(raw):
    single_date(world.BEFORE)
    single_date(world.E)
    before, on_e = world.documents(world.BEFORE), world.documents(world.E)
    for pid in ("PRE_LONG", "PRE_SHORT", "PRE_OPT"):
        for day, docs in ((world.BEFORE, before), (world.E, on_e)):
            doc = docs[pid]
            cash, lines = world.book_on(pid, day)
            values = world.value(lines, raw, day)
            assert doc["valuation"]["cash"] == pytest.approx(cash, rel=1e-12)
            assert doc["valuation"]["nav"] == pytest.approx(cash + sum(values.values()), rel=1e-9)
            got = {p["symbol"]: p for p in doc["positions"]}
            assert set(got) == set(lines)
            for symbol, line in lines.items():
                assert got[symbol]["quantity"] == pytest.approx(line["quantity"], rel=1e-12)
                assert got[symbol]["market_value"] == pytest.approx(values[symbol], rel=1e-9)
                if "strike" not in line:  # valued at the as-traded close of the day
                    assert got[symbol]["price"] == world.close_on(raw, day, symbol)
        # No false return: the day's P&L is the market's, all of it from holding the book.
        history = on_e[pid]["history"]
        nav_before = before[pid]["valuation"]["nav"]
        assert history["pnl"] == pytest.approx(on_e[pid]["valuation"]["nav"] - nav_before)
        assert abs(history["twr_daily"]) < 0.05, pid
        attribution = on_e[pid]["attribution"]
        assert attribution["holding_pnl"] == pytest.approx(history["pnl"], rel=1e-9)
        assert abs(attribution["trading_pnl"]) < 1e-6 * nav_before
    assert before["PRE_LONG"]["price_basis"] == "split_only"  # no dividend known yet
    assert on_e["PRE_LONG"]["price_basis"] == "total_return"


def test_the_risk_of_a_book_across_the_split_uses_one_basis(raw):
    """PRE_LONG on E and later: VaR and vol equal those of the adjusted series (no -75 %)."""
    for day in (world.E, world.LAST):
        single_date(day)
        doc = world.documents(day)["PRE_LONG"]
        cash, lines = world.book_on("PRE_LONG", day)
        values = world.value(lines, raw, day)
        nav = cash + sum(values.values())
        weights = pd.Series(values) / nav
        port = world.adjusted_returns(raw, day)[list(weights.index)] @ weights
        full = doc["risk"]["full"]
        assert full["n_obs"] == len(port)
        assert full["ann_vol"] == pytest.approx(port.std(ddof=1) * math.sqrt(252), rel=1e-9)
        var95 = -np.quantile(port.to_numpy(), 0.05, method="linear")
        assert full["hist_var_95"]["fraction"] == pytest.approx(var95, rel=1e-9)
        assert doc["performance"]["max_drawdown"] < 0.5


def assert_close(left: Any, right: Any, path: str = "") -> None:
    """Equal structures; numbers to a relative 1e-9 (absolute 1e-9 near zero)."""
    if isinstance(left, dict):
        assert isinstance(right, dict) and left.keys() == right.keys(), path
        for key in left:
            assert_close(left[key], right[key], f"{path}.{key}")
    elif isinstance(left, list):
        assert isinstance(right, list) and len(left) == len(right), path
        for i, (a, b) in enumerate(zip(left, right, strict=True)):
            assert_close(a, b, f"{path}[{i}]")
    elif isinstance(left, float) and isinstance(right, float):
        assert right == pytest.approx(left, rel=1e-9, abs=1e-9), path
    else:
        assert left == right, path


def test_a_split_adjusted_panel_gives_the_figures_of_the_panel_imported_adjusted(raw):
    days = (world.SESSIONS[-2], world.LAST)
    for day in days:
        single_date(day)
    from_actions = world.documents(world.LAST)["POST"]
    world.clear_results()
    world.drop_actions()
    world.store_bars(world.adjusted_closes(raw))  # the vendor's adjusted closes, no actions
    for day in days:
        single_date(day)
    imported = world.documents(world.LAST)["POST"]
    assert from_actions.pop("price_basis") == "total_return"
    assert imported.pop("price_basis") == "split_only"
    assert from_actions["change"] is not None and from_actions["attribution"] is not None
    assert_close(from_actions, imported)


def test_a_date_before_the_ex_date_computes_as_before_the_actions_were_known(engine, tmp_path):
    raw = world.load(tmp_path, actions=False)
    first_run = single_date(world.BEFORE)
    before = world.documents(world.BEFORE)
    world.store_actions()  # the actions arrive after the date was computed
    single_date(world.BEFORE)
    assert world.documents(world.BEFORE) == before
    with session_scope() as session:
        runs = set(
            session.execute(
                text("SELECT DISTINCT run_id FROM portfolio_snapshot WHERE as_of_date = :d"),
                {"d": world.BEFORE},
            ).scalars()
        )
    assert runs == {first_run}  # nothing was rewritten
    # NAV before the ex-date uses the pre-split quantity and the pre-split price.
    four = next(p for p in before["PRE_LONG"]["positions"] if p["symbol"] == "FOUR")
    assert four["quantity"] == 100 and four["price"] == world.close_on(raw, world.BEFORE, "FOUR")
