"""A populated database for the API tests, built once per test session without Prefect.

Three demo users with their portfolios (the HNW user gets two extra ones), synthetic prices
for every held symbol, the factor ETFs and DGS10, three nightly-risk runs through the same
functions the flow calls (``plan_risk``, ``run_chunk``, ``finish_risk``, the ledger), a
failed market-data run, a verified backup, and report rows with real files.
"""

import datetime as dt
import hashlib
import html
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from models import Backup, Portfolio, Report
from sigmasight.db import session_scope
from sigmasight.demo import DEMO_HNW_EMAIL, DEMO_INDIVIDUAL_EMAIL, DEMO_PASSWORD
from sigmasight.domain import RATE_SERIES
from sigmasight.providers.synthetic import SyntheticProvider
from sigmasight.repositories.market import load_universe
from sigmasight.repositories.prices import upsert_bars, upsert_rates
from sigmasight.runs import ledger
from sigmasight.runs import risk as risk_run
from sigmasight.runs.imports import import_bundle_file
from sigmasight.runs.seed import seed_demo
from sigmasight.settings import get_settings
from sigmasight.trading_calendar import last_completed_session, sessions

HISTORY_SESSIONS = 320
EXTRA_PORTFOLIOS = ("HNW_EXTRA_A", "HNW_EXTRA_B")
REPORT_FILES = {
    "html": "report.html",
    "md": "report.md",
    "csv": "positions.csv",
    "json": "report.json",
}


@dataclass(frozen=True)
class World:
    """What the populated template holds."""

    as_of: dt.date
    dates: tuple[dt.date, ...]  # the three risk dates, oldest first
    password: str
    hnw_email: str
    individual_email: str
    hnw_portfolio: str
    individual_portfolio: str
    hedge_portfolio: str
    reports_dir: Path
    risk_run_ids: tuple[uuid.UUID, ...]


def _extra_bundle(folder: Path, as_of: dt.date) -> Path:
    bundle = {
        "valuation_date": as_of.isoformat(),
        "portfolios": [
            {
                "id": EXTRA_PORTFOLIOS[0],
                "name": "HNW extra A",
                "owner": DEMO_HNW_EMAIL,
                "cash": 10000.0,
                "positions": [
                    {"symbol": "AAPL", "quantity": 100},
                    {"symbol": "MSFT", "quantity": 50},
                ],
            },
            {
                "id": EXTRA_PORTFOLIOS[1],
                "name": "HNW extra B <b>bold</b>",  # markup in a name must be escaped in HTML
                "owner": DEMO_HNW_EMAIL,
                "cash": 5000.0,
                "positions": [{"symbol": "JPM", "quantity": 80}],
            },
        ],
    }
    path = folder / "extra.json"
    path.write_text(json.dumps(bundle))
    return path


def store_prices(start: dt.date, end: dt.date) -> None:
    """Synthetic bars for the whole universe and DGS10 over ``[start, end]``."""
    with session_scope() as session:
        universe = load_universe(session, default_benchmark="SPY")
    symbols = sorted(s for s, roles in universe.items() if roles != {"option"})
    provider = SyntheticProvider()
    run_id = uuid.uuid4()
    bars = provider.bars_for(symbols, start, end)
    rates = provider.observations(RATE_SERIES, start - dt.timedelta(days=30), end)
    with session_scope() as session:
        upsert_bars(session, bars, source="synthetic", run_id=run_id)
        upsert_rates(session, RATE_SERIES, rates, source="synthetic", run_id=run_id)


def run_risk(as_of: dt.date) -> uuid.UUID:
    """One nightly-risk run for ``as_of`` through the flow's own steps, without Prefect."""
    run_id = ledger.open_run("nightly-risk", as_of=as_of, inputs={"chunk_size": 1000})
    settings = get_settings().model_copy(
        update={"risk_chunk_size": 1000, "risk_lookback_sessions": 252}
    )
    plan = risk_run.plan_risk(settings, as_of, run_id)
    statuses: dict[str, int] = {}
    for chunk in plan.chunks:
        report = risk_run.run_chunk(settings, as_of, chunk, run_id)
        for status in report.statuses.values():
            statuses[status] = statuses.get(status, 0) + 1
    flipped = risk_run.finish_risk(settings, as_of, plan.portfolio_ids, run_id)
    ledger.close_run(
        run_id,
        "succeeded",
        counts={"portfolios": plan.n_portfolios, "current": flipped, **statuses},
        timings=plan.timings,
    )
    return run_id


def report_html(document: dict[str, Any], name: str) -> str:
    """A small self-contained HTML report (inline CSS and SVG) like the reports flow writes."""
    valuation = document["valuation"]
    var95 = document["risk"]["full"]["hist_var_95"]["currency"]
    bars = []
    stress = sorted(
        ((k, v["pnl"]) for k, v in document["stress"].items() if v.get("pnl") is not None),
        key=lambda kv: kv[1],
    )[:8]
    scale = max((abs(p) for _, p in stress), default=1.0) or 1.0
    for i, (scenario, pnl) in enumerate(stress):
        width = 300 * abs(pnl) / scale
        colour = "#c0392b" if pnl < 0 else "#2e7d32"
        bars.append(
            f'<text x="0" y="{22 * i + 15}" font-size="12">{html.escape(scenario)}</text>'
            f'<rect x="170" y="{22 * i + 4}" width="{width:.1f}" height="14" fill="{colour}"/>'
        )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(name)}</title>
