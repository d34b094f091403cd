"""Publishing helpers without a database: folder names, atomic writes, run summaries."""

import datetime as dt
import os
from pathlib import Path

import pytest

from sigmasight.runs.reports import (
    PortfolioReport,
    book_figures,
    report_folder,
    s3_key_for,
    safe_name,
    summary_markdown,
    summary_rows,
    write_atomic,
)

AS_OF = dt.date(2026, 11, 25)


@pytest.mark.parametrize(
    ("external_id", "name"),
    [
        ("DEMO_HNW", "DEMO_HNW"),
        ("a/b c", "a%2Fb%20c"),
        ("../etc", "%2E%2E%2Fetc"),
        ("..", "%2E%2E"),
        ("x.y-z", "x%2Ey-z"),
        ("é", "%C3%A9"),
    ],
)
def test_portfolio_ids_become_safe_folder_names(external_id, name):
    assert safe_name(external_id) == name
    folder = report_folder(Path("/r"), external_id, AS_OF)
    assert folder.parent.parent == Path("/r") and folder.name == "2026-11-25"


def test_report_folders_and_keys_are_one_to_one():
    """Ids that used to share a folder (and an S3 key) across tenants stay apart."""
    ids = ["X", "X.", ".X", "..", ".", "_", "%2E", "X%2E", "x", "X_", "X-", "._", "_."]
    names = {safe_name(i) for i in ids}
    assert len(names) == len(ids)
    keys = {s3_key_for(i, AS_OF, "html") for i in ids}
    assert len(keys) == len(ids)
    for name in names:
        assert name not in {".", ".."} and not name.startswith(".") and "/" not in name


def test_s3_keys_live_under_reports():
    assert s3_key_for("DEMO_HNW", AS_OF, "html") == "reports/DEMO_HNW/2026-11-25/report.html"
    assert s3_key_for("a/b", AS_OF, "csv") == "reports/a%2Fb/2026-11-25/positions.csv"


def test_write_atomic_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "deep" / "report.md"
    write_atomic(target, b"first")
    inode = target.stat().st_ino
    write_atomic(target, b"second")
    assert target.read_bytes() == b"second"
    assert target.stat().st_ino != inode  # a new file renamed over the old one
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)
    assert sorted(os.listdir(target.parent)) == ["report.md"]


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "report.json"
    write_atomic(target, b"old")

    def broken(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["report.json"]


def _reports() -> list[PortfolioReport]:
    return [
        PortfolioReport(
            "A",
            "ok",
            files={"html": "/r/A/2026-11-25/report.html", "md": "/r/A/2026-11-25/report.md"},
            nav=1_000_000.0,
            var95=20_000.0,
            beta=1.2,
            daily_pnl=-5_000.0,
            gross_exposure=1_500_000.0,
            net_exposure=900_000.0,
            worst_stress="crash",
            worst_stress_pnl=-300_000.0,
            stress_pnl={"crash": -300_000.0, "rally": 100_000.0},
        ),
        PortfolioReport(
            "B",
            "ok",
            files={"html": "/r/B/2026-11-25/report.html"},
            nav=3_000_000.0,
            var95=30_000.0,
            beta=0.8,
            daily_pnl=1_000.0,
            worst_stress="rally",
            worst_stress_pnl=-50_000.0,
            stress_pnl={"crash": -100_000.0, "rally": -50_000.0},
        ),
        PortfolioReport("C", "error", error="ValueError: bad"),
    ]


def test_summary_markdown_links_the_api_report_pages_when_it_is_configured():
    reports = [
        *_reports(),
        PortfolioReport("X.", "ok", files={"md": "/r/X%2E/2026-11-25/report.md"}),
    ]
    markdown = summary_markdown(AS_OF, reports, Path("/r"), api_url="https://risk.example.com/")
    assert "[html](https://risk.example.com/reports/A/2026-11-25/report.html)" in markdown
    assert "[md](https://risk.example.com/reports/X./2026-11-25/report.md)" in markdown
    assert "file://" not in markdown


def test_book_figures_sum_the_portfolios():
    book = book_figures(_reports())
    assert book["portfolios"] == 2 and book["nav"] == 4_000_000.0
    assert book["var95_sum"] == 50_000.0 and book["daily_pnl"] == -4_000.0
    assert book["beta_nav_weighted"] == pytest.approx((1.2 * 1 + 0.8 * 3) / 4)
    assert (book["worst_stress"], book["worst_stress_pnl"]) == ("crash", -400_000.0)


def test_summary_markdown_links_the_reports_and_names_failures():
    markdown = summary_markdown(AS_OF, _reports(), Path("/r"))
    assert "# Risk reports for 2026-11-25" in markdown
    assert "2 portfolio(s) reported, **1 failed**" in markdown
    # no file:// links (they do nothing in the Prefect UI): the folder and the file names
    assert "file://" not in markdown
    assert "files under `/r/<portfolio>/2026-11-25/`" in markdown
    assert "SIGMASIGHT_API_PUBLIC_URL" in markdown
    assert "| `report.html`" in markdown or "`report.html` |" in markdown
    assert "| C | – | – | – | – | failed: ValueError: bad |" in markdown
    assert "| Worst stress for the whole book | crash: -$400,000 |" in markdown
    rows = summary_rows(_reports())
    assert rows[0] == {
        "portfolio": "A",
        "status": "ok",
        "nav": 1_000_000.0,
        "var95": 20_000.0,
        "beta_spy_150d": 1.2,
        "worst_stress": "crash",
        "worst_stress_pnl": -300_000.0,
        "html": "/r/A/2026-11-25/report.html",
    }
    assert rows[2]["html"] == "ValueError: bad"


def test_a_large_run_s_table_keeps_failures_then_the_largest_var_within_its_cap():
    import random

    rng = random.Random(7)
    many = [
        PortfolioReport(f"P{i:05d}", "ok", nav=1e6, var95=rng.uniform(1e3, 1e5)) for i in range(40)
    ] + [PortfolioReport("BAD", "error", error="ValueError: bad")]
    rows = summary_rows(many, max_rows=10)
    assert len(rows) == 10
    assert rows[0]["portfolio"] == "BAD"
    largest = sorted((r.var95 or 0.0 for r in many if r.status == "ok"), reverse=True)[:9]
    assert [r["var95"] for r in rows[1:]] == [round(v, 2) for v in largest]
    # under the cap: every row, in the order given
    assert [r["portfolio"] for r in summary_rows(many[:5], max_rows=10)] == [
        r.portfolio for r in many[:5]
    ]
    markdown = summary_markdown(
        dt.date(2026, 11, 25), many * 13, Path("/r"), max_rows=50
    )  # 533 reports: more than the table holds
    assert "its 500 rows: failures first, then the largest VaR" in markdown
