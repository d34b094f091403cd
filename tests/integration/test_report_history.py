"""The reports read the actual history from the stored snapshots, point in time, per chunk."""

import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from sigmasight.db import get_engine
from sigmasight.reports import fmt
from sigmasight.reports.render import render_report
from sigmasight.runs.reports import collect_inputs, narrative_writer
from sigmasight.settings import get_settings
from tests.history_data import FLOWING, HISTORY, PLAIN, import_world, run_history


@pytest.fixture
def computed(db_url, tmp_path: Path, monkeypatch) -> uuid.UUID:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    import_world(tmp_path)
    return run_history()


def stored(portfolio: str) -> list[tuple[Any, ...]]:
    with get_engine().connect() as conn:
        return [
            tuple(row)
            for row in conn.execute(
                text(
                    "SELECT s.as_of_date, s.nav, s.external_flow, s.twr_cumulative "
                    "FROM portfolio_snapshot s JOIN portfolio p ON p.id = s.portfolio_id "
                    "WHERE p.external_id = :p ORDER BY s.as_of_date"
                ),
                {"p": portfolio},
            )
        ]


@pytest.mark.parametrize("as_of", [HISTORY[-1], HISTORY[3]])
def test_each_report_of_a_chunk_gets_its_own_series_up_to_its_date(computed, as_of):
    settings = get_settings()
    with narrative_writer(settings) as writer:
        collected = collect_inputs(settings, as_of, [FLOWING, PLAIN], writer)
    assert not collected.failed
    by_portfolio = {data.document.portfolio_id: data for _, data in collected.inputs}
    assert set(by_portfolio) == {FLOWING, PLAIN}
    for portfolio, data in by_portfolio.items():
        rows = [r for r in stored(portfolio) if r[0] <= as_of]
        history = data.history
        assert history is not None
        assert list(history.dates) == [r[0] for r in rows] == [d for d in HISTORY if d <= as_of]
        assert list(history.nav) == [r[1] for r in rows]
        assert list(history.external_flow) == [r[2] for r in rows]
        assert list(history.twr_cumulative) == [r[3] for r in rows]
        assert history.since == HISTORY[0]
        assert history.cumulative_twr == rows[-1][3]
        files = render_report(data)
        html, md = files["html"].decode(), files["md"].decode()
        assert 'id="actual-history"' in html and "Actual history (stored snapshots)" in html
        assert (
            "Actual history (stored snapshots): cumulative time-weighted return "
            f"{fmt.pct(rows[-1][3], sign=True)} since {HISTORY[0]}, {len(rows)} sessions computed."
        ) in md
    flowing = by_portfolio[FLOWING].history
    assert flowing is not None and any(flowing.external_flow)
    plain = by_portfolio[PLAIN].history
    assert plain is not None and not any(plain.external_flow)


def test_the_first_session_has_no_actual_chart(computed):
    settings = get_settings()
    with narrative_writer(settings) as writer:
        collected = collect_inputs(settings, HISTORY[0], [FLOWING], writer)
    (_, data), *_ = collected.inputs
    assert data.history is not None and data.history.sessions == 1
    html = render_report(data)["html"].decode()
    assert 'id="actual-history"' not in html
    assert "not the portfolio&#39;s performance" in html
