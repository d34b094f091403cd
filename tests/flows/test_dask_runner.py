"""nightly-risk on a Dask LocalCluster gives the same results as on the default thread pool."""

import datetime as dt
import math
from pathlib import Path

import pytest

from bench.dask_scale import flatten
from flows.market_data import pull_market_data
from flows.nightly_risk import nightly_risk
from sigmasight import db as sdb
from sigmasight.runs.risk import export_documents
from sigmasight.runs.seed import seed_demo
from sigmasight.settings import get_settings
from tasks.runners import dask_runner

AS_OF = dt.date(2025, 11, 24)
ROOT = Path(__file__).resolve().parents[2]


def test_dask_local_cluster_matches_the_thread_pool(engine, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SIGMASIGHT_RISK_CHUNK_SIZE", "1")
    # Dask worker processes import our packages: they need the project on their path.
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    get_settings.cache_clear()
    sdb.reset_engine()
    seed_demo(AS_OF)
    assert pull_market_data(
        as_of=AS_OF, provider="synthetic", backfill_years=1, return_state=True
    ).is_completed()

    threads = nightly_risk(as_of=AS_OF, return_state=True)
    assert threads.is_completed(), threads.message
    expected = {
        doc.portfolio_id: flatten(doc.as_json()) for doc in export_documents(get_settings(), AS_OF)
    }

    on_dask = nightly_risk.with_options(task_runner=dask_runner(local_workers=2))
    state = on_dask(as_of=AS_OF, return_state=True)
    assert state.is_completed(), state.message
    result = state.result()
    assert isinstance(result, dict) and result["chunks"] == 3
    actual = {
        doc.portfolio_id: flatten(doc.as_json()) for doc in export_documents(get_settings(), AS_OF)
    }

    assert actual.keys() == expected.keys() == {"DEMO_HEDGE_FUND", "DEMO_HNW", "DEMO_INDIVIDUAL"}
    for portfolio, leaves in expected.items():
        assert actual[portfolio].keys() == leaves.keys()
        for path, value in leaves.items():
            other = actual[portfolio][path]
            if isinstance(value, float) and isinstance(other, float):
                assert math.isclose(other, value, rel_tol=1e-9, abs_tol=1e-9), (portfolio, path)
            else:
                assert other == value, (portfolio, path)
