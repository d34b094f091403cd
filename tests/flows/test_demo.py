"""`sigmasight demo`: migrate, seed, nightly pipeline, summary; a second run changes no data."""

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from cli.main import main
from sigmasight.demo import DEMO_USERS
from sigmasight.objectstore import stop_embedded_s3
from sigmasight.settings import get_settings
from tests.dbstate import table_digests

PORTFOLIOS = ("DEMO_HEDGE_FUND", "DEMO_HNW", "DEMO_INDIVIDUAL")
DATA_TABLES = (
    "app_user",
    "portfolio",
    "position",
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
    assert "risk:        3 portfolios 3 ok" in out
    assert re.search(
        r"backups/\d{4}/\d\d/\d\d/sigmasight-\S+\.dump \([\d.,]+ MB, sha256 [0-9a-f]{12}", out
    ), out
    for external_id in PORTFOLIOS:
        line = next(row for row in out.splitlines() if row.startswith(external_id))
        # positions, date, NAV, VaR, beta, status: real numbers, not placeholders.
        assert re.search(r"\s2026-11-25\s+[\d,]+\s+[\d,]+\s+-?\d+\.\d\d\s+ok$", line), line
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

    before = {k: v for k, v in table_digests(engine).items() if k in DATA_TABLES}
    assert main(["demo", "--as-of", "2026-11-25", "--no-serve"]) == 0
    assert "nothing changed" in capsys.readouterr().out
    after = {k: v for k, v in table_digests(engine).items() if k in DATA_TABLES}
    assert after == before
