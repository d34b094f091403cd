"""The tear sheet with every section, opened from disk in a real headless Chromium.

The report of ``tests.explain_world`` (a real engine document with every explain block and a
year of stored history) is written to a file and opened over ``file://``. The page must log
no console error or exception, fetch nothing but itself (and its embedded heatmap PNG), show every section (each with a
height), not overflow the window sideways, and draw a non-blank full-page screenshot with
the breach banner in red at the top. Set SIGMASIGHT_TEST_SCREENSHOTS=<folder> to keep the
screenshot. Without Chromium the test fails (it never skips).
"""

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from sigmasight.reports.charts import _corr_cell_color
from sigmasight.reports.render import render_report
from tests.chromium import open_chromium
from tests.explain_world import report_input
from tests.reports_helpers import png_pixels

SECTIONS = (
    "summary",
    "breaches",
    "key-figures",
    "limits",
    "commentary",
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
    "actual-history",
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
)


def _errors(events: list[dict[str, Any]]) -> list[str]:
    found = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            found.append(str(params.get("exceptionDetails")))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in {"error", "assert"}:
            found.append(str(params.get("args")))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            found.append(str(params["entry"].get("text")))
    return found


def test_every_section_renders_in_chromium_without_errors(tmp_path):
    files = render_report(report_input())
    page = tmp_path / "report.html"
    page.write_bytes(files["html"])
    with open_chromium(tmp_path / "profile") as chromium:
        chromium.call("Log.enable")
        chromium.call("Network.enable")
        chromium.navigate(page.as_uri())
        chromium.drain()
        events = list(chromium.seen)
        assert _errors(events) == []
        requested = [
            e["params"]["request"]["url"]
            for e in events
            if e.get("method") == "Network.requestWillBeSent"
        ]
        # The page itself, then only the heatmap's embedded PNG (a data: URI, no fetch).
        assert requested[0] == page.as_uri(), requested
        assert [u[:22] for u in requested[1:]] == ["data:image/png;base64,"], requested
        heatmap = chromium.evaluate(
            "(() => { const r = document.querySelector('svg[data-chart=correlation] image')"
            ".getBoundingClientRect(); return [r.left + scrollX, r.top + scrollY, r.width]; })()"
        )

        ids = json.dumps(list(SECTIONS))
        heights = chromium.evaluate(
            f"Object.fromEntries({ids}.map(id => [id, document.getElementById(id) ? "
            "document.getElementById(id).getBoundingClientRect().height : -1]))"
        )
        missing = [s for s in SECTIONS if heights[s] < 0]
        assert missing == []
        flat = [s for s in SECTIONS if heights[s] < 20]
        assert flat == []
        order = chromium.evaluate("Array.from(document.querySelectorAll('[id]')).map(e => e.id)")
        assert order.index("breaches") < order.index("key-figures") < order.index("limits")
        assert chromium.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        charts = chromium.evaluate(
            "Array.from(document.querySelectorAll('svg.chart')).map(s => "
            "[s.dataset.chart, s.getBoundingClientRect().width])"
        )
        assert {name for name, _ in charts} >= {
            "contrib-var",
            "contrib-vol",
            "sector-risk",
            "factor-split",
            "factor-shares",
            "attribution",
            "backtest",
            "return-distribution",
            "rolling",
        }
        assert all(width > 200 for _, width in charts), charts
        exceptions = chromium.evaluate("document.querySelectorAll('[data-exception]').length")
        assert exceptions == report_input().document.backtest.var_95.exceptions  # type: ignore[union-attr]

        shot = tmp_path / "report-explain.png"
        data = chromium.screenshot(shot, full_page=True)
    pixels = png_pixels(data)
    height, width, _ = pixels.shape
    assert width == 1280 and height > 5000
    flat_pixels = pixels.reshape(-1, 3)
    assert len(np.unique(flat_pixels[::7], axis=0)) > 300, "the page looks blank"
    # The heatmap is drawn with hard edges: the middle of each cell on the diagonal is the
    # colour of its correlation (1), and of a cell off it, of that pair's correlation.
    correlation = report_input().document.correlation
    assert correlation is not None
    left, top_px, side = heatmap
    cell = side / len(correlation.symbols)
    for i, j in [(k, k) for k in range(len(correlation.symbols))] + [(0, 1), (1, 0), (2, 0)]:
        x, y = round(left + cell * (j + 0.5)), round(top_px + cell * (i + 0.5))
        expected = _corr_cell_color(correlation.matrix[i][j])
        found = "#" + "".join(f"{int(c):02x}" for c in pixels[y, x])
        assert found == expected, (i, j, found, expected)
    # The breach banner (#fef2f2 with a red title) sits under the dark header.
    top = pixels[150:400].reshape(-1, 3).astype(int)
    assert ((np.abs(top - (254, 242, 242)) < 6).all(axis=1)).mean() > 0.2
    keep = os.environ.get("SIGMASIGHT_TEST_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / shot.name)
