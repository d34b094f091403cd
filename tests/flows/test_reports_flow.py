"""The reports flow end to end: demo books, real Prefect runs, real PostgreSQL, files on disk.

One database per module: the demo is seeded and the ``nightly`` parent flow (market data
from the synthetic provider, risk, then reports) runs once; the tests then read what it
wrote and re-run ``reports`` for single portfolios. Reports go to a temporary folder.
"""

import csv
import datetime as dt
import hashlib
import io
import json
import logging
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
)
from pytest_httpserver import HTTPServer
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from cli.main import main
from flows.nightly import nightly
from flows.reports import generate_reports
from sigmasight import db as sdb
from sigmasight.dated_risk import adjusted_panel
from sigmasight.reports import fmt
from sigmasight.reports.narrative import NarrativeWriter
from sigmasight.reports.render import CSV_COLUMNS, FILE_NAMES, render_report
from sigmasight.repositories.documents import documents_for
from sigmasight.runs import ledger
from sigmasight.runs.reports import collect_inputs, document_assets, load_run_market, write_all
from sigmasight.runs.risk import export_documents
from sigmasight.runs.seed import seed_demo
from sigmasight.settings import get_settings
from sigmasight.trading_calendar import last_sessions
from tests.conftest import TestServer
from tests.reports_helpers import external_references, inspect_html, png_pixels
from tests.s3 import moto_server, use_bucket

AS_OF = dt.date(2026, 11, 25)
PORTFOLIOS = ("DEMO_HEDGE_FUND", "DEMO_HNW", "DEMO_INDIVIDUAL")
KEY = "sk-test-reports-5e1f0c9a7b3d"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,2000",
)


@dataclass(frozen=True)
class Demo:
    engine: Engine
    reports_dir: Path
    nightly: dict[str, Any]


@pytest.fixture(scope="module")
def demo(
    pg_server: TestServer, template_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Demo]:
    name = f"sigmasight_reports_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    sdb.create_database(pg_server.admin, name, owner=pg_server.owner, template=template_db)
    url = pg_server.app.set(database=name)
    reports_dir = tmp_path_factory.mktemp("reports")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", url.render_as_string(hide_password=False))
        patch.setenv("SIGMASIGHT_REPORTS_DIR", str(reports_dir))
        # A state folder of its own: no embedded S3 of a developer's demo is picked up.
        patch.setenv("SIGMASIGHT_STATE_DIR", str(tmp_path_factory.mktemp("state")))
        for variable in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AWS_S3_BUCKET"):
            patch.delenv(variable, raising=False)
        get_settings.cache_clear()
        sdb.reset_engine()
        seed_demo(AS_OF)
        state = nightly(as_of=AS_OF, provider="synthetic", return_state=True)
        assert state.is_completed(), state.message
        result = state.result()
        assert isinstance(result, dict)
        yield Demo(sdb.get_engine(), reports_dir, result)
        sdb.reset_engine()
        get_settings.cache_clear()
    sdb.drop_database(pg_server.admin, name)


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    # Tests change the environment (OpenAI, S3); the cached settings must follow it back.
    yield
    get_settings.cache_clear()


def report_rows(engine: Engine, portfolio: str | None = None) -> list[dict[str, Any]]:
    sql = (
        "SELECT r.id, p.external_id, r.kind, r.path, r.size_bytes, r.sha256, r.s3_key, "
        "r.run_id, r.created_at, r.as_of_date FROM report r JOIN portfolio p ON p.id = r.portfolio_id"
    )
    params: dict[str, Any] = {}
    if portfolio:
        sql += " WHERE p.external_id = :p"
        params["p"] = portfolio
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text(sql + " ORDER BY 2, 3"), params)]


def run_reports(**params: Any) -> dict[str, Any]:
    state = generate_reports(as_of=AS_OF, return_state=True, **params)
    assert state.is_completed(), state.message
    result = state.result()
    assert isinstance(result, dict)
    return result


