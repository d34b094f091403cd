"""The tear sheet's explain sections: breaches first, contributions, factor split, benchmark,
attribution, VaR change, backtest, return statistics and limits, in HTML and Markdown.

The input is a real engine document with every block (``tests.explain_world``); figures in
the output are checked against independent computations from the same input.
"""

import copy
import re
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sigmasight.reports import fmt
from sigmasight.reports.model import ActualHistory, build_view
from sigmasight.reports.render import render_report
from tests.explain_world import full_document, report_input
from tests.reports_helpers import external_references, inspect_html

EXPLAIN_SECTIONS = {
    "limits",
    "contributions",
    "sector-risk",
    "factor-risk",
    "benchmark",
    "var-change",
    "attribution",
    "backtest",
    "monthly-returns",
    "return-distribution",
    "drawdowns",
    "rolling",
}
EXPLAIN_CHARTS = [
    "contrib-var",
    "contrib-vol",
    "sector-risk",
    "factor-split",
    "factor-shares",
    "attribution",
    "backtest",
    "return-distribution",
    "rolling",
]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return full_document()


@pytest.fixture(scope="module")
def files(document) -> dict[str, str]:
    return {k: v.decode() for k, v in render_report(report_input(document)).items()}


def section(html: str, section_id: str) -> str:
    """The HTML of one section (from its opening tag to the next section or the footer)."""
    start = html.index(f'id="{section_id}"')
    end = min(
        (i for i in (html.find("<section", start), html.find("<footer", start)) if i > 0),
        default=len(html),
    )
    return html[start:end]


def test_every_explain_section_and_chart_is_there_and_self_contained(files):
    facts = inspect_html(files["html"])
    assert facts.ids >= EXPLAIN_SECTIONS | {"breaches"}
    assert facts.charts[: len(EXPLAIN_CHARTS)] == EXPLAIN_CHARTS
    assert external_references(facts) == []
    assert "<script" not in files["html"]
    assert "Not available" not in files["html"]  # every block is in this document


def test_breaches_come_first_and_list_new_continuing_and_unknown(files, document):
    html = files["html"]
    assert html.index('id="breaches"') < html.index('id="key-figures"')
    banner = section(html, "breaches")
    expected = [e for e in document["limits"] if e["status"] in {"new", "continuing", "unknown"}]
    order = {"new": 0, "continuing": 1, "unknown": 2}
    expected.sort(key=lambda e: (order[e["status"]], e["limit"]))
    rows = re.findall(r'<span class="status status-(\w+)">', banner)
    assert rows == [e["status"] for e in expected]
    assert "Limit breaches: 2 in breach, 1 unknown" in banner
    var = next(e for e in document["limits"] if e["limit"] == "hist_var_95_fraction")
    assert fmt.pct(var["value"]) in banner and fmt.pct(var["bound"]) in banner
    assert "Unknown: figure not computed" in banner
    # The full table lists every limit, breaches first, ok last.
    table = re.findall(r'<span class="status status-(\w+)">', section(html, "limits"))
    assert table == ["new", "continuing", "unknown", "resolved", "ok", "ok"]
    md = files["md"]
    assert md.index("## Limit breaches") < md.index("## Executive summary")
    assert md.count("| **New breach** |") == 1


def test_no_banner_without_an_alert_and_a_plain_statement_without_limits(document):
    quiet = copy.deepcopy(document)
    quiet["limits"] = [e | {"status": "ok"} for e in quiet["limits"] if e["value"] is not None]
    html = render_report(report_input(quiet))["html"].decode()
    assert 'id="breaches"' not in html and 'id="limits"' in html
    none = copy.deepcopy(document)
    del none["limits"]
    files = render_report(report_input(none))
    html, md = files["html"].decode(), files["md"].decode()
    assert 'id="breaches"' not in html
    assert "this document has no limits block" in section(html, "limits")
    assert "## Limit breaches" not in md and "this document has no limits block" in md
    empty = copy.deepcopy(document)
    empty["limits"] = []
    assert "No limits are configured" in render_report(report_input(empty))["html"].decode()


