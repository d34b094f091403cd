"""The production topology end to end, without containers (issue: the production path, proven).

An external PostgreSQL this test starts itself; ``prefect server start`` on a database of its
own in it; a process work pool with ``prefect worker start``; ``prefect deploy --all`` from
prefect.yaml; the ``nightly`` deployment triggered through the Prefect API and run by the
worker; ``sigmasight backup`` (pg_dump matching that server) and ``backup verify`` to an S3
(moto over HTTP); then ``sigmasight api`` reading the results. Every process is stopped
afterwards. Nothing here uses the embedded database or the served mode.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg

from sigmasight.demo import DEMO_HNW_EMAIL, DEMO_PASSWORD
from sigmasight.objectstore import embedded_client
from sigmasight.trading_calendar import last_completed_session
from tests.plain_pg import PlainServer, plain_postgres
from tests.s3 import moto_server, s3_environment

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "prod-backups"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_http(url: str, seconds: float, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=5).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise AssertionError(f"{url} did not answer in {seconds} s:\n{log.read_text()[-3000:]}")


@contextmanager
def _processes(logs: Path) -> Iterator[list[tuple[str, subprocess.Popen[bytes]]]]:
    started: list[tuple[str, subprocess.Popen[bytes]]] = []
    try:
        yield started
    finally:
        for _, process in reversed(started):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for name, process in started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            assert process.poll() is not None, name


def _spawn(
    started: list[tuple[str, subprocess.Popen[bytes]]],
    name: str,
    argv: list[str],
    env: dict[str, str],
    logs: Path,
) -> Path:
    log = logs / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    started.append((name, process))
    return log


def _create_database(server: PlainServer, name: str) -> str:
    dsn = server.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server.url.set(drivername="postgresql+asyncpg", database=name).render_as_string(
        hide_password=False
    )


def test_external_postgres_prefect_server_worker_deployment_backup_and_api(tmp_path: Path):
    as_of = last_completed_session().isoformat()
    logs = tmp_path / "logs"
    logs.mkdir()
    with plain_postgres() as server, moto_server() as s3, _processes(logs) as started:
        bucket_client = embedded_client(s3)
        bucket_client.create_bucket(Bucket=BUCKET)
        bucket_client.close()
        prefect_port, api_port = _free_port(), _free_port()
        prefect_api = f"http://127.0.0.1:{prefect_port}/api"
        inherited = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PREFECT_", "SIGMASIGHT_", "AWS_", "DATABASE_URL"))
        }
        env = {
            **inherited,
            "PYTHONPATH": str(ROOT),
            "SIGMASIGHT_HOME": str(ROOT),
            "DATABASE_URL": server.url.render_as_string(hide_password=False),
            "SIGMASIGHT_STATE_DIR": str(tmp_path / "state"),
            "SIGMASIGHT_REPORTS_DIR": str(tmp_path / "reports"),
            "PREFECT_HOME": str(tmp_path / "prefect-home"),
            "PREFECT_API_URL": prefect_api,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            **s3_environment(s3, BUCKET, tmp_path),
            "COLUMNS": "250",
        }

        def run(*argv: str, timeout: float = 300) -> str:
            done = subprocess.run(
                list(argv), env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
            )
            said = done.stdout + done.stderr
            assert done.returncode == 0, f"{' '.join(argv)} -> {done.returncode}\n{said[-3000:]}"
            assert str(server.url.password) not in said, f"the password leaked from {argv}"
            return said

        cli = [sys.executable, "-m", "cli"]
        prefect = [sys.executable, "-m", "prefect"]

        # The Prefect server on a database of its own in the same PostgreSQL.
        server_env = {
            **env,
            "PREFECT_API_DATABASE_CONNECTION_URL": _create_database(server, "prefect"),
        }
        server_log = _spawn(
            started,
            "prefect-server",
            [*prefect, "server", "start", "--host", "127.0.0.1", "--port", str(prefect_port)],
            server_env,
            logs,
        )
        run(*cli, "db", "upgrade")
        run(*cli, "seed", "demo", "--as-of", as_of)
        _wait_http(f"{prefect_api}/health", 180, server_log)

        # A process pool, the deployments of prefect.yaml, a worker.
        run(*prefect, "work-pool", "create", "sigmasight", "--type", "process")
        run(*prefect, "--no-prompt", "deploy", "--all", timeout=180)
        worker_log = _spawn(
            started,
            "worker",
            [*prefect, "worker", "start", "--pool", "sigmasight", "--limit", "1"],
            env,
            logs,
        )

        # The nightly deployment, triggered through the Prefect API, run by the worker.
        with httpx.Client(base_url=prefect_api, timeout=30) as api:
            deployment = api.get("/deployments/name/nightly/nightly").json()
            flow_run = api.post(
                f"/deployments/{deployment['id']}/create_flow_run",
                json={"parameters": {"as_of": as_of, "provider": "synthetic"}},
            ).json()
            deadline = time.monotonic() + 900
            state = ""
            while time.monotonic() < deadline:
                state = api.get(f"/flow_runs/{flow_run['id']}").json()["state"]["type"]
                if state in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
                    break
                time.sleep(3)
        assert state == "COMPLETED", (state, worker_log.read_text()[-4000:])

        # The ledger in the application database: the parent and its three children.
        dsn = server.url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(dsn) as conn:
            flows: dict[str, str] = dict(
                conn.execute(
                    "SELECT flow, status FROM flow_run WHERE as_of_date = %s", (as_of,)
                ).fetchall()
            )
            current = conn.execute(
                "SELECT count(*) FROM portfolio_snapshot WHERE is_current AND as_of_date = %s",
                (as_of,),
            ).fetchone()
        assert flows == {
            "nightly": "succeeded",
            "market-data": "succeeded",
            "nightly-risk": "succeeded",
            "reports": "succeeded",
        }
        assert current is not None and current[0] == 3

        # A backup with the pg_dump that matches the server, proven by a restore.
        run(*cli, "backup", timeout=600)
        verified = run(*cli, "backup", "verify", timeout=600)
        assert "verified" in verified.lower()

        # The API reads what the worker computed.
        api_log = _spawn(
            started,
            "api",
            [*cli, "api", "--host", "127.0.0.1", "--port", str(api_port)],
            {**env, "SECRET_KEY": "production-topology-test-key-0123456789abcdef"},
            logs,
        )
        base = f"http://127.0.0.1:{api_port}"
        _wait_http(f"{base}/openapi.json", 120, api_log)
        login = httpx.post(
            f"{base}/api/v1/auth/login",
            json={"email": DEMO_HNW_EMAIL, "password": DEMO_PASSWORD},
            timeout=30,
        )
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        risk = httpx.get(
            f"{base}/api/v1/portfolios/DEMO_HNW/risk",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert risk.status_code == 200, risk.text
        assert risk.json()["as_of"] == as_of and risk.json()["valuation"]["nav"] > 0
        health = httpx.get(f"{base}/health", timeout=30).json()
        assert health["checks"]["backup"]["status"] == "ok", health
        assert health["checks"]["nightly_risk"]["status"] == "ok", health
    for name, process in started:
        assert process.poll() is not None, f"{name} is still running"
