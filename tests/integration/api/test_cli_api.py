"""`sigmasight api`: starts uvicorn on the given port; bad flags and keys fail with exit 2."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from sqlalchemy import URL

from cli.main import main
from tests.integration.api.conftest import SECRET

ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_sigmasight_api_serves_until_terminated(api_db: URL, tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": api_db.render_as_string(hide_password=False),
        "SECRET_KEY": SECRET,
    }
    log = tmp_path / "api.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", "api", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                        body, headers = json.loads(r.read()), r.headers
                        break
                except (urllib.error.URLError, ConnectionError):
                    time.sleep(0.2)
            assert body["checks"]["database"]["status"] == "ok"
            assert headers["X-Frame-Options"] == "DENY"
            assert "server" not in {k.lower() for k in headers}  # no "uvicorn" banner
        finally:
            process.terminate()
            process.wait(timeout=30)
    text = log.read_text()
    # uvicorn shuts down cleanly, then re-raises the signal it caught (exit status -SIGTERM).
    assert process.returncode in (0, -signal.SIGTERM), text
    assert "Application shutdown complete." in text
    assert f"SigmaSight API on http://127.0.0.1:{port}" in text
    assert SECRET not in text and "secret" not in api_db.render_as_string(hide_password=True)


def test_bad_port_and_short_secret_key_exit_2(api_db, monkeypatch, capsys):
    import pytest

    with pytest.raises(SystemExit) as exited:
        main(["api", "--port", "0"])
    assert exited.value.code == 2
    assert "'0' is not a port (1-65535)" in capsys.readouterr().err
    monkeypatch.setenv("SECRET_KEY", "too-short")
    from sigmasight.settings import get_settings

    get_settings.cache_clear()
    assert main(["api", "--port", str(free_port())]) == 2
    err = capsys.readouterr().err
    assert "SECRET_KEY is 9 bytes; HS256 needs at least 32" in err
    assert "too-short" not in err