def test_top_contributors_are_the_documents_largest_var_components(files, document):
    positions = document["decomposition"]["positions"]
    ranked = sorted(positions, key=lambda p: -abs(p["param_var_95"]["currency"]))
    html = section(files["html"], "contributions")
    symbols = re.findall(r"<tr><td>([^<]+?)(?: <span|</td>)", html)
    assert symbols == [p["symbol"] for p in ranked][:10]
    for p in ranked:
        assert fmt.typographic(fmt.money(p["param_var_95"]["currency"], 0)) in html
        assert fmt.typographic(fmt.pct(p["ctr_share"], 1)) in html
    # The chart has one bar per contributor, and the parts add up to the book's figures.
    assert len(
        re.findall(r"<g><title>", html.split('data-chart="contrib-var"')[1].split("</svg>")[0])
    ) == len(ranked)
    total = sum(p["param_var_95"]["currency"] for p in positions)
    assert total == pytest.approx(document["risk"]["full"]["param_var_95"]["currency"], rel=1e-10)
    assert fmt.money(total, 0) in html


def test_sector_and_factor_split_show_the_stored_shares(files, document):
    decomposition = document["decomposition"]
    sector = section(files["html"], "sector-risk")
    for name, group in decomposition["by_sector"].items():
        assert name in sector and fmt.pct(group["ctr_share"], 1) in sector
    factor = section(files["html"], "factor-risk")
    split = decomposition["factor"]
    systematic = split["systematic_variance"] / split["total_variance"]
    assert fmt.pct(systematic, 1) in factor
    assert fmt.pct(split["specific_variance"] / split["total_variance"], 1) in factor
    assert systematic == pytest.approx(document["factor_exposures"]["r2"], rel=1e-9)
    for share in split["contributions"].values():
        assert fmt.typographic(fmt.pct(share, 1)) in factor


def test_benchmark_change_and_attribution_show_the_stored_blocks(files, document):
    html = files["html"]
    bench = section(html, "benchmark")
    assert fmt.pct(document["benchmark"]["tracking_error"], 2) in bench
    assert fmt.number(document["benchmark"]["information_ratio"], 2) in bench
    change = section(html, "var-change")
    split = document["change"]["hist_var_95"]
    assert fmt.typographic(fmt.pct(split["book_effect"], 3, sign=True)) in change
    assert fmt.typographic(fmt.pct(split["market_effect"], 3, sign=True)) in change
    # previous + book + market = today
    assert split["previous"] + split["book_effect"] + split["market_effect"] == pytest.approx(
        document["risk"]["full"]["hist_var_95"]["fraction"], rel=1e-12
    )
    attribution = section(html, "attribution")
    block = document["attribution"]
    for key in ("holding_pnl", "factor_pnl", "specific_pnl", "trading_pnl"):
        assert fmt.typographic(fmt.money(block[key], 0, sign=True)) in attribution
    assert block["holding_pnl"] + block["trading_pnl"] == pytest.approx(document["history"]["pnl"])
    bars = attribution.split('data-chart="attribution"')[1].split("</svg>")[0]
    assert bars.count("<g><title>") == len(block["by_factor"]) + 1  # factors and specific


def test_backtest_marks_the_exceptions_the_stored_block_counts(files, document):
    data = report_input(document)
    history = data.history
    assert history is not None
    frame = pd.DataFrame(
        {"nav": history.nav, "pnl": history.pnl, "v95": history.var_95, "v99": history.var_99},
        index=history.dates,
        dtype="float64",
    )
    limit = (frame["v95"] * frame["nav"]).shift(1)
    usable = frame["pnl"].notna() & limit.notna()
    tail = frame[usable].tail(250)
    exceptions = tail.index[-tail["pnl"] > limit[usable].tail(250)]
    html = section(files["html"], "backtest")
    marked = re.findall(r'data-exception="([0-9-]+)"', html)
    assert marked == [d.isoformat() for d in exceptions]
    assert len(marked) == document["backtest"]["var_95"]["exceptions"]
    assert f'<td class="n">{document["backtest"]["var_99"]["exceptions"]}</td>' in html
    assert "zone-yellow" in html or "zone-green" in html or "zone-red" in html
    md = files["md"]
    assert md.count(" | yes |") + md.count(" | no |") == len(marked)


