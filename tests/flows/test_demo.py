"""`sigmasight demo`: migrate, seed, history, nightly pipeline, summary; a rerun changes no data."""

import datetime as dt
import itertools
import re
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import text

from cli.main import main
from sigmasight.demo import DEMO_USERS, demo_seed, demo_sessions
from sigmasight.objectstore import stop_embedded_s3
from sigmasight.settings import get_settings
from tests.dbstate import table_digests

PORTFOLIOS = ("DEMO_HEDGE_FUND", "DEMO_HNW", "DEMO_INDIVIDUAL")
DATA_TABLES = (
    "app_user",
    "portfolio",
    "portfolio_book",
    "position",
    "trade",
    "cash_flow",
    "price_bar",
    "rate_observation",
    "portfolio_snapshot",
    "position_risk",
    "factor_exposure",
    "correlation_result",
    "stress_result",
)


@pytest.fixture
def private_state(tmp_path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The demo's embedded S3 lives in a temporary state folder and is stopped afterwards."""
    monkeypatch.setenv("SIGMASIGHT_STATE_DIR", str(tmp_path / "state"))
    get_settings.cache_clear()
    yield
    stop_embedded_s3()
    get_settings.cache_clear()


def test_demo_runs_the_pipeline_and_prints_current_risk(engine, capsys, private_state):
    assert main(["demo", "--as-of", "2026-11-25", "--no-serve"]) == 0
    out = capsys.readouterr().out
    assert re.search(
        r"market data: [\d,]+ new bars from synthetic in \d+ requests, coverage 100%", out
    ), out
    # 60 sessions give at most 59 backtest days (C30 wants 60), so each date also warns.
    found = re.search(r"history:\s+59 sessions x 3 portfolios: (.*)", out)
    assert found is not None, out
    counts = {s: int(n) for n, s in re.findall(r"(\d+) (ok|warnings|incomplete|error)", found[1])}
    assert sum(counts.values()) == 177 and "error" not in counts, found[1]
    assert re.search(r"risk:\s+3 portfolios \d", out), out
    assert re.search(
        r"backups/\d{4}/\d\d/\d\d/sigmasight-\S+\.dump \([\d.,]+ MB, sha256 [0-9a-f]{12}", out
    ), out
    for external_id in PORTFOLIOS:
        line = next(row for row in out.splitlines() if row.startswith(external_id))
        # positions, date, NAV, VaR, beta, status: real numbers, not placeholders.
        assert re.search(r"\s2026-11-25\s+[\d,]+\s+[\d,]+\s+-?\d+\.\d\d\s+(ok|warnings)$", line), (
            line
        )
    with engine.connect() as conn:
        backups = conn.execute(text("SELECT status FROM backup")).scalars().all()
        current = conn.execute(
            text(
                "SELECT count(*) FROM portfolio_snapshot WHERE is_current AND as_of_date = '2026-11-25'"
            )
        ).scalar_one()
        owners = set(conn.execute(text("SELECT email FROM app_user")).scalars())
        # the first demo's reports are copied to the embedded S3 too (it starts first)
        copied = conn.execute(
            text("SELECT count(*), count(s3_key) FROM report WHERE as_of_date = '2026-11-25'")
        ).one()
    assert copied[0] > 0 and copied[1] == copied[0], copied
    assert "object storage: s3://" in out
    assert current == 3
    assert backups == ["completed"]
    assert {email for email, _ in DEMO_USERS} <= owners

    _check_history(engine)

    before = {k: v for k, v in table_digests(engine).items() if k in DATA_TABLES}
    assert main(["demo", "--as-of", "2026-11-25", "--no-serve"]) == 0
    assert "nothing changed" in capsys.readouterr().out
    after = {k: v for k, v in table_digests(engine).items() if k in DATA_TABLES}
    assert after == before


def _check_history(engine) -> None:
    """60 snapshots a portfolio, each day's P&L, flows, cash and trades as the seed implies."""
    as_of = dt.date(2026, 11, 25)
    days = demo_sessions(as_of)
    seed = demo_seed(as_of, history=True)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT f.external_id, s.as_of_date, s.nav, s.cash, s.external_flow, s.book_date, "
                "s.is_current, s.document FROM portfolio_snapshot s "
                "JOIN portfolio f ON f.id = s.portfolio_id ORDER BY 1, 2"
            )
        ).all()
        # The synthetic provider's splits and dividends, as the market-data run stored them.
        actions = conn.execute(
            text("SELECT symbol, ex_date, kind, value FROM corporate_action ORDER BY ex_date")
        ).all()
    paid = Decimal(0)
    series = defaultdict(list)
    for row in rows:
        series[row.external_id].append(row)
    assert sorted(series) == sorted(PORTFOLIOS)
    for external_id, snapshots in series.items():
        assert [r.as_of_date for r in snapshots] == days
        assert [r.is_current for r in snapshots] == [False] * 59 + [True]
        assert {r.book_date for r in snapshots} == {days[0]}
        assert snapshots[0].document["history"] is None  # the first date of the series
        portfolio = next(p for p in seed.bundle.portfolios if p.external_id == external_id)
        trades = [t for t in seed.trades if t.portfolio == external_id]
        flows = {f.flow_date: f.amount for f in seed.cash_flows if f.portfolio == external_id}
        cash = portfolio.cash
        # Shares held at each close (C19: a split multiplies them on its ex-date; C20: a
        # dividend pays quantity x amount on the ex-date for the shares held on E-1).
        shares: dict[str, Decimal] = defaultdict(Decimal)
        for position in portfolio.positions:
            if position.option is None:
                shares[position.symbol] += position.quantity
        for previous, row in itertools.pairwise(snapshots):
            day = row.as_of_date
            for action in actions:
                if action.ex_date == day and action.kind == "split":
                    shares[action.symbol] *= action.value
            dividends = sum(
                (
                    shares[a.symbol] * a.value
                    for a in actions
                    if a.ex_date == day and a.kind == "cash_dividend"
                ),
                Decimal(0),
            )
            cash += dividends
            paid += abs(dividends)
            today = [t for t in trades if t.trade_date == day]
            for t in today:
                if t.option is None:
                    shares[t.symbol] += t.quantity
            cash += flows.get(day, Decimal(0)) - sum(
                (t.quantity * t.price * (t.option.multiplier if t.option else 1) + t.fees)
                for t in today
            )
            flow = float(flows.get(day, 0))
            history = row.document["history"]
            assert history is not None, (external_id, day)
            assert history["previous_as_of"] == previous.as_of_date.isoformat()
            assert row.external_flow == pytest.approx(flow)
            assert history["external_flow"] == pytest.approx(flow)
            assert history["pnl"] == pytest.approx(row.nav - previous.nav - flow, abs=1e-6)
            assert history["twr_daily"] == pytest.approx(
                (row.nav - previous.nav - flow) / previous.nav, rel=1e-9
            )
            assert row.cash == pytest.approx(float(cash), abs=0.01), (external_id, day)
            book = row.document["book"]
            assert book["book_date"] == days[0].isoformat()
            assert book["trades_applied"] == sum(1 for t in trades if t.trade_date <= day)
        assert snapshots[-1].document["book"]["trades_applied"] == len(trades) >= 3
    assert paid > 0  # the demo's history crosses dividends of held stocks
    # The deposits and the withdrawal show on their day, in the snapshot and its document.
    for spec in seed.cash_flows:
        on_day = next(r for r in series[spec.portfolio] if r.as_of_date == spec.flow_date)
        assert on_day.external_flow == pytest.approx(float(spec.amount)) != 0
