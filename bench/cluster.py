"""A real Dask cluster on this machine: a ``dask scheduler`` and ``dask worker`` OS processes over TCP.

Used by ``bench.dask_scale`` and by the cluster test. Each process is started with the
``dask`` command of this virtual environment, in the project folder, with the project on
``PYTHONPATH`` (a worker unpickles our task functions by module name) and this process's
environment (``DATABASE_URL``, ``PREFECT_API_URL``, ``SIGMASIGHT_*``), so a worker opens its
own database sessions exactly as a remote worker would. :class:`RssSampler` follows the peak
resident memory of given process trees with psutil.
"""

import contextlib
import importlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# psutil comes with distributed and has no type stubs.
psutil: Any = importlib.import_module("psutil")

ROOT = Path(__file__).resolve().parents[1]
DASK = Path(sys.executable).with_name("dask")


def free_port() -> int:
    """A TCP port nobody listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dask scheduler exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.2)
    raise TimeoutError(f"dask scheduler not listening on port {port} after {timeout:.0f} s")


@dataclass
class TcpCluster:
    """A scheduler and any number of single-threaded worker processes, stopped on exit."""

    env: Mapping[str, str] | None = None
    startup_timeout: float = 120.0
    address: str = ""
    scheduler: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="dask-cluster-")))

    def _environ(self) -> dict[str, str]:
        env = dict(os.environ if self.env is None else self.env)
        path = env.get("PYTHONPATH")
        env["PYTHONPATH"] = str(ROOT) if not path else f"{ROOT}{os.pathsep}{path}"
        return env

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("wb") as log:
            return subprocess.Popen(
                argv, cwd=ROOT, env=self._environ(), stdout=log, stderr=subprocess.STDOUT
            )

    def start(self) -> str:
        """Start the scheduler; returns its address (``tcp://127.0.0.1:<port>``)."""
        port = free_port()
        self.scheduler = self._spawn(
            "scheduler",
            [
                str(DASK),
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-dashboard",
                "--no-show",
            ],
        )
        _wait_for_port(port, self.scheduler, self.startup_timeout)
        self.address = f"tcp://127.0.0.1:{port}"
        return self.address

    def add_workers(self, count: int) -> list[subprocess.Popen[bytes]]:
        """Start ``count`` worker processes (one thread each) and wait until all are connected."""
        started = [
            self._spawn(
                f"worker-{len(self.workers) + i}",
                [
                    str(DASK),
                    "worker",
                    self.address,
                    "--nworkers",
                    "1",
                    "--nthreads",
                    "1",
                    "--no-dashboard",
                    "--name",
                    f"w{len(self.workers) + i}",
                ],
            )
            for i in range(count)
        ]
        self.workers.extend(started)
        self.wait_for_workers(len(self.workers))
        return started

    def wait_for_workers(self, count: int) -> None:
        from distributed import Client

        with Client(self.address, timeout=self.startup_timeout) as client:  # type: ignore[no-untyped-call]
            client.wait_for_workers(count, timeout=self.startup_timeout)

    def stop_workers(self) -> None:
        """Stop every worker (and wait until the scheduler no longer lists them)."""
        for process in self.workers:
            _stop(process)
        self.workers.clear()
        if self.scheduler is not None and self.scheduler.poll() is None:
            from distributed import Client

            with Client(self.address, timeout=self.startup_timeout) as client:  # type: ignore[no-untyped-call]
                deadline = time.monotonic() + self.startup_timeout
                while client.scheduler_info(n_workers=-1)["workers"]:
                    if time.monotonic() > deadline:
                        raise TimeoutError("the scheduler still lists stopped workers")
                    time.sleep(0.2)

    def close(self) -> None:
        for process in self.workers:
            _stop(process)
        self.workers.clear()
        if self.scheduler is not None:
            _stop(self.scheduler)

    def log_tail(self, lines: int = 40) -> str:
        """The end of every process's log (for an error message)."""
        out = []
        for log in sorted(self.logs.glob("*.log")):
            text = log.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {log.name}\n" + "\n".join(text))
        return "\n".join(out)

    def __enter__(self) -> "TcpCluster":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _stop(process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """SIGTERM the process (a nanny stops its worker), SIGKILL it if it lingers."""
    if process.poll() is not None:
        return
    children: list[Any] = []
    with contextlib.suppress(psutil.Error):
        children = psutil.Process(process.pid).children(recursive=True)
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.kill()


@dataclass
class TreePeak:
    """Peaks of one process tree: the largest single process and the whole tree."""

    largest: int = 0
    total: int = 0


class RssSampler:
    """Samples the RSS of process trees (a root pid and its descendants) every ``interval`` s."""

    def __init__(self, roots: Mapping[str, int], interval: float = 0.2) -> None:
        self.roots = dict(roots)
        self.interval = interval
        self.peaks = {name: TreePeak() for name in self.roots}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _tree(self, pid: int) -> list[Any]:
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(pid)
            return [root, *root.children(recursive=True)]
        return []

    def sample(self) -> None:
        for name, pid in self.roots.items():
            sizes = []
            for proc in self._tree(pid):
                with contextlib.suppress(psutil.Error):
                    sizes.append(int(proc.memory_info().rss))
            if sizes:
                peak = self.peaks[name]
                peak.largest = max(peak.largest, max(sizes))
                peak.total = max(peak.total, sum(sizes))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> "RssSampler":
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()