def test_monthly_returns_match_pandas_on_the_actual_series(files, document):
    history = report_input(document).history
    assert history is not None
    when = pd.DatetimeIndex(history.dates[1:])
    series = pd.Series(history.twr_daily[1:], index=when, dtype="float64")
    known = series.dropna()
    known_when = pd.DatetimeIndex(known.index)
    monthly = (1.0 + known).groupby([known_when.year, known_when.month]).prod() - 1.0
    html = section(files["html"], "monthly-returns")
    assert "actual time-weighted returns from stored snapshots" in html
    cells = re.findall(r'<td class="n(?: strong)?"(?: style="[^"]*")?>([^<]+)</td>', html)
    expected = []
    for year in sorted(set(when.year)):
        for month in range(1, 13):
            value = monthly.get((year, month))
            expected.append(
                fmt.typographic(fmt.pct(value, 1)) if value is not None else fmt.MISSING
            )
        yearly = float(np.prod(1.0 + known[known_when.year == year])) - 1.0
        expected.append(fmt.typographic(fmt.pct(yearly, 1)))
    assert cells == expected


def test_a_short_history_uses_the_labelled_replay(document):
    data = report_input(document)
    assert data.history is not None
    short = data.history
    keep = 30
    cut = ActualHistory(
        short.dates[-keep:],
        short.nav[-keep:],
        short.external_flow[-keep:],
        short.twr_cumulative[-keep:],
        short.pnl[-keep:],
        short.twr_daily[-keep:],
        short.var_95[-keep:],
        short.var_99[-keep:],
    )
    view = build_view(report_input(document, history=cut))
    assert view.explained.series is not None and view.explained.series.kind == "replay"
    html = render_report(report_input(document, history=cut))["html"].decode()
    assert (
        "replay of today&#39;s book over past prices (not the portfolio&#39;s performance)"
        in section(html, "monthly-returns")
    )
    # Backtest days need the stored series: 29 sessions give 29 charted days, no statistics.
    assert len(view.explained.backtest_days) == keep - 1


def test_missing_blocks_say_why_and_show_no_number(document):
    bare = copy.deepcopy(document)
    for key in (
        "decomposition",
        "benchmark",
        "attribution",
        "change",
        "backtest",
        "limits",
        "history",
    ):
        bare.pop(key, None)
    bare["warnings"] = [
        "attribution: needs the previous session computed (book and NAV of t-1)",
        "change: needs the previous session computed",
        "backtest: 12 sessions with an actual P&L and the previous VaR (needs 60)",
        "the risk decomposition needs at least 2 daily returns of today's book; it has 1",
    ]
    files = render_report(report_input(bare, history=None, path=None))
    html = files["html"].decode()
    for section_id, reason in (
        ("attribution", "attribution: needs the previous session computed"),
        ("var-change", "change: needs the previous session computed"),
        ("backtest", "backtest: 12 sessions"),
        ("contributions", "the risk decomposition needs at least 2 daily returns"),
        ("sector-risk", "the risk decomposition needs at least 2 daily returns"),
        ("benchmark", "the document has no benchmark figures"),
        ("monthly-returns", "no daily return series"),
    ):
        part = section(html, section_id)
        assert reason in part, section_id
        assert "$" not in re.sub(r"<title>.*?</title>", "", part), section_id
    for chart in ("contrib-var", "contrib-vol", "factor-split"):
        assert f'data-chart="{chart}"' not in html
    md = files["md"].decode()
    assert "Not available: attribution: needs the previous session computed" in md
    assert "No backtest statistics: backtest: 12 sessions" in md
