"""nightly-risk on a real Dask cluster (a scheduler and two worker processes over TCP).

The workers are separate OS processes started with the ``dask`` command, as on a cluster:
each loads the run's market itself and writes its chunks itself. Their documents must equal
those of a single-process run (the default thread pool) of the same portfolios and date,
computed from empty result tables (not a rerun, which would keep the first run's rows).
"""

import datetime as dt
import math
import uuid
from typing import Any

import pytest
from distributed import Client
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL, temporary_settings
from sqlalchemy import Engine, text

from bench.cluster import TcpCluster
from bench.copy_reference import RESULT_TABLES
from bench.dask_scale import flatten
from bench.nightly_risk import store_books, store_prices, store_reference, universe_symbols
from flows.nightly_risk import nightly_risk
from sigmasight.runs import risk as risk_run
from sigmasight.settings import get_settings
from sigmasight.trading_calendar import last_completed_session, sessions
from tasks.runners import risk_runner

N_PORTFOLIOS = 30
CHUNK = 5


def stored_documents(as_of: dt.date) -> dict[str, dict[str, Any]]:
    return {
        doc.portfolio_id: flatten(doc.as_json())
        for doc in risk_run.export_documents(get_settings(), as_of)
    }


def held_markets() -> list[str]:
    """Run ids whose prepared market this process holds (run on each worker)."""
    return sorted(str(run_id) for run_id in risk_run._held)


def test_two_worker_processes_over_tcp_match_a_single_process_run(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIGMASIGHT_RISK_CHUNK_SIZE", str(CHUNK))
    get_settings.cache_clear()
    as_of = last_completed_session()
    days = sessions(as_of - dt.timedelta(days=420), as_of)[-260:]
    symbols = universe_symbols(40)
    spot = store_prices(symbols, days)
    store_books(store_reference(), symbols, spot, as_of, N_PORTFOLIOS, 8)

    # The workers report their task runs to the same Prefect API as this process.
    with get_client(sync_client=True) as client:
        api = str(client.api_url)
    monkeypatch.setenv("PREFECT_API_URL", api)
    with TcpCluster() as cluster, temporary_settings(updates={PREFECT_API_URL: api}):
        cluster.add_workers(2)
        monkeypatch.setenv("SIGMASIGHT_DASK_ADDRESS", cluster.address)
        get_settings.cache_clear()
        on_cluster = nightly_risk.with_options(task_runner=risk_runner(get_settings()))
        state = on_cluster(as_of=as_of, return_state=True)
        assert state.is_completed(), f"{state.message}\n{cluster.log_tail()}"
        result = state.result()
        assert isinstance(result, dict)
        assert result["portfolios"] == N_PORTFOLIOS and result["chunks"] == N_PORTFOLIOS // CHUNK
        run_id = result["run_id"]
        with Client(cluster.address) as dask:
            held = dask.run(held_markets)
        # Every worker that ran a chunk loaded the run's market itself; this process let its
        # own copy go when the run finished.
        assert len(held) == 2 and any(run_id in runs for runs in held.values()), held
        assert uuid.UUID(run_id) not in risk_run._held
    cluster_documents = stored_documents(as_of)

    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(RESULT_TABLES)}"))
    monkeypatch.delenv("SIGMASIGHT_DASK_ADDRESS")
    get_settings.cache_clear()
    single = nightly_risk(as_of=as_of, return_state=True)
    assert single.is_completed(), single.message
    single_documents = stored_documents(as_of)

    assert len(cluster_documents) == N_PORTFOLIOS
    assert cluster_documents.keys() == single_documents.keys()
    for portfolio, leaves in single_documents.items():
        found = cluster_documents[portfolio]
        assert found.keys() == leaves.keys(), portfolio
        for path, value in leaves.items():
            other = found[path]
            if isinstance(value, float) and isinstance(other, float):
                assert (math.isnan(value) and math.isnan(other)) or math.isclose(
                    other, value, rel_tol=1e-9, abs_tol=1e-12
                ), (portfolio, path, value, other)
            else:
                assert other == value, (portfolio, path)
