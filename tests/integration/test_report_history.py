"""The reports read the actual history from the stored snapshots, point in time, per chunk."""

import datetime as dt
import uuid
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from sigmasight.db import get_engine
from sigmasight.reports import fmt
from sigmasight.reports.model import build_view
from sigmasight.reports.render import render_report
from sigmasight.runs.reports import collect_inputs, narrative_writer
from sigmasight.settings import get_settings
from tests import history_world as world

PORTFOLIOS = ["HIST_A", "HIST_B", "HIST_C"]


@pytest.fixture
def computed(db_url, tmp_path: Path, monkeypatch) -> uuid.UUID:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    world.load_world(tmp_path)
    return world.compute_history()


def stored(portfolio: str, through: dt.date) -> list[tuple[Any, ...]]:
    with get_engine().connect() as conn:
        return [
            tuple(row)
            for row in conn.execute(
                text(
                    "SELECT s.as_of_date, s.nav, s.external_flow, s.twr_cumulative "
                    "FROM portfolio_snapshot s JOIN portfolio p ON p.id = s.portfolio_id "
                    "WHERE p.external_id = :p AND s.as_of_date <= :d ORDER BY s.as_of_date"
                ),
                {"p": portfolio, "d": through},
            )
        ]


@pytest.mark.parametrize("as_of", [world.LAST, dt.date(2025, 11, 25)])
def test_each_report_of_a_chunk_gets_its_own_series_up_to_its_date(computed, as_of):
    settings = get_settings()
    with narrative_writer(settings) as writer:
        collected = collect_inputs(settings, as_of, PORTFOLIOS, writer)
    assert not collected.failed
    by_portfolio = {data.document.portfolio_id: data for _, data in collected.inputs}
    assert sorted(by_portfolio) == PORTFOLIOS
    for portfolio, data in by_portfolio.items():
        rows = stored(portfolio, as_of)
        first = world.LATE_BOOK if portfolio == "HIST_B" else world.FIRST
        history = data.history
        assert history is not None
        assert list(history.dates) == [r[0] for r in rows]
        assert list(history.dates) == [d for d in world.RANGE if first <= d <= as_of]
        assert list(history.nav) == [r[1] for r in rows]
        assert list(history.external_flow) == [r[2] for r in rows]
        assert list(history.twr_cumulative) == [r[3] for r in rows]
        assert history.since == first
        assert history.cumulative_twr == rows[-1][3]
        files = render_report(data)
        html, md = files["html"].decode(), files["md"].decode()
        assert 'id="actual-history"' in html and "Actual history (stored snapshots)" in html
        assert (
            "Actual history (stored snapshots): cumulative time-weighted return "
            f"{fmt.pct(rows[-1][3], sign=True)} since {first}, {len(rows)} sessions computed."
        ) in md
    assert any(by_portfolio["HIST_A"].history.external_flow)  # type: ignore[union-attr]
    assert not any(by_portfolio["HIST_C"].history.external_flow)  # type: ignore[union-attr]


def test_the_first_session_has_no_actual_chart(computed):
    settings = get_settings()
    with narrative_writer(settings) as writer:
        collected = collect_inputs(settings, world.LATE_BOOK, ["HIST_B"], writer)
    (_, data), *_ = collected.inputs
    assert data.history is not None and data.history.sessions == 1
    files = render_report(data)
    html = files["html"].decode()
    assert 'id="actual-history"' not in html
    assert "not the portfolio&#39;s performance" in html
    assert "Actual history (stored snapshots): 1 session(s) computed" in files["md"].decode()


def test_the_explain_sections_read_the_stored_blocks_and_series(computed):
    settings = get_settings()
    with narrative_writer(settings) as writer:
        collected = collect_inputs(settings, world.LAST, ["HIST_A"], writer)
    (_, data), *_ = collected.inputs
    history = data.history
    assert history is not None
    with get_engine().connect() as conn:
        rows = conn.execute(
            text(
                "SELECT s.pnl, s.twr_daily, s.hist_var_95, s.hist_var_99 "
                "FROM portfolio_snapshot s JOIN portfolio p ON p.id = s.portfolio_id "
                "WHERE p.external_id = 'HIST_A' AND s.as_of_date <= :d ORDER BY s.as_of_date"
            ),
            {"d": world.LAST},
        ).all()
    assert list(history.pnl) == [r[0] for r in rows]
    assert list(history.twr_daily) == [r[1] for r in rows]
    assert list(history.var_95) == [r[2] for r in rows]
    assert list(history.var_99) == [r[3] for r in rows]
    assert data.path is not None and data.path.returns is not None
    assert data.path.returns.size == len(data.path.dates) - 1

    document = data.document
    assert document.attribution is not None and document.change is not None
    assert document.backtest is None  # a dozen sessions: fewer than 60
    files = render_report(data)
    html = files["html"].decode()
    holding = fmt.typographic(fmt.money(document.attribution.holding_pnl, 0, sign=True))
    assert holding in html
    effect = document.change.hist_var_95.book_effect
    assert fmt.typographic(fmt.pct(effect, 3, sign=True)) in html
    # The charted backtest days are the ones the risk run counted (its warning says how many).
    warning = next(w for w in document.warnings if w.startswith("backtest:"))
    charted = html.count("data-exception=")
    counted = int(warning.split()[1])
    assert len(build_view(data).explained.backtest_days) == counted
    assert charted <= counted
    assert f"No backtest statistics: {warning}" in unescape(html)