def test_the_nightly_flow_writes_four_indexed_files_per_portfolio(demo):
    result = demo.nightly["reports"]
    assert result["portfolios"] == 3 and result["ok"] == 3 and result["failed"] == 0
    assert result["files"] == 12 and result["narratives"] == {"template": 3}
    rows = report_rows(demo.engine)
    assert len(rows) == 12
    assert {(r["external_id"], r["kind"]) for r in rows} == {
        (p, k) for p in PORTFOLIOS for k in FILE_NAMES
    }
    for row in rows:
        path = Path(row["path"])
        assert (
            path == demo.reports_dir / row["external_id"] / "2026-11-25" / FILE_NAMES[row["kind"]]
        )
        data = path.read_bytes()
        assert row["size_bytes"] == len(data)
        assert row["sha256"] == hashlib.sha256(data).hexdigest()
        assert row["s3_key"] is None and row["as_of_date"] == AS_OF
    assert not list(demo.reports_dir.rglob("*.tmp"))  # atomic writes leave no temp files
    with demo.engine.connect() as conn:
        ledger = conn.execute(
            text("SELECT flow, status, counts FROM flow_run WHERE id = :id"),
            {"id": rows[0]["run_id"]},
        ).one()
    assert ledger.flow == "reports" and ledger.status == "succeeded"
    assert ledger.counts["files"] == 12


def test_json_markdown_and_csv_match_the_stored_results(demo):
    for portfolio in PORTFOLIOS:
        document = export_documents(get_settings(), AS_OF, portfolio)[0].as_json()
        folder = demo.reports_dir / portfolio / "2026-11-25"
        assert (folder / "report.json").read_text() == json.dumps(document, indent=2) + "\n"

        md = (folder / "report.md").read_text()
        val = document["valuation"]
        assert f"| NAV | {fmt.money(val['nav'])} |" in md
        assert f"| Net exposure | {fmt.money(val['net_exposure'])} |" in md
        var = document["risk"]["full"]["hist_var_95"]
        assert f"| {fmt.pct(var['fraction'])} | {fmt.money(var['currency'])} |" in md
        beta = document["beta_spy"]["150d"]
        assert f"| Beta to SPY (150 days) | {fmt.number(beta, 3)} |" in md
        worst = min(document["stress"], key=lambda k: document["stress"][k]["pnl"])
        assert md.split("Worst 5 scenarios")[1].split("\n| ")[2].startswith(worst)

        with demo.engine.connect() as conn:
            stored = {
                r.symbol: r
                for r in conn.execute(
                    text(
                        "SELECT pr.symbol, pr.position_id, pr.daily_pnl, pr.quantity, s.sector "
                        "FROM position_risk pr JOIN portfolio p ON p.id = pr.portfolio_id "
                        "LEFT JOIN security s ON s.symbol = coalesce(pr.underlying, pr.symbol) "
                        "WHERE p.external_id = :p AND pr.as_of_date = :d"
                    ),
                    {"p": portfolio, "d": AS_OF},
                )
            }
        table = list(csv.DictReader(io.StringIO((folder / "positions.csv").read_text())))
        assert tuple(table[0]) == CSV_COLUMNS
        assert [r["symbol"] for r in table] == sorted(p["symbol"] for p in document["positions"])
        positions = {p["symbol"]: p for p in document["positions"]}
        for row in table:
            p, db = positions[row["symbol"]], stored[row["symbol"]]
            assert int(row["position_id"]) == db.position_id
            assert float(row["quantity"]) == p["quantity"] == db.quantity
            assert float(row["market_value"]) == p["market_value"]
            assert float(row["position_exposure"]) == p["exposure"]
            assert float(row["daily_pnl"]) == db.daily_pnl
            assert row["sector"] == (db.sector or "")
            assert row["risk_run_id"] == document["run_id"]


def test_the_return_chart_reproduces_the_stored_performance(demo):
    with NarrativeWriter(api_key=None) as writer:
        collected = collect_inputs(get_settings(), AS_OF, PORTFOLIOS, writer)
    assert not collected.failed
    for _, data in collected.inputs:
        perf = data.document.performance
        assert data.path is not None and perf is not None
        assert data.path.wealth[-1] - 1.0 == pytest.approx(perf.cumulative_return, rel=1e-9)
        assert -float(np.min(data.path.drawdown)) == pytest.approx(perf.max_drawdown, rel=1e-9)
        assert data.path.dates[-1] == AS_OF and data.path.benchmark_symbol == "SPY"


def test_the_html_is_self_contained_with_every_chart(demo):
    for portfolio in PORTFOLIOS:
        html = (demo.reports_dir / portfolio / "2026-11-25" / "report.html").read_text()
        facts = inspect_html(html)
        # The first computed session: decomposition and benchmark, no attribution yet.
        assert facts.charts == [
            "contrib-var",
            "contrib-vol",
            "sector-risk",
            "factor-split",
            "factor-shares",
            "backtest",
            "return-distribution",
            "rolling",
            "performance",
            "sector-exposure",
            "factor-betas",
            "stress",
            "correlation",
        ]
        assert external_references(facts) == [] and "script" not in facts.tags
        assert {"commentary", "var-es", "greeks", "positions"} <= facts.ids
        assert {
            "limits",
            "contributions",
            "attribution",
            "backtest",
            "monthly-returns",
        } <= facts.ids
        assert "Not available: attribution: needs the previous session computed" in html


