"""The served mode: a local Prefect server (UI on 4200), the deployments, and the API.

``sigmasight serve`` starts, in order:

1. ``prefect server start`` with its state in a ``prefect`` database on the embedded
   PostgreSQL (or ``PREFECT_API_DATABASE_CONNECTION_URL``), analytics off;
2. a child process serving every deployment of ``prefect.yaml`` (schedules included) with
   ``prefect.serve``, so the UI's Run button and ``prefect deployment run`` work;
3. the SigmaSight API on port 8001 (``sigmasight.api``), when it is installed.

Ctrl-C (or SIGTERM) stops all three together. The deployments are served with
``pause_on_shutdown=False``, so their schedules stay active for the next start.

Each process's output goes to ``$SIGMASIGHT_STATE_DIR/logs/<name>.log``, rotated at
``LOG_MAX_BYTES`` (10 MiB) with ``LOG_BACKUPS`` (5) older files kept (``<name>.log.1`` is
the newest of them), so a server left running for months does not fill the disk.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import httpx
import yaml

from sigmasight.db import prefect_database_url
from sigmasight.prefect_env import apply_prefect_defaults
from sigmasight.settings import PROJECT_ROOT, get_settings

PREFECT_TUNING = {
    # Measured here (reference/prefect-notes.md): the defaults drop events under bursts.
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "200",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_READ_BATCH_SIZE": "200",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_BATCH_SIZE": "500",
}


def deployments_from_yaml(path: Path = PROJECT_ROOT / "prefect.yaml") -> list[Any]:
    """``RunnerDeployment`` objects for every deployment in ``prefect.yaml`` (one source of truth)."""
    from prefect.flows import load_flow_from_entrypoint
    from prefect.schedules import Cron

    config = yaml.safe_load(path.read_text())
    built = []
    for spec in config["deployments"]:
        flow: Any = load_flow_from_entrypoint(str(PROJECT_ROOT / spec["entrypoint"]))
        schedules = [
            Cron(s["cron"], timezone=s.get("timezone")) for s in spec.get("schedules") or []
        ]
        built.append(
            flow.to_deployment(
                name=spec["name"],
                description=spec.get("description"),
                tags=spec.get("tags"),
                parameters=spec.get("parameters") or {},
                schedules=schedules or None,
            )
        )
    return built


def serve_deployments() -> None:
    """Run in the child process: serve every deployment until signalled."""
    from prefect import serve

    serve(*deployments_from_yaml(), pause_on_shutdown=False, limit=4)


def wait_healthy(
    url: str, *, timeout_s: float, process: subprocess.Popen[bytes], what: str
) -> None:
    """Poll ``url`` until it answers 200; fail if ``process`` exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode}")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{what} did not answer {url} within {timeout_s:.0f} s")


LOG_MAX_BYTES = 10 * 1024 * 1024
LOG_BACKUPS = 5


class RotatingLog:
    """Bytes appended to ``path``; past ``max_bytes`` the file moves to ``.1`` (``.2`` ...)."""

    def __init__(self, path: Path, max_bytes: int = LOG_MAX_BYTES, backups: int = LOG_BACKUPS):
        self.path, self.max_bytes, self.backups = path, max_bytes, backups
        self._file = path.open("ab")
        self._size = self._file.tell()

    def write(self, chunk: bytes) -> None:
        """Append ``chunk`` (a line, usually), rotating first when it would not fit."""
        if self._size and self._size + len(chunk) > self.max_bytes:
            self._rotate()
        self._file.write(chunk)
        self._file.flush()
        self._size += len(chunk)

    def _rotate(self) -> None:
        self._file.close()
        for index in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{index}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{index + 1}"))
        self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        self._file = self.path.open("ab")
        self._size = 0

    def close(self) -> None:
        """Close the current file."""
        self._file.close()


def pump(stream: IO[bytes], log: RotatingLog) -> None:
    """Copy a child's output into its rotating log until the child closes it."""
    try:
        for line in iter(stream.readline, b""):
            log.write(line)
    finally:
        stream.close()
        log.close()


