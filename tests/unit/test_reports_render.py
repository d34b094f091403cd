"""Report rendering without a database: the four formats from a recorded risk document."""

import base64
import copy
import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from jinja2 import UndefinedError

from sigmasight.documents import Position, RiskDocument
from sigmasight.reports import charts, fmt, templating
from sigmasight.reports.model import (
    Narrative,
    PositionDetail,
    ReportInput,
    ReturnPath,
    ScenarioInfo,
    build_view,
)
from sigmasight.reports.narrative import template_narrative
from sigmasight.reports.render import (
    CSV_COLUMNS,
    FILE_NAMES,
    ORIGINAL_CSV_COLUMNS,
    render_report,
)
from sigmasight.reports.series import asset_weights, book_returns, wealth_and_drawdown
from sigmasight.risk import stats
from tests.reports_helpers import external_references, inspect_html, png_pixels

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "risk_document_hedge_fund.json"
DOC: dict[str, Any] = json.loads(FIXTURE.read_text())
SECTORS = {"AAPL": "Technology", "JPM": "Financial Services", "SPY": "Equity", "XOM": "Energy"}
SECTIONS = {
    "summary",
    "key-figures",
    "commentary",
    "performance",
    "sector-exposure",
    "factor-betas",
    "stress",
    "correlation",
    "var-es",
    "exposures",
    "greeks",
    "positions",
    "availability",
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
#: The fixture has none of the explain blocks: only the charts drawn from the replay (or a
#: placeholder saying why there is nothing to draw) come before the original's.
CHARTS = [
    "backtest",
    "return-distribution",
    "rolling",
    "performance",
    "sector-exposure",
    "factor-betas",
    "stress",
    "correlation",
]
#: reference/sigmasight-original.md section 5.1, in the original's order.
ORIGINAL_34 = [
    "position_id",
    "symbol",
    "position_type",
    "quantity",
    "entry_price",
    "current_price",
    "market_value",
    "cost_basis",
    "unrealized_pnl",
    "realized_pnl",
    "daily_pnl",
    "total_pnl",
    "delta",
    "gamma",
    "theta",
    "vega",
    "rho",
    "underlying_symbol",
    "strike_price",
    "expiration_date",
    "days_to_expiry",
    "entry_date",
    "exit_date",
    "sector",
    "industry",
    "tags",
    "notes",
    "portfolio_name",
    "report_date",
    "gross_exposure",
    "net_exposure",
    "notional",
    "portfolio_weight",
    "position_exposure",
]


def _details(doc: dict[str, Any]) -> dict[str, PositionDetail]:
    details = {}
    for i, p in enumerate(doc["positions"]):
        asset = p.get("underlying") or p["symbol"]
        option = "underlying" in p
        details[p["symbol"]] = PositionDetail(
            position_id=100 + i,
            position_type=("LC" if p["quantity"] > 0 else "SC")
            if option
            else ("LONG" if p["quantity"] > 0 else "SHORT"),
            entry_price=p["price"] * 0.9 if p["price"] else None,
            entry_date=dt.date(2025, 1, 2),
            strike=100.0 if option else None,
            expiry=dt.date(2027, 1, 15) if option else None,
            option_right="call" if option else None,
            multiplier=100 if option else None,
            daily_pnl=123.5 - i,
            beta_spy_150d=1.1,
            sector=SECTORS.get(asset),
            industry=None,
            asset_type="etf" if asset == "IWM" else "stock",
            underlying_price=400.0 if option else None,
        )
    return details


def _path(n: int = 260) -> ReturnPath:
    rng = np.random.default_rng(7)
    returns = rng.normal(0.0004, 0.012, n - 1)
    returns[[10, 11]] = np.nan
    wealth, drawdown = wealth_and_drawdown(returns)
    bench, _ = wealth_and_drawdown(rng.normal(0.0003, 0.01, n - 1))
    start = dt.date(2025, 1, 2)
    dates = tuple(start + dt.timedelta(days=i) for i in range(n))
    return ReturnPath(dates, wealth, drawdown, "SPY", bench)


def typed(doc: dict[str, Any]) -> RiskDocument:
    """The document as the reports receive it."""
    return RiskDocument.model_validate(doc)


def make_input(doc: dict[str, Any] | None = None, **changes: Any) -> ReportInput:
    doc = doc if doc is not None else DOC
    values: dict[str, Any] = {
        "document": typed(doc),
        "portfolio_name": "Demo Hedge Fund Style Investor Portfolio",
        "narrative": Narrative(template_narrative(typed(doc)), "template"),
        "details": _details(doc),
        "path": _path(),
        "factor_names": {"SPY": "Market", "VTV": "Value", "VUG": "Growth", "USMV": "LowVol"},
        "scenarios": {"financial_crisis_2008": ScenarioInfo("historical", "GFC")},
        "clusters": [["AAPL", "QQQ", "SPY"]],
    }
    values.update(changes)
    return ReportInput(**values)


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    return render_report(make_input())


def test_every_kind_is_rendered(files):
    assert set(files) == set(FILE_NAMES) == {"json", "md", "csv", "html"}
    assert all(files.values())


def test_json_is_the_document_byte_for_byte_as_exported(files):
    assert files["json"].decode() == json.dumps(DOC, indent=2, allow_nan=False) + "\n"


def test_html_parses_and_has_every_section_and_chart(files):
    html = files["html"].decode()
    facts = inspect_html(html)
    assert facts.tags[:1] == ["html"] and "style" in facts.tags
    assert facts.ids >= SECTIONS
    assert facts.charts == CHARTS
    assert facts.tags.count("svg") == len(CHARTS)
    # The charts draw something: lines, bars, heatmap cells.
    assert facts.tags.count("polyline") >= 3
    # The heatmap: one embedded PNG, a pixel per pair in the colour of its correlation.
    matrix = DOC["correlation"]["matrix"]
    assert [u[:22] for u in facts.urls] == ["data:image/png;base64,"]
    pixels = png_pixels(base64.b64decode(facts.urls[0].removeprefix("data:image/png;base64,")))
    assert pixels.shape == (len(matrix), len(matrix), 3)
    for row, values in zip(pixels, matrix, strict=True):
        colours = ["#" + "".join(f"{int(c):02x}" for c in pixel) for pixel in row]
        assert colours == [charts._corr_cell_color(v) for v in values]
    # The option Greeks table lists every option, the positions table every position.
    for position in DOC["positions"]:
        assert position["symbol"] in facts.text
    assert "data-status" not in facts.ids  # no warnings in this document


def test_html_references_nothing_outside_the_file(files):
    html = files["html"].decode()
    facts = inspect_html(html)
    assert external_references(facts) == []
    assert not {"script", "link", "img", "iframe", "object", "embed", "base"} & set(facts.tags)
    assert "http://" not in html and "https://" not in html
    assert "@import" not in html and "@font-face" not in html


def test_html_shows_a_data_status_banner_when_warnings_exist():
    doc = copy.deepcopy(DOC)
    doc["warnings"] = ["no price for ZM on 2026-11-25 (last 2026-11-18)", "only 40 daily returns"]
    html = render_report(make_input(doc))["html"].decode()
    facts = inspect_html(html)
    assert "data-status" in facts.ids
    assert "Data status: 2 warnings" in html
    assert "no price for ZM on 2026-11-25 (last 2026-11-18)" in facts.text


def test_html_escapes_names_and_narrative():
    data = make_input(
        portfolio_name='<script>alert("x")</script> & Co',
        narrative=Narrative("Risk <b>rose</b> & fell.", "openai", model="gpt-test"),
    )
    html = render_report(data)["html"].decode()
    facts = inspect_html(html)
    assert "script" not in facts.tags and "b" not in facts.tags
    assert "&lt;script&gt;" in html and "Risk &lt;b&gt;rose&lt;/b&gt; &amp; fell." in html
    assert "Written by gpt-test" in html


def test_markdown_escapes_pipes_and_line_breaks_in_table_cells_only():
    data = make_input(
        portfolio_name="A | B",
        factor_names={"SPY": "Market | broad", "VTV": "Value\nstyle"},
    )
    md = render_report(data)["md"].decode()
    assert "| SPY | Market \\| broad |" in md
    assert "| VTV | Value style |" in md
    assert md.startswith("# Risk report: A | B (")  # a heading is not a table cell


def test_a_misspelt_template_name_fails_instead_of_printing_a_dash():
    env = templating.markdown_environment()
    with pytest.raises(UndefinedError):
        env.from_string("{{ doc.valuation.nva | money }}").render(doc=typed(DOC))
    assert env.from_string("{{ doc.valuation.nav | money }}").render(doc=typed(DOC)) == fmt.money(
        DOC["valuation"]["nav"]
    )


def test_a_book_that_could_not_be_valued_still_renders():
    doc = copy.deepcopy(DOC)
    doc["valuation"] = dict.fromkeys(doc["valuation"])
    doc["daily_pnl"] = {"pnl": None, "return": None}
    for block in doc["risk"].values():
        for key, value in block.items():
            if isinstance(value, dict):
                block[key] = {"fraction": None, "currency": None}
            elif key != "n_obs":
                block[key] = None
    doc["positions"] = [p for p in doc["positions"] if "underlying" not in p]
    for p in doc["positions"]:
        p.update(price=None, market_value=None, exposure=None, weight=None)
    doc["stress"] = {k: {"pnl": None, "return_impact": None} for k in doc["stress"]}
    doc.pop("stress_full_revaluation")
    doc["factor_exposures"]["betas"] = dict.fromkeys(doc["factor_exposures"]["betas"])
    doc["correlation"] = {"symbols": [], "matrix": [], "min_overlap": 60}
    doc["performance"] = dict.fromkeys(doc["performance"])
    doc["warnings"] = ["no price for AAPL: NAV is undefined"]
    files = render_report(
        make_input(doc, path=None, narrative=Narrative(template_narrative(typed(doc)), "template"))
    )
    html = files["html"].decode()
    facts = inspect_html(html)
    assert facts.charts == CHARTS  # placeholders keep every chart slot
    assert "No return history stored for this book" in html
    assert "No option positions" in html
    assert "could not be valued" in files["md"].decode()
    assert "| NAV | – |" in files["md"].decode()


def test_markdown_has_the_original_sections_and_the_documents_numbers(files):
    md = files["md"].decode()
    for heading in (
        "# Risk report: Demo Hedge Fund Style Investor Portfolio (DEMO_HEDGE_FUND)",
        "## Executive summary",
        "### Portfolio value",
        "### Exposures",
        "### Commentary",
        "### Value at risk and expected shortfall",
        "### Portfolio Greeks",
        "### Factor exposures (150-day regression)",
        "### Stress tests",
        "## Correlations",
        "## Exposure by sector",
        "## Positions",
        "## Data availability",
    ):
        assert heading in md, heading
    val = DOC["valuation"]
    assert f"| NAV | {fmt.money(val['nav'])} |" in md
    assert f"| Gross exposure | {fmt.money(val['gross_exposure'])} |" in md
    var = DOC["risk"]["full"]["hist_var_95"]
    assert (
        f"| Historical VaR 95% | {fmt.pct(var['fraction'])} | {fmt.money(var['currency'])} |" in md
    )
    for factor, beta in DOC["factor_exposures"]["betas"].items():
        assert f"| {factor} |" in md and f"| {beta:,.3f} |" in md
    worst = sorted(DOC["stress"].items(), key=lambda kv: kv[1]["pnl"])
    worst_block = md.split("Worst 5 scenarios")[1].split("Best 5 scenarios")[0]
    names = [
        line.split("|")[1].strip() for line in worst_block.splitlines() if line.startswith("| ")
    ][1:]
    assert names == [name for name, _ in worst[:5]]
    best_block = md.split("Best 5 scenarios")[1].split("## Correlations")[0]
    best = [
        line.split("|")[1].strip() for line in best_block.splitlines() if line.startswith("| ")
    ][1:]
    assert best == [name for name, _ in worst[::-1][:5]]


def test_csv_has_the_original_34_columns_then_the_extras(files):
    rows = list(csv.reader(io.StringIO(files["csv"].decode())))
    header, body = rows[0], rows[1:]
    assert tuple(ORIGINAL_34) == ORIGINAL_CSV_COLUMNS
    assert header[:34] == ORIGINAL_34 and tuple(header) == CSV_COLUMNS
    assert len(body) == len(DOC["positions"])
    by_symbol = {row[1]: dict(zip(header, row, strict=True)) for row in body}
    gross = DOC["valuation"]["gross_exposure"]
    for p in DOC["positions"]:
        row = by_symbol[p["symbol"]]
        assert float(row["market_value"]) == p["market_value"]  # full precision round-trip
        assert float(row["position_exposure"]) == p["exposure"]
        assert float(row["nav_weight"]) == p["weight"]
        assert float(row["portfolio_weight"]) == pytest.approx(p["exposure"] / gross * 100)
        assert row["report_date"] == DOC["as_of"] and row["portfolio_id"] == DOC["portfolio_id"]
        if "greeks" in p:
            assert float(row["delta"]) == p["greeks"]["delta"]
            assert float(row["theta"]) == p["greeks"]["theta_per_calendar_day"]
            assert float(row["delta_dollars"]) == p["greeks"]["delta_dollars"]
            assert row["underlying_symbol"] == p["underlying"]
            assert float(row["notional"]) == pytest.approx(abs(p["quantity"]) * 100 * 400.0)
            assert row["days_to_expiry"] == str((dt.date(2027, 1, 15) - dt.date(2026, 11, 25)).days)
        else:
            assert row["delta"] == row["underlying_symbol"] == ""
            assert float(row["notional"]) == abs(p["market_value"])
        assert row["realized_pnl"] == row["exit_date"] == row["tags"] == ""


def test_view_totals_and_rankings():
    view = build_view(make_input())
    options = [p for p in DOC["positions"] if "greeks" in p]
    assert view.greek_totals["delta_dollars"] == pytest.approx(
        sum(p["greeks"]["delta_dollars"] for p in options)
    )
    assert [s.name for s in view.stress] == [
        name for name, _ in sorted(DOC["stress"].items(), key=lambda kv: (kv[1]["pnl"], kv[0]))
    ]
    assert view.worst_stress is not None and view.worst_stress.pnl == min(
        v["pnl"] for v in DOC["stress"].values()
    )
    exposure = sum(p["exposure"] for p in DOC["positions"])
    assert sum(s.net for s in view.sectors) == pytest.approx(exposure)
    assert {"Technology", "Energy", "ETF", "Unclassified"} <= {s.sector for s in view.sectors}


def test_template_narrative_uses_only_the_documents_figures():
    text = template_narrative(typed(DOC), {"USMV": "LowVol"})
    assert text == template_narrative(typed(DOC), {"USMV": "LowVol"})
    assert fmt.money(DOC["valuation"]["nav"], 0) in text
    assert fmt.money(DOC["risk"]["full"]["hist_var_95"]["currency"], 0) in text
    worst = min(DOC["stress"], key=lambda k: DOC["stress"][k]["pnl"])
    assert worst.replace("_", " ").capitalize() in text
    assert "USMV (LowVol)" in text


def test_rendering_is_deterministic():
    assert render_report(make_input()) == render_report(make_input())


def test_wealth_path_matches_the_stored_statistics():
    rng = np.random.default_rng(3)
    returns = rng.normal(0.0003, 0.015, 400)
    returns[rng.choice(400, 12, replace=False)] = np.nan
    wealth, drawdown = wealth_and_drawdown(returns)
    assert wealth[0] == 1.0 and drawdown[0] == 0.0 and (drawdown <= 0).all()
    assert wealth[-1] - 1.0 == pytest.approx(stats.cumulative_return(returns), rel=1e-12)
    assert -drawdown.min() == pytest.approx(stats.max_drawdown(returns), rel=1e-12)


def test_book_returns_weight_assets_and_forward_fill_short_gaps():
    prices = np.array(
        [[100.0, 50.0], [101.0, np.nan], [102.0, 51.0], [103.0, 52.0]], dtype=np.float64
    )
    blank = {"quantity": 1.0, "price": None, "market_value": None, "exposure": None}
    weights = asset_weights(
        [
            Position.model_validate({**blank, **p})
            for p in (
                {"symbol": "A", "weight": 0.5},
                {"symbol": "O:A", "underlying": "A", "weight": 0.25},
                {"symbol": "B", "weight": 0.25},
                {"symbol": "C", "weight": None},
            )
        ]
    )
    assert weights == {"A": 0.75, "B": 0.25}
    got = book_returns(prices, ("A", "B"), weights)
    filled_b = np.array([50.0, 50.0, 51.0, 52.0])
    expected = 0.75 * (prices[1:, 0] / prices[:-1, 0] - 1) + 0.25 * (
        filled_b[1:] / filled_b[:-1] - 1
    )
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize(
    ("lo", "hi", "first", "last"),
    [
        (-0.23, 0.12, -0.3, 0.2),
        (0.0, 2.33, 0.0, 2.5),
        (-4e6, 2e6, -4e6, 2e6),
        (0.0, 0.0, -1.0, 1.0),
    ],
)
def test_nice_ticks_cover_the_range(lo, hi, first, last):
    ticks = charts.nice_ticks(lo, hi)
    assert ticks[0] <= lo and ticks[-1] >= hi
    assert ticks[0] == pytest.approx(first) and ticks[-1] == pytest.approx(last)