def test_rerunning_a_date_replaces_and_never_duplicates(demo):
    before = report_rows(demo.engine)
    (demo.reports_dir / "DEMO_HNW" / "2026-11-25" / "report.md").unlink()
    result = run_reports()
    assert result["files"] == 12 and result["index_rows_changed"] == 0
    after = report_rows(demo.engine)
    # Same rows, same ids; identical files keep the run id and time that first wrote them.
    assert after == before
    assert (demo.reports_dir / "DEMO_HNW" / "2026-11-25" / "report.md").is_file()
    with demo.engine.connect() as conn:
        runs = conn.execute(
            text("SELECT count(*) FROM flow_run WHERE flow = 'reports' AND status = 'succeeded'")
        ).scalar_one()
    assert runs >= 2


def test_the_run_publishes_a_markdown_and_a_table_artifact(demo):
    result = run_reports(portfolio="DEMO_INDIVIDUAL")
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["reports", "reports-summary"]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[uuid.UUID(result["run_id"])]),
            )
        )
    by_key = {a.key: a for a in artifacts}
    assert by_key["reports"].type == "markdown" and by_key["reports-summary"].type == "table"
    markdown = str(by_key["reports"].data)
    document = export_documents(get_settings(), AS_OF, "DEMO_INDIVIDUAL")[0].as_json()
    assert "## Book" in markdown and fmt.money(document["valuation"]["nav"], 0) in markdown
    # no API configured here: the artifact names the folder and the files, no file:// links
    assert f"files under `{demo.reports_dir}/<portfolio>/2026-11-25/`" in markdown
    assert "`report.html`" in markdown and "file://" not in markdown
    table = by_key["reports-summary"].data
    rows: list[dict[str, Any]] = json.loads(table) if isinstance(table, str) else table  # type: ignore[assignment]
    (row,) = rows
    worst = min(document["stress"], key=lambda k: document["stress"][k]["pnl"])
    assert row["portfolio"] == "DEMO_INDIVIDUAL" and row["worst_stress"] == worst
    assert row["nav"] == round(document["valuation"]["nav"], 2)
    assert row["var95"] == round(document["risk"]["full"]["hist_var_95"]["currency"], 2)
    assert row["beta_spy_150d"] == round(document["beta_spy"]["150d"], 3)


def test_cli_run_reports_prints_where_the_reports_are(demo, capsys):
    assert main(["run", "reports", "--as-of", "2026-11-25", "--portfolio", "DEMO_HNW"]) == 0
    out = capsys.readouterr().out
    folder = demo.reports_dir / "DEMO_HNW" / "2026-11-25"
    for name in FILE_NAMES.values():
        assert f"  {folder / name}" in out
    assert main(["run", "reports", "--as-of", "2026-11-25", "--portfolio", "NOPE"]) == 2
    assert "--portfolio NOPE: no risk results for 2026-11-25" in capsys.readouterr().err
    assert main(["run", "reports", "--as-of", "2026-11-24", "--portfolio", "DEMO_HNW"]) == 2


