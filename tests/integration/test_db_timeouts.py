"""A database that does not answer fails a command quickly, saying which timeout ran out."""

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from sigmasight import db as sdb
from sigmasight.settings import get_settings

ROOT = Path(__file__).resolve().parents[2]


def test_a_server_that_accepts_but_never_answers_fails_within_the_connect_timeout(tmp_path):
    with socket.socket() as hung:  # the kernel completes the handshake; nobody replies
        hung.bind(("127.0.0.1", 0))
        hung.listen(16)
        port = hung.getsockname()[1]
        env = {
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": f"postgresql://app:s3cret-pw@127.0.0.1:{port}/risk",
            "SIGMASIGHT_DB_CONNECT_TIMEOUT_S": "2",
            "SIGMASIGHT_STATE_DIR": str(tmp_path / "state"),
        }
        # without the connect timeout this hangs until the subprocess timeout fails the test
        done = subprocess.run(
            [sys.executable, "-m", "cli", "db", "status"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1, done.stderr
    assert "cannot reach the database" in done.stderr
    assert "SIGMASIGHT_DB_CONNECT_TIMEOUT_S" in done.stderr
    assert "s3cret-pw" not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def test_a_statement_past_the_statement_timeout_is_cancelled(db_url, monkeypatch):
    monkeypatch.setenv("SIGMASIGHT_DB_STATEMENT_TIMEOUT_S", "0.5")
    get_settings.cache_clear()
    sdb.reset_engine()
    with sdb.get_engine().connect() as conn:
        assert conn.execute(text("SHOW statement_timeout")).scalar_one() == "500ms"
        with pytest.raises(OperationalError, match="statement timeout"):
            conn.execute(text("SELECT pg_sleep(3)"))
