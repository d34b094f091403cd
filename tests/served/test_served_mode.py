"""The served mode for real: a Prefect server, the deployments of prefect.yaml, a manual run.

No prefect_test_harness here: ``ServedMode`` starts ``prefect server start`` and serves the
deployments in a child process, exactly as ``sigmasight serve`` does, and the run is
triggered with ``prefect deployment run``, the same call the UI's Run button makes.
"""

import datetime as dt
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from cli.serve import ServedMode
from sigmasight.runs.seed import seed_demo
from sigmasight.settings import get_settings

AS_OF = dt.date(2025, 11, 24)
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_manual_deployment_run_in_served_mode(engine, tmp_path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.setenv("SIGMASIGHT_STATE_DIR", str(tmp_path / "state"))
    get_settings.cache_clear()
    seed_demo(AS_OF)
    served = ServedMode(ui_port=free_port(), api_port=free_port())
    try:
        served.start_prefect()
        served.start_deployments()
        env = {**os.environ, "PREFECT_API_URL": served.api_url, "COLUMNS": "250"}
        deadline = time.monotonic() + 90
        listed = ""
        wanted = ("nightly/nightly", "market-data/market-data", "db-maintenance/db-maintenance")
        # every deployment, by its full name ("nightly-risk" also contains "nightly")
        while not all(name in listed for name in wanted) and time.monotonic() < deadline:
            time.sleep(2)
            listed = subprocess.run(
                [sys.executable, "-m", "prefect", "deployment", "ls"],
                env=env,
                capture_output=True,
                text=True,
            ).stdout
        assert all(name in listed for name in wanted), listed
        trigger = subprocess.run(
            [
                sys.executable,
                "-m",
                "prefect",
                "deployment",
                "run",
                "nightly/nightly",
                "--param",
                f"as_of={AS_OF.isoformat()}",
                "--param",
                "provider=synthetic",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert trigger.returncode == 0, trigger.stderr
        found = re.search(r"UUID: ([0-9a-f-]{36})", trigger.stdout)
        assert found, trigger.stdout
        run_id = found.group(1)
        state = ""
        while time.monotonic() < deadline + 150:
            response = httpx.get(f"{served.api_url}/flow_runs/{run_id}", timeout=10)
            state = response.json()["state"]["type"]
            if state in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
                break
            time.sleep(3)
        assert state == "COMPLETED", (
            state,
            (served.log_dir / "deployments.log").read_text()[-3000:],
        )
        with engine.connect() as conn:
            current = conn.execute(
                text(
                    "SELECT count(*) FROM portfolio_snapshot WHERE is_current AND as_of_date = :d"
                ),
                {"d": AS_OF},
            ).scalar_one()
        assert current == 3
        ui = httpx.get(served.ui_url, timeout=10, follow_redirects=True)
        assert ui.status_code == 200 and "<html" in ui.text.lower()

        # The worker path: prefect.yaml deploys against the same running server.
        deploy_env = {**env, "SIGMASIGHT_HOME": str(ROOT)}
        for command in (
            ["work-pool", "create", "sigmasight", "--type", "process"],
            ["--no-prompt", "deploy", "--all"],
        ):
            done = subprocess.run(
                [sys.executable, "-m", "prefect", *command],
                env=deploy_env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        pooled = httpx.post(f"{served.api_url}/deployments/filter", json={}, timeout=10).json()
        on_pool = {d["name"] for d in pooled if d.get("work_pool_name") == "sigmasight"}
        assert on_pool == {
            "market-data",
            "nightly-risk",
            "risk-history",
            "reports",
            "nightly",
            "backup",
            "backup-verify",
            "db-maintenance",
        }
    finally:
        served.stop()
    assert all(process.poll() is not None for _, process in served.processes)
