"""Scale-out benchmark: nightly-risk on a real Dask cluster with 1 and then 2 worker processes (issue 15).

Target: 100,000 portfolios x 50 positions (3,000 symbols x 400 sessions) complete on a
two-worker cluster over TCP with every worker's peak RSS <= 3 GiB, and 2 workers reach
>= 1.6x the throughput of 1 when the machine is otherwise idle.

Setup (not timed): a migrated scratch database filled by ``bench.nightly_risk``'s setup
functions; a Prefect API server (the same subprocess server Prefect starts on demand, made
addressable so the workers report to it); a ``dask scheduler`` process on 127.0.0.1.

Timed, once per worker count (1, then 2): fresh ``dask worker --nworkers 1 --nthreads 1``
processes are started and connected, the result tables are emptied, and the real flow
``flows.nightly_risk.nightly_risk`` runs with ``SIGMASIGHT_DASK_ADDRESS`` set to the
scheduler. Each worker loads the run's market from the database on its first chunk and
writes its chunks itself; only chunk ids, dates and the small per-chunk report pass through
the scheduler. Throughput = portfolios / flow wall time. RSS is sampled with psutil every
0.2 s for each worker process, the scheduler and this (the flow's) process.

Check: after the 2-worker run a sample of portfolios' stored documents (``sigmasight.risk/1``)
is read; the result tables are emptied, the same portfolios are computed in this process
without Dask (the run steps ``plan_risk``, ``run_chunk``, ``finish_risk``) for the same date,
and their documents must be equal (floats to 1e-9 relative; the run id differs).

Usage: ``.venv/bin/python -m bench.dask_scale [--portfolios 100000] [--positions 50]
[--symbols 3000] [--days 400] [--chunk-size 1000] [--sample 24] [--workers 1,2]``
"""

import argparse
import datetime as dt
import importlib
import math
import os
import pickle
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import text

from bench.cluster import RssSampler, TcpCluster, TreePeak
from bench.common import scratch_database
from bench.copy_reference import RESULT_TABLES
from bench.nightly_risk import (
    GIB,
    admin_url,
    mib,
    release_free_memory,
    reset_results,
    setup,
    table_counts,
    verdict,
)
from sigmasight import db as sdb
from sigmasight.domain import DEFAULT_FACTORS
from sigmasight.prefect_env import apply_prefect_defaults
from sigmasight.runs import ledger
from sigmasight.runs import risk as risk_run
from sigmasight.settings import get_settings

TARGET_RSS = 3 * GIB
TARGET_SPEEDUP = 1.6


def flatten(value: Any, path: str = "") -> dict[str, Any]:
    """A document as ``{path: leaf}``, without its run id (it names the run that wrote it)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key != "run_id":
                out.update(flatten(item, f"{path}.{key}"))
        return out
    if isinstance(value, list):
        out = {}
        for index, item in enumerate(value):
            out.update(flatten(item, f"{path}[{index}]"))
        return out
    return {path: value}


def differences(expected: dict[str, Any], actual: dict[str, Any], limit: int = 5) -> list[str]:
    """Leaves that differ (floats beyond 1e-9 relative), at most ``limit`` of them."""
    found = (
        [f"only in one: {sorted(expected.keys() ^ actual.keys())[:limit]}"]
        if (expected.keys() != actual.keys())
        else []
    )
    for path in sorted(expected.keys() & actual.keys()):
        a, b = expected[path], actual[path]
        if isinstance(a, float) and isinstance(b, float):
            same = (math.isnan(a) and math.isnan(b)) or math.isclose(
                a, b, rel_tol=1e-9, abs_tol=1e-12
            )
        else:
            same = a == b
        if not same:
            found.append(f"{path}: {a!r} != {b!r}")
        if len(found) >= limit:
            break
    return found


def documents(as_of: dt.date, external_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The stored documents of ``external_ids`` on ``as_of``, flattened."""
    settings = get_settings()
    found: dict[str, dict[str, Any]] = {}
    for external_id in external_ids:
        for doc in risk_run.export_documents(settings, as_of, external_id):
            found[doc.portfolio_id] = flatten(doc.as_json())
    return found


def sample_portfolios(n: int, size: int, seed: int = 15) -> list[tuple[int, str]]:
    """``size`` portfolios spread over the book: (id, external id)."""
    with sdb.session_scope() as session:
        rows = session.execute(text("SELECT id, external_id FROM portfolio ORDER BY id")).all()
    picks = np.random.default_rng(seed).choice(len(rows), size=min(size, len(rows)), replace=False)
    return [(int(rows[i][0]), str(rows[i][1])) for i in sorted(picks.tolist())]


@dataclass(frozen=True)
class SingleProcess:
    """The reference run of the sample: its documents and one chunk report's size."""

    documents: dict[str, dict[str, Any]]
    report_bytes: int
    portfolios: int


