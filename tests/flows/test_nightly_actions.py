"""A split between two nightly runs (issue 12, item 4), through the real nightly-risk flow.

Night 1 computes E-1 with nothing known about the actions. Before night 2, E's as-traded bars
arrive (a quarter of the price for the 4-for-1 split, ten times for the reverse split, the
special dividend off the other) together with the actions. The second night must neither
store a false return nor value the old quantity at the new price.
"""

import datetime as dt
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from flows.nightly_risk import nightly_risk
from sigmasight.db import session_scope
from tests import actions_world as world


def run(as_of: dt.date) -> None:
    state = nightly_risk(as_of=as_of, return_state=True)
    assert state.is_completed(), state.message


def snapshots(day: dt.date) -> dict[str, dict[str, Any]]:
    with session_scope() as session:
        rows = session.execute(
            text(
                "SELECT p.external_id, s.nav, s.cash, s.pnl, s.twr_daily, s.daily_pnl, "
                "s.daily_return, s.hist_var_95 FROM portfolio_snapshot s "
                "JOIN portfolio p ON p.id = s.portfolio_id WHERE s.as_of_date = :d"
            ),
            {"d": day},
        ).mappings()
        return {str(r["external_id"]): dict(r) for r in rows}


def positions(day: dt.date) -> dict[tuple[str, str], tuple[float, float]]:
    with session_scope() as session:
        rows = session.execute(
            text(
                "SELECT p.external_id, r.symbol, r.quantity, r.price FROM position_risk r "
                "JOIN portfolio p ON p.id = r.portfolio_id WHERE r.as_of_date = :d"
            ),
            {"d": day},
        ).all()
    return {(str(pid), str(symbol)): (float(q), float(px)) for pid, symbol, q, px in rows}


def test_a_split_between_two_nightly_runs_stores_no_false_return(engine, tmp_path: Path):
    raw = world.load(tmp_path, actions=False, through=world.BEFORE)
    run(world.BEFORE)
    world.store_bars(raw, through=world.E)  # the night's bars, as traded
    world.store_actions()
    run(world.E)
    before, after = snapshots(world.BEFORE), snapshots(world.E)
    held = positions(world.E)
    for pid in ("PRE_LONG", "PRE_SHORT", "PRE_OPT"):
        cash, lines = world.book_on(pid, world.E)
        values = world.value(lines, raw, world.E)
        nav = cash + sum(values.values())
        # The new quantity at the new price (and the dividend in cash), not the old one.
        assert after[pid]["nav"] == pytest.approx(nav, rel=1e-9)
        assert after[pid]["cash"] == pytest.approx(cash, rel=1e-12)
        for symbol, line in lines.items():
            quantity, price = held[(pid, symbol)]
            assert quantity == pytest.approx(line["quantity"], rel=1e-12)
            if "strike" not in line:
                assert price == world.close_on(raw, world.E, symbol)
        # The stored day's return is the market's, not the split's.
        pnl = after[pid]["nav"] - before[pid]["nav"]
        assert after[pid]["pnl"] == pytest.approx(pnl)
        assert after[pid]["twr_daily"] == pytest.approx(pnl / before[pid]["nav"])
        assert abs(after[pid]["twr_daily"]) < 0.05, pid
        assert after[pid]["daily_pnl"] == pytest.approx(pnl, rel=1e-9)
        assert abs(after[pid]["daily_return"]) < 0.05, pid
    # Nor a false return in the stored VaR: the window is in one basis.
    cash, lines = world.book_on("PRE_LONG", world.E)
    values = world.value(lines, raw, world.E)
    weights = pd.Series(values) / (cash + sum(values.values()))
    port = world.adjusted_returns(raw, world.E)[list(weights.index)] @ weights
    var95 = -np.quantile(port.to_numpy(), 0.05, method="linear")
    assert after["PRE_LONG"]["hist_var_95"] == pytest.approx(var95, rel=1e-9)
    assert math.isfinite(before["PRE_LONG"]["hist_var_95"])