<style>body{{font-family:'DejaVu Sans',sans-serif;margin:2rem;color:#1d2330}}
h1{{color:#10213f}} .kpi{{display:inline-block;margin-right:2rem;padding:1rem;background:#eef2f8;border-radius:6px}}
.kpi b{{display:block;font-size:1.4rem}}</style></head><body>
<h1>{html.escape(name)}</h1><p>Risk report as of {document["as_of"]}</p>
<div class="kpi">NAV<b>${valuation["nav"]:,.0f}</b></div>
<div class="kpi">VaR 95 % (1 day)<b>${var95:,.0f}</b></div>
<div class="kpi">Beta (SPY, 150 d)<b>{document["beta_spy"]["150d"]:.2f}</b></div>
<h2>Worst stress scenarios</h2>
<svg xmlns="http://www.w3.org/2000/svg" width="520" height="{22 * len(bars) + 10}">{"".join(bars)}</svg>
</body></html>
"""


def write_reports(
    reports_dir: Path, as_of: dt.date, external_ids: list[str], run_id: uuid.UUID
) -> None:
    """Report files and their index rows (the reports flow is another issue's work)."""
    documents = {
        d.portfolio_id: d.as_json() for d in risk_run.export_documents(get_settings(), as_of)
    }
    with session_scope() as session:
        ids = dict(session.execute(select(Portfolio.external_id, Portfolio.id)).all())
        names = dict(session.execute(select(Portfolio.external_id, Portfolio.name)).all())
        for external_id in external_ids:
            document = documents[external_id]
            folder = reports_dir / external_id / as_of.isoformat()
            folder.mkdir(parents=True, exist_ok=True)
            payloads = {
                "html": report_html(document, names[external_id]).encode(),
                "md": f"# {names[external_id]}\n\nNAV {document['valuation']['nav']:.2f} on {as_of}.\n".encode(),
                "csv": b"symbol,quantity\n"
                + b"".join(
                    f"{p['symbol']},{p['quantity']}\n".encode() for p in document["positions"]
                ),
                "json": json.dumps(document).encode(),
            }
            for kind, payload in payloads.items():
                path = folder / REPORT_FILES[kind]
                path.write_bytes(payload)
                session.add(
                    Report(
                        portfolio_id=ids[external_id],
                        as_of_date=as_of,
                        run_id=run_id,
                        kind=kind,
                        path=str(path),
                        size_bytes=len(payload),
                        sha256=hashlib.sha256(payload).hexdigest(),
                    )
                )


#: Where the world's backups are recorded; the API tests' S3 holds the good one's dump.
WORLD_BUCKET = "sigmasight-test"
WORLD_GOOD_BACKUP = "backups/ok.dump"


def add_backup(run_id: uuid.UUID, *, status: str, age: dt.timedelta, key: str) -> None:
    """A backup row as the backup flow records it."""
    with session_scope() as session:
        session.add(
            Backup(
                run_id=run_id,
                as_of_date=dt.date.today(),
                bucket=WORLD_BUCKET,
                key=key,
                status=status,
                database_name="sigmasight",
                size_bytes=1234,
                sha256="0" * 64,
                created_at=dt.datetime.now(dt.UTC) - age,
            )
        )


def populate(folder: Path) -> World:
    """Fill the database DATABASE_URL names; returns what it holds."""
    as_of = last_completed_session()
    days = sessions(as_of - dt.timedelta(days=HISTORY_SESSIONS * 2), as_of)[-HISTORY_SESSIONS:]
    dates = tuple(days[-3:])
    seed_demo(dates[0])  # the books of the oldest risk date (C15)
    import_bundle_file(_extra_bundle(folder, dates[0]), today=as_of)
    store_prices(days[0], as_of)
    run_ids = tuple(run_risk(d) for d in dates)
    failed = ledger.open_run("market-data", as_of=as_of, inputs={"provider": "synthetic"})
    ledger.close_run(failed, "failed", error="RuntimeError: provider down")
    reports_dir = folder / "reports"
    write_reports(
        reports_dir, dates[-1], ["DEMO_HNW", "DEMO_INDIVIDUAL", "DEMO_HEDGE_FUND"], run_ids[-1]
    )
    write_reports(reports_dir, dates[-2], ["DEMO_HNW"], run_ids[-2])
    backup_run = ledger.open_run("backup", as_of=as_of, inputs={})
    ledger.close_run(backup_run, "succeeded")
    add_backup(backup_run, status="verified", age=dt.timedelta(hours=3), key=WORLD_GOOD_BACKUP)
    return World(
        as_of=as_of,
        dates=dates,
        password=DEMO_PASSWORD,
        hnw_email=DEMO_HNW_EMAIL,
        individual_email=DEMO_INDIVIDUAL_EMAIL,
        hnw_portfolio="DEMO_HNW",
        individual_portfolio="DEMO_INDIVIDUAL",
        hedge_portfolio="DEMO_HEDGE_FUND",
        reports_dir=reports_dir,
        risk_run_ids=run_ids,
    )