def single_process(as_of: dt.date, sample: Sequence[tuple[int, str]]) -> SingleProcess:
    """The sample's risk in this process, no Dask: the flow's run steps, then its documents."""
    settings = get_settings()
    ids = [pid for pid, _ in sample]
    run_id = ledger.open_run("nightly-risk", as_of=as_of, inputs={"bench": "single-process"})
    risk_run.plan_risk(settings, as_of, run_id)
    report = risk_run.run_chunk(settings, as_of, ids, run_id)
    risk_run.finish_risk(settings, as_of, ids, run_id)
    ledger.close_run(run_id, "succeeded", counts={"portfolios": len(ids)})
    return SingleProcess(
        documents(as_of, [external for _, external in sample]),
        len(pickle.dumps(report)),
        len(ids),
    )


@dataclass
class ScaleRun:
    """One timed run on ``workers`` worker processes."""

    workers: int
    wall_s: float
    portfolios: int
    chunks: int
    statuses: dict[str, int]
    timings: dict[str, float]
    worker_peaks: list[TreePeak]
    scheduler_peak: TreePeak
    flow_peak: TreePeak
    load_before: float
    load_after: float

    @property
    def throughput(self) -> float:
        return self.portfolios / self.wall_s


@contextmanager
def prefect_api() -> Iterator[str]:
    """Prefect's subprocess API server, with PREFECT_API_URL pointing at it (workers included)."""
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL, temporary_settings

    server = SubprocessASGIServer()
    server.start(timeout=180)
    try:
        os.environ["PREFECT_API_URL"] = server.api_url
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            yield server.api_url
    finally:
        os.environ.pop("PREFECT_API_URL", None)
        server.stop()


def timed_run(cluster: TcpCluster, workers: int, as_of: dt.date) -> ScaleRun:
    """Fresh workers, empty result tables, one nightly-risk flow run on the cluster."""
    from flows.nightly_risk import nightly_risk

    cluster.stop_workers()
    reset_results(admin_url())
    release_free_memory()
    started = cluster.add_workers(workers)
    assert cluster.scheduler is not None
    roots = {f"worker {i + 1}": p.pid for i, p in enumerate(started)}
    roots |= {"scheduler": cluster.scheduler.pid, "flow": os.getpid()}
    load_before = os.getloadavg()[0]
    with RssSampler(roots) as sampler:
        t0 = time.perf_counter()
        result = nightly_risk(as_of=as_of)
        wall = time.perf_counter() - t0
    if not isinstance(result, dict):
        raise SystemExit(f"the flow did not complete: {result}\n{cluster.log_tail()}")
    known = {"as_of", "run_id", "portfolios", "chunks", "current", "new_limit_breaches", "timings"}
    return ScaleRun(
        workers=workers,
        wall_s=wall,
        portfolios=int(result["portfolios"]),
        chunks=int(result["chunks"]),
        statuses={k: int(v) for k, v in result.items() if k not in known},
        timings={k: float(v) for k, v in result["timings"].items()},
        worker_peaks=[sampler.peaks[f"worker {i + 1}"] for i in range(workers)],
        scheduler_peak=sampler.peaks["scheduler"],
        flow_peak=sampler.peaks["flow"],
        load_before=load_before,
        load_after=os.getloadavg()[0],
    )


def print_run(run: ScaleRun) -> None:
    peaks = ", ".join(f"{mib(p.largest)} (with nanny {mib(p.total)})" for p in run.worker_peaks)
    print(
        f"   {run.workers} worker(s): {run.wall_s:8.1f} s wall, {run.throughput:7.1f} portfolios/s,"
        f" {run.portfolios:,} portfolios in {run.chunks} chunks {run.statuses};"
        f" load1 {run.load_before:.2f} before, {run.load_after:.2f} after"
    )
    print(f"      peak RSS per worker process: {peaks}")
    print(
        f"      scheduler peak {mib(run.scheduler_peak.total)}, flow process peak"
        f" {mib(run.flow_peak.largest)}; stage seconds summed over chunks:"
        f" { {k: round(v, 1) for k, v in sorted(run.timings.items())} }"
    )