def test_the_narrative_comes_from_an_openai_compatible_server_when_configured(
    demo, httpserver: HTTPServer, monkeypatch, caplog, capsys
):
    caplog.set_level(logging.DEBUG)
    commentary = "DEMO_HNW carries a one-day 95% VaR stated in the report; beta is above one."
    httpserver.expect_request("/v1/chat/completions", method="POST").respond_with_json(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1_764_000_000,
            "model": "gpt-4o-mini",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": commentary},
                    "finish_reason": "stop",
                }
            ],
        }
    )
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", httpserver.url_for("/v1"))
    monkeypatch.setenv("SIGMASIGHT_OPENAI_MAX_RETRIES", "0")
    get_settings.cache_clear()
    before = {r["kind"]: r for r in report_rows(demo.engine, "DEMO_HNW")}
    result = run_reports(portfolio="DEMO_HNW")
    assert result["narratives"] == {"openai": 1}
    folder = demo.reports_dir / "DEMO_HNW" / "2026-11-25"
    assert commentary in (folder / "report.md").read_text()
    assert commentary in (folder / "report.html").read_text()
    after = {r["kind"]: r for r in report_rows(demo.engine, "DEMO_HNW")}
    # The changed files replaced their rows (same ids, new hash and run); the others stayed.
    assert {k: r["id"] for k, r in after.items()} == {k: r["id"] for k, r in before.items()}
    assert after["md"]["sha256"] != before["md"]["sha256"]
    assert str(after["md"]["run_id"]) == result["run_id"]
    assert after["json"] == before["json"] and after["csv"] == before["csv"]
    (request, _), *_ = httpserver.log
    assert request.get_json()["temperature"] == 0

    # The server fails: the template narrative, and the report is still written.
    httpserver.clear()
    httpserver.expect_request("/v1/chat/completions").respond_with_data("oops", status=500)
    result = run_reports(portfolio="DEMO_HNW")
    assert result["narratives"] == {"template": 1} and result["ok"] == 1
    md = (folder / "report.md").read_text()
    assert commentary not in md and "(template)" in md
    captured = capsys.readouterr()
    assert KEY not in caplog.text and KEY not in captured.out and KEY not in captured.err


def test_reports_are_copied_to_s3_when_a_bucket_is_configured(demo, monkeypatch, tmp_path):
    with moto_server() as endpoint:
        store = use_bucket(endpoint, monkeypatch, tmp_path)
        result = run_reports(portfolio="DEMO_INDIVIDUAL")
        assert result["uploaded"] == 4 and result["objects_put"] == 4
        # Unchanged content already under its key (the index says so) is not put again.
        again = run_reports(portfolio="DEMO_INDIVIDUAL")
        assert (again["objects_put"], again["objects_unchanged"]) == (0, 4)
        assert again["uploaded"] == 4 and again["index_rows_changed"] == 0
        rows = report_rows(demo.engine, "DEMO_INDIVIDUAL")
        for row in rows:
            key = f"reports/DEMO_INDIVIDUAL/2026-11-25/{FILE_NAMES[row['kind']]}"
            assert row["s3_key"] == key
            body = store.client.get_object(Bucket=store.bucket, Key=key)["Body"].read()
            assert body == Path(row["path"]).read_bytes()
            assert hashlib.sha256(body).hexdigest() == row["sha256"]
    assert len(report_rows(demo.engine)) == 12


def test_reports_written_in_bulk_on_worker_processes_equal_each_rendered_alone(
    demo, monkeypatch, tmp_path
):
    # Bulk: one chunk per portfolio, so the chunks run on two worker processes.
    bulk_dir = tmp_path / "bulk"
    monkeypatch.setenv("SIGMASIGHT_REPORTS_DIR", str(bulk_dir))
    monkeypatch.setenv("SIGMASIGHT_REPORTS_CHUNK_SIZE", "1")
    monkeypatch.setenv("SIGMASIGHT_REPORTS_WORKERS", "2")
    get_settings.cache_clear()
    result = run_reports()
    assert result["ok"] == 3 and result["files_written"] == 12
    # Alone, through the flow: one portfolio, one chunk, in this process.
    alone_dir = tmp_path / "alone"
    monkeypatch.setenv("SIGMASIGHT_REPORTS_DIR", str(alone_dir))
    get_settings.cache_clear()
    for portfolio in PORTFOLIOS:
        assert run_reports(portfolio=portfolio)["files_written"] == 4
    # Alone, by hand: collected by itself (the panel of its own assets only), then rendered.
    with NarrativeWriter(api_key=None) as writer:
        for portfolio in PORTFOLIOS:
            collected = collect_inputs(get_settings(), AS_OF, [portfolio], writer)
            [(_, data)] = collected.inputs
            files = render_report(data)
            assert set(files) == set(FILE_NAMES)
            for kind, payload in files.items():
                name = Path(portfolio) / "2026-11-25" / FILE_NAMES[kind]
                assert (bulk_dir / name).read_bytes() == payload, (portfolio, kind)
                assert (alone_dir / name).read_bytes() == payload, (portfolio, kind)


