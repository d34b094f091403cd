"""Benchmark of the API's risk-document endpoint (issue 6).

Target: ``GET /api/v1/portfolios/{id}/risk`` (authenticated) at 50 concurrent clients on
loopback with no errors, p99 <= 100 ms, and >= 0.5x the throughput of an endpoint on the same
server that returns the same bytes from memory, measured in the same run.

Setup (not timed), in a migrated scratch database on the embedded server (or DATABASE_URL's),
dropped afterwards: the demo seed, synthetic prices for its universe, and one nightly-risk
run through the flow's own steps (no Prefect). Then ``sigmasight api`` starts as a separate
process, exactly as a user starts it, with ``SIGMASIGHT_API_BENCH_ROUTES=true``, which adds
the debug-only ``/_bench/memory`` route; the bench stores the risk document's bytes there.

The load generator is a minimal asyncio HTTP/1.1 client (keep-alive, one connection per
client, each sending its next request when the previous answer has arrived), so the client
costs far less CPU per request than the server and the server is what is measured. Rounds
alternate between the two endpoints (document, memory, document, ...); the figures are the
medians over rounds. Every response is checked: status 200 and the exact expected bytes.

Usage: ``.venv/bin/python -m bench.api [--clients 50] [--seconds 6] [--rounds 3]
[--portfolio DEMO_HNW] [--access-log]``
"""

import argparse
import asyncio
import datetime as dt
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psutil  # type: ignore[import-untyped]

from bench.common import scratch_database
from sigmasight.db import session_scope
from sigmasight.demo import DEMO_HNW_EMAIL, DEMO_PASSWORD
from sigmasight.domain import RATE_SERIES
from sigmasight.providers.synthetic import SyntheticProvider
from sigmasight.repositories.market import load_universe
from sigmasight.repositories.prices import upsert_bars, upsert_rates
from sigmasight.runs import ledger
from sigmasight.runs import risk as risk_run
from sigmasight.runs.seed import seed_demo
from sigmasight.settings import get_settings
from sigmasight.trading_calendar import last_completed_session, sessions

TARGET_P99_MS = 100.0
TARGET_RATIO = 0.5
ROOT = Path(__file__).resolve().parent.parent


# -- setup ---------------------------------------------------------------------------------
def populate(n_sessions: int = 320) -> dt.date:
    """The demo book, synthetic prices and one risk run; returns the as-of date."""
    as_of = last_completed_session()
    days = sessions(as_of - dt.timedelta(days=n_sessions * 2), as_of)[-n_sessions:]
    seed_demo(as_of)
    with session_scope() as session:
        universe = load_universe(session, default_benchmark="SPY")
    symbols = sorted(s for s, roles in universe.items() if roles != {"option"})
    provider = SyntheticProvider()
    source_run = uuid.uuid4()
    with session_scope() as session:
        upsert_bars(
            session,
            provider.bars_for(symbols, days[0], as_of),
            source="synthetic",
            run_id=source_run,
        )
        upsert_rates(
            session,
            RATE_SERIES,
            provider.observations(RATE_SERIES, days[0] - dt.timedelta(days=30), as_of),
            source="synthetic",
            run_id=source_run,
        )
    run_id = ledger.open_run("nightly-risk", as_of=as_of, inputs={"bench": "api"})
    settings = get_settings().model_copy(
        update={"risk_chunk_size": 1000, "risk_lookback_sessions": 252}
    )
    plan = risk_run.plan_risk(settings, as_of, run_id)
    for chunk in plan.chunks:
        risk_run.run_chunk(settings, as_of, chunk, run_id)
    risk_run.finish_risk(settings, as_of, plan.portfolio_ids, run_id)
    ledger.close_run(run_id, "succeeded", counts={"portfolios": plan.n_portfolios})
    return as_of


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(port: int, access_log: bool, cache_ttl_s: float) -> subprocess.Popen[bytes]:
    """``sigmasight api`` in its own process (its own core and GIL)."""
    env = dict(os.environ)
    env.update(
        SECRET_KEY=secrets.token_urlsafe(48),
        SIGMASIGHT_API_BENCH_ROUTES="true",
        SIGMASIGHT_API_CACHE_TTL_S=str(cache_ttl_s),
        SIGMASIGHT_LOG_LEVEL="INFO" if access_log else "WARNING",
    )
    # The server's log (with --access-log, a line per request) goes to a file, not the terminal.
    log = Path(tempfile.gettempdir()) / f"sigmasight-bench-api-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", "api", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"sigmasight api exited with {process.returncode}; see {log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/openapi.json", timeout=1):
                return process
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit("sigmasight api did not answer within 60 s")