def main() -> None:
    """Set up, start the cluster, run with 1 and 2 workers, check the sample, print."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--portfolios", type=int, default=100_000)
    parser.add_argument("--positions", type=int, default=50)
    parser.add_argument("--symbols", type=int, default=3_000)
    parser.add_argument("--days", type=int, default=400)
    parser.add_argument("--chunk-size", type=int, default=1_000)
    parser.add_argument("--sample", type=int, default=24, help="documents compared")
    parser.add_argument("--workers", default="1,2", help="worker counts, in order (e.g. 1,2)")
    args = parser.parse_args()
    if args.symbols <= len(DEFAULT_FACTORS) or not 0 < args.positions < args.symbols:
        parser.error("need more symbols than the 7 factor ETFs, and 0 < positions < symbols")
    try:
        counts = [int(n) for n in args.workers.split(",")]
    except ValueError:
        parser.error(f"--workers {args.workers!r}: worker counts separated by commas, e.g. 1,2")
    if not counts or min(counts) < 1 or args.sample < 1 or args.chunk_size < 1:
        parser.error("--workers, --sample and --chunk-size must be positive")

    os.environ["SIGMASIGHT_RISK_CHUNK_SIZE"] = str(args.chunk_size)
    get_settings.cache_clear()
    apply_prefect_defaults(get_settings())
    print(
        f"Dask scale-out benchmark: {args.portfolios:,} portfolios x {args.positions} positions,"
        f" {args.symbols:,} symbols x {args.days} sessions, chunk {args.chunk_size:,},"
        f" workers {counts}, {os.cpu_count()} CPUs, load1 {os.getloadavg()[0]:.2f}"
    )
    with scratch_database() as url:
        t0 = time.perf_counter()
        universe = setup(args.symbols, args.days, args.portfolios, args.positions)
        print(
            f"\n1. setup (not timed), scratch database {url.database}: {universe.n_portfolios:,}"
            f" portfolios, {universe.n_positions:,} positions, as of {universe.as_of},"
            f" {time.perf_counter() - t0:.0f} s"
        )
        with prefect_api() as api, TcpCluster() as cluster:
            os.environ["SIGMASIGHT_DASK_ADDRESS"] = cluster.address
            get_settings.cache_clear()
            # The flow picks its task runner from the settings when its module is imported.
            importlib.import_module("flows.nightly_risk")
            print(f"   Prefect API {api}; dask scheduler {cluster.address}; logs in {cluster.logs}")
            print("\n2. timed nightly-risk runs on the cluster (result tables emptied before each)")
            runs = []
            for n in counts:
                runs.append(timed_run(cluster, n, universe.as_of))
                print_run(runs[-1])
            written = table_counts(RESULT_TABLES)
            sample = sample_portfolios(universe.n_portfolios, args.sample)
            on_cluster = documents(universe.as_of, [external for _, external in sample])
            cluster.stop_workers()
        os.environ.pop("SIGMASIGHT_DASK_ADDRESS", None)
        get_settings.cache_clear()

        reset_results(admin_url())
        reference = single_process(universe.as_of, sample)
        print("\n3. results")
        print(f"   rows written by the last run: {written}")
        report_targets(runs)
        mismatched = {
            external: differences(reference.documents.get(external, {}), found)
            for external, found in on_cluster.items()
        }
        bad = {k: v for k, v in mismatched.items() if v}
        same = len(on_cluster) == len(sample) == len(reference.documents) and not bad
        print(
            f"   documents of {len(sample)} sampled portfolios equal to a single-process run:"
            f" {verdict(same)} ({len(on_cluster)} read from the cluster run,"
            f" {len(reference.documents)} from the single-process run)"
        )
        for external, diffs in list(bad.items())[:3]:
            print(f"      {external}: {diffs}")
        from tasks.risk import SUMMARY_ROWS

        per_chunk = reference.report_bytes / reference.portfolios * args.chunk_size
        print(
            f"   what a chunk sends back through Dask: its report, {reference.report_bytes:,} bytes"
            f" pickled for {reference.portfolios} portfolios (~{per_chunk / 1024:,.0f} KiB for"
            f" {args.chunk_size:,}, less once the task keeps at most {SUMMARY_ROWS} headline"
            " rows); a chunk task's arguments are a date, a run id and its ids"
        )
        if not same:
            raise SystemExit(1)


def report_targets(runs: Sequence[ScaleRun]) -> None:
    by_count = {r.workers: r for r in runs}
    for run in runs:
        worst = max(p.largest for p in run.worker_peaks)
        print(
            f"   peak RSS per worker <= 3 GiB with {run.workers} worker(s): {worst / GIB:.2f} GiB"
            f"  {verdict(worst <= TARGET_RSS)}"
        )
    if 1 in by_count and 2 in by_count:
        one, two = by_count[1], by_count[2]
        ratio = two.throughput / one.throughput
        print(
            f"   throughput 2 workers / 1 worker >= {TARGET_SPEEDUP}x: {two.throughput:.1f} /"
            f" {one.throughput:.1f} portfolios/s = {ratio:.2f}x  {verdict(ratio >= TARGET_SPEEDUP)}"
            f" (load1 during: {one.load_after:.2f} and {two.load_after:.2f} on"
            f" {os.cpu_count()} CPUs)"
        )


if __name__ == "__main__":
    main()