class ServedMode:
    """The three processes of the served mode, started and stopped together."""

    def __init__(
        self, *, host: str = "127.0.0.1", ui_port: int = 4200, api_port: int = 8001
    ) -> None:
        self.host, self.ui_port, self.api_port = host, ui_port, api_port
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []
        settings = get_settings()
        self.env = dict(os.environ)
        self.env.update({k: v for k, v in PREFECT_TUNING.items() if k not in os.environ})
        apply_prefect_defaults(settings, self.env)
        self.env["PREFECT_API_URL"] = self.api_url
        self.env["PREFECT_UI_URL"] = self.ui_url
        # The reports artifact links to the API this mode serves.
        self.env.setdefault("SIGMASIGHT_API_PUBLIC_URL", self.sigmasight_api_url)
        self.env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])
        )
        if "PREFECT_API_DATABASE_CONNECTION_URL" not in os.environ:
            url = prefect_database_url(settings)
            if url is not None:
                self.env["PREFECT_API_DATABASE_CONNECTION_URL"] = url.render_as_string(
                    hide_password=False
                )
        self.log_dir = settings.state_dir / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)

    @property
    def ui_url(self) -> str:
        """The Prefect UI."""
        return f"http://{self.host}:{self.ui_port}"

    @property
    def api_url(self) -> str:
        """The Prefect API the flows report to."""
        return f"{self.ui_url}/api"

    @property
    def sigmasight_api_url(self) -> str:
        """The SigmaSight API."""
        return f"http://{self.host}:{self.api_port}"

    def _spawn(self, name: str, argv: Sequence[str]) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            list(argv),
            env=self.env,
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        assert process.stdout is not None
        log = RotatingLog(self.log_dir / f"{name}.log")
        threading.Thread(
            target=pump, args=(process.stdout, log), name=f"log-{name}", daemon=True
        ).start()
        self.processes.append((name, process))
        return process

    def start_prefect(self) -> None:
        """Start the Prefect server and wait until its API answers (a cold start takes 15-30 s)."""
        server = self._spawn(
            "prefect-server",
            [
                sys.executable,
                "-m",
                "prefect",
                "server",
                "start",
                "--host",
                self.host,
                "--port",
                str(self.ui_port),
                "--analytics-off",
            ],
        )
        wait_healthy(
            f"{self.api_url}/health", timeout_s=180, process=server, what="the Prefect server"
        )
        os.environ["PREFECT_API_URL"] = self.api_url
        os.environ["PREFECT_UI_URL"] = self.ui_url

    def start_deployments(self) -> None:
        """Serve every prefect.yaml deployment in a child process."""
        self._spawn(
            "deployments",
            [sys.executable, "-c", "from cli.serve import serve_deployments; serve_deployments()"],
        )

    def start_api(self) -> bool:
        """Start the SigmaSight API when its package is present; False otherwise."""
        if not (PROJECT_ROOT / "sigmasight" / "api").is_dir():
            return False
        api = self._spawn(
            "api",
            [sys.executable, "-m", "cli", "api", "--host", self.host, "--port", str(self.api_port)],
        )
        wait_healthy(
            f"{self.sigmasight_api_url}/openapi.json",
            timeout_s=60,
            process=api,
            what="the SigmaSight API",
        )
        return True

    def wait(self) -> int:
        """Block until a child exits or we are signalled; return the exit code."""
        stop = {"signal": 0}

        def handler(signum: int, _frame: object) -> None:
            stop["signal"] = signum

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)
        while not stop["signal"]:
            for name, process in self.processes:
                if process.poll() is not None:
                    print(
                        f"sigmasight: {name} exited with code {process.returncode}; stopping",
                        file=sys.stderr,
                    )
                    return 1
            time.sleep(0.5)
        return 0

    def stop(self) -> None:
        """Stop every child (SIGTERM, then SIGKILL after 20 s), newest first."""
        for _name, process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for _name, process in reversed(self.processes):
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