def http(method: str, url: str, body: bytes | None = None, token: str | None = None) -> bytes:
    request = urllib.request.Request(url, data=body, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        return bytes(response.read())


# -- load generator ------------------------------------------------------------------------
@dataclass
class Round:
    """One timed round against one endpoint."""

    name: str
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    server_cpu_s: float = 0.0

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile_ms(self, q: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def cpu_ms_per_request(self) -> float:
        return 1000 * self.server_cpu_s / max(1, len(self.latencies))


async def _client(
    port: int, request: bytes, expected: bytes, deadline: float, start: float, out: Round
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while True:
            t0 = time.perf_counter()
            if t0 >= deadline:
                break
            writer.write(request)
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            body = await reader.readexactly(length)
            t1 = time.perf_counter()
            if t0 >= start:  # requests sent during the warm-up are not counted
                out.latencies.append(t1 - t0)
                if not status_line.startswith(b"HTTP/1.1 200") or body != expected:
                    out.errors += 1
    finally:
        writer.close()


async def _load(
    port: int, path: str, token: str, expected: bytes, clients: int, warmup: float, seconds: float
) -> Round:
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\nAccept: application/json\r\n\r\n"
    ).encode()
    now = time.perf_counter()
    start, deadline = now + warmup, now + warmup + seconds
    out = Round(name=path, seconds=seconds)
    await asyncio.gather(
        *(_client(port, request, expected, deadline, start, out) for _ in range(clients))
    )
    return out


def run_round(
    server: psutil.Process,
    port: int,
    path: str,
    token: str,
    expected: bytes,
    clients: int,
    seconds: float,
) -> Round:
    warmup = 1.0
    cpu0 = server.cpu_times()
    started = time.perf_counter()
    result = asyncio.run(_load(port, path, token, expected, clients, warmup, seconds))
    cpu1 = server.cpu_times()
    elapsed = time.perf_counter() - started
    # Server CPU over the whole round, scaled to the timed part.
    total_cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    result.server_cpu_s = total_cpu * seconds / elapsed
    return result


def summarize(label: str, rounds: list[Round]) -> dict[str, float]:
    figures = {
        "throughput": statistics.median(r.throughput for r in rounds),
        "p50": statistics.median(r.percentile_ms(0.50) for r in rounds),
        "p99": statistics.median(r.percentile_ms(0.99) for r in rounds),
        "max": max(r.percentile_ms(1.0) for r in rounds),
        "errors": float(sum(r.errors for r in rounds)),
        "requests": float(sum(len(r.latencies) for r in rounds)),
        "cpu_ms": statistics.median(r.cpu_ms_per_request for r in rounds),
    }
    print(
        f"{label:<34} {figures['throughput']:>9,.0f} req/s  p50 {figures['p50']:6.1f} ms  "
        f"p99 {figures['p99']:6.1f} ms  max {figures['max']:6.1f} ms  "
        f"server CPU {figures['cpu_ms']:.2f} ms/req  "
        f"{int(figures['requests']):,} requests, {int(figures['errors'])} errors"
    )
    return figures


@dataclass(frozen=True)
class Outcome:
    """The figures of one server configuration."""

    cache_ttl_s: float
    document: dict[str, float]
    memory: dict[str, float]

    @property
    def ratio(self) -> float:
        return self.document["throughput"] / self.memory["throughput"]


def measure(args: argparse.Namespace, as_of: dt.date, cache_ttl_s: float) -> Outcome:
    """Start a server with this cache TTL and load both endpoints in alternating rounds."""
    port = free_port()
    process = start_server(port, args.access_log, cache_ttl_s)
    try:
        base = f"http://127.0.0.1:{port}"
        login = json.dumps({"email": DEMO_HNW_EMAIL, "password": DEMO_PASSWORD}).encode()
        token = json.loads(http("POST", f"{base}/api/v1/auth/login", login))["access_token"]
        path = f"/api/v1/portfolios/{args.portfolio}/risk"
        document = http("GET", base + path, token=token)
        http("PUT", f"{base}/_bench/memory", document)
        assert http("GET", f"{base}/_bench/memory") == document
        print(
            f"\n== SIGMASIGHT_API_CACHE_TTL_S={cache_ttl_s:g}: {args.portfolio} as of {as_of}, "
            f"{len(document):,} bytes; {args.clients} clients, {args.rounds} x {args.seconds:g} s "
            f"per endpoint, server log level {'INFO' if args.access_log else 'WARNING'}",
            flush=True,
        )
        server = psutil.Process(process.pid)
        doc_rounds: list[Round] = []
        mem_rounds: list[Round] = []
        for _ in range(args.rounds):
            for target, rounds in ((path, doc_rounds), ("/_bench/memory", mem_rounds)):
                rounds.append(
                    run_round(server, port, target, token, document, args.clients, args.seconds)
                )
        outcome = Outcome(
            cache_ttl_s,
            summarize("risk document (DB, authenticated)", doc_rounds),
            summarize("same bytes from memory", mem_rounds),
        )
        print(f"{'throughput ratio':<34} {outcome.ratio:>9.2f}x")
        return outcome
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> None:
    """Set up once, then measure the default configuration and per-request validation."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--portfolio", default="DEMO_HNW")
    parser.add_argument(
        "--access-log", action="store_true", help="run the server at INFO (access log on)"
    )
    parser.add_argument(
        "--ttl",
        type=float,
        action="append",
        help="cache TTL(s) to measure (default: 1, the shipped default, then 0)",
    )
    args = parser.parse_args()
    with scratch_database():
        print("setting up: demo seed, synthetic prices, one risk run ...", flush=True)
        as_of = populate()
        outcomes = [measure(args, as_of, ttl) for ttl in (args.ttl or [1.0, 0.0])]
    print("\n== verdicts (target: p99 <= 100 ms, >= 0.5x the memory endpoint, no errors)")
    for o in outcomes:
        errors = int(o.document["errors"] + o.memory["errors"])
        met = o.document["p99"] <= TARGET_P99_MS and o.ratio >= TARGET_RATIO and errors == 0
        print(
            f"cache TTL {o.cache_ttl_s:g} s: p99 {o.document['p99']:.1f} ms, "
            f"ratio {o.ratio:.2f}x, {errors} errors: {'met' if met else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