def test_write_all_writes_each_chunk_once_and_reports_them_in_chunk_order(demo, tmp_path):
    # Three chunks on two worker processes: outcomes and callbacks in chunk order.
    settings = get_settings().model_copy(update={"reports_dir": tmp_path})
    chunks = [[p] for p in reversed(PORTFOLIOS)]
    run_id = ledger.open_run("reports", as_of=AS_OF, inputs={"test": "order"})
    seen: list[list[str]] = []
    outcomes = write_all(
        settings, AS_OF, chunks, run_id, workers=2, on_chunk=lambda c, _: seen.append(c)
    )
    assert seen == chunks
    assert [[r.portfolio for r in o.reports] for o in outcomes] == chunks
    assert all(r.status == "ok" for o in outcomes for r in o.reports)
    assert sum(o.files["written"] for o in outcomes) == 12
    assert len(list(tmp_path.rglob("report.html"))) == 3


def test_a_failing_chunk_fails_the_run_and_raises_its_error(demo, tmp_path):
    # A run id missing from the ledger: each chunk's index upsert breaks the foreign key.
    settings = get_settings().model_copy(update={"reports_dir": tmp_path})
    chunks = [[p] for p in PORTFOLIOS]
    with pytest.raises(IntegrityError, match="fk_report__run_id"):
        write_all(settings, AS_OF, chunks, uuid.uuid4(), workers=2)


def test_each_portfolio_cuts_the_shared_panel_to_the_prices_of_its_own_assets(demo):
    settings = get_settings()
    market = load_run_market(settings, AS_OF)
    days = last_sessions(AS_OF, settings.risk_lookback_sessions + 1)
    with sdb.session_scope() as session:
        documents = documents_for(session, AS_OF, list(PORTFOLIOS))
        for document in documents:
            assets = document_assets(document, settings.benchmark)
            alone = adjusted_panel(session, sorted(assets), start=days[0], end=AS_OF)
            cut = market.cut(assets)
            assert cut.dates == alone.dates
            index = {s: i for i, s in enumerate(cut.symbols)}
            for j, symbol in enumerate(alone.symbols):
                np.testing.assert_array_equal(cut.prices[:, index[symbol]], alone.adj_close[:, j])


def test_a_rerun_rewrites_no_unchanged_file_and_restores_a_changed_one(demo, monkeypatch, tmp_path):
    monkeypatch.setenv("SIGMASIGHT_REPORTS_DIR", str(tmp_path))
    get_settings.cache_clear()
    first = run_reports()
    assert (first["files_written"], first["files_unchanged"]) == (12, 0)
    paths = sorted(tmp_path.rglob("*.*"))
    assert len(paths) == 12
    stamps = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in paths}
    rows = report_rows(demo.engine)
    again = run_reports()
    assert (again["files_written"], again["files_unchanged"]) == (0, 12)
    assert again["index_rows_changed"] == 0 and report_rows(demo.engine) == rows
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in paths} == stamps
    changed = tmp_path / "DEMO_HNW" / "2026-11-25" / "report.md"
    original = changed.read_bytes()
    changed.write_bytes(original.replace(b"NAV", b"VAN", 1))
    assert len(changed.read_bytes()) == len(original)  # same size: the bytes are compared
    third = run_reports()
    assert (third["files_written"], third["files_unchanged"]) == (1, 11)
    assert changed.read_bytes() == original


def test_headless_chromium_renders_the_report(demo, tmp_path):
    if not CHROMIUM.is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium package "
            "(apt-get install chromium); CI installs it for this test"
        )
    page = demo.reports_dir / "DEMO_HEDGE_FUND" / "2026-11-25" / "report.html"
    shot = tmp_path / "report.png"
    completed = subprocess.run(
        [
            str(CHROMIUM),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0 and shot.is_file(), completed.stderr[-2000:]
    pixels = png_pixels(shot.read_bytes())
    assert pixels.shape == (2000, 1400, 3)
    flat = pixels.reshape(-1, 3)
    colours = np.unique(flat, axis=0)
    not_white = float((flat.min(axis=1) < 235).mean())
    assert len(colours) > 500, f"only {len(colours)} colours: the page looks blank"
    assert not_white > 0.08, f"only {not_white:.1%} of the pixels are not (near) white"
    # The dark header band (#0f172a) is drawn at the top, the blue return line below it.
    header = pixels[40:140, 150:1250].reshape(-1, 3).astype(int)
    assert (np.abs(header - (15, 23, 42)) < 10).all(axis=1).mean() > 0.6
    blue = (np.abs(flat.astype(int) - (37, 99, 235)) < 24).all(axis=1).sum()
    assert blue > 1500
    keep = os.environ.get("SIGMASIGHT_KEEP_SCREENSHOT")
    if keep:
        shutil.copyfile(shot, keep)
