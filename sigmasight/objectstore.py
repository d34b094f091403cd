"""Object storage: S3 through boto3, or the embedded moto S3 server on loopback.

With ``AWS_S3_BUCKET`` set, SigmaSight talks to that bucket with a plain ``boto3`` client:
credentials come from the standard AWS chain (environment, shared files, SSO, instance or
task role), and boto3 itself reads ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` (for MinIO,
Ceph, R2 and other S3-compatible stores), ``AWS_REGION``, ``AWS_MAX_ATTEMPTS`` and
``AWS_RETRY_MODE``. The bucket must exist; it is never created.

With ``AWS_S3_BUCKET`` unset, the embedded default is a moto S3 server (the real S3 HTTP
API) started as a detached process on 127.0.0.1, like the embedded PostgreSQL: it outlives
the command that started it and later commands reuse it. Its pid and port live in
``$SIGMASIGHT_STATE_DIR/s3/server.json``, its log in ``server.log`` next to it. The bucket is
``sigmasight-local`` and the credentials are dummies. moto keeps objects in its own process
(memory and deleted temporary files), so the embedded S3 holds its objects only as long as
that process runs: ``sigmasight s3 stop`` or a reboot loses them. It is for demos and tests;
point ``AWS_S3_BUCKET`` at a real store for backups that must survive.
"""

import contextlib
import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from sigmasight.settings import Settings, get_settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client as S3Client
else:
    S3Client = object

log = logging.getLogger(__name__)

EMBEDDED_BUCKET = "sigmasight-local"
EMBEDDED_REGION = "us-east-1"
# moto accepts any credentials; fixed dummies keep boto3 away from the real credential chain.
EMBEDDED_ACCESS_KEY = "sigmasight-local"
EMBEDDED_SECRET_KEY = "sigmasight-local-secret"
_START_TIMEOUT_S = 30.0


class ObjectStoreError(RuntimeError):
    """Object storage is unreachable, misconfigured or refused a request."""


@dataclass(frozen=True)
class ObjectStore:
    """A boto3 S3 client and the bucket SigmaSight uses."""

    client: S3Client
    bucket: str
    embedded: bool
    endpoint: str | None

    def describe(self) -> str:
        """Human-readable location, e.g. ``s3://sigmasight-local (embedded, http://...)``."""
        where = "embedded moto" if self.embedded else "S3"
        endpoint = f", {self.endpoint}" if self.endpoint else ""
        return f"s3://{self.bucket} ({where}{endpoint})"


@dataclass(frozen=True)
class EmbeddedS3:
    """Where the embedded moto server listens."""

    pid: int
    port: int
    state_dir: Path

    @property
    def endpoint(self) -> str:
        """The HTTP endpoint URL."""
        return f"http://127.0.0.1:{self.port}"


def object_store(settings: Settings | None = None) -> ObjectStore:
    """The configured store: ``AWS_S3_BUCKET`` with boto3's defaults, else the embedded one."""
    settings = settings or get_settings()
    if settings.aws_s3_bucket:
        client = boto3.client("s3", config=_client_config())
        return ObjectStore(
            client=client,
            bucket=settings.aws_s3_bucket,
            embedded=False,
            endpoint=client.meta.endpoint_url,
        )
    server = embedded_s3(settings)
    client = embedded_client(server.endpoint)
    _ensure_bucket(client, EMBEDDED_BUCKET)
    return ObjectStore(
        client=client, bucket=EMBEDDED_BUCKET, embedded=True, endpoint=server.endpoint
    )


def embedded_client(endpoint: str) -> S3Client:
    """A boto3 client for a moto server at ``endpoint`` with the dummy credentials."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=EMBEDDED_ACCESS_KEY,
        aws_secret_access_key=EMBEDDED_SECRET_KEY,
        region_name=EMBEDDED_REGION,
        config=_client_config(),
    )


def _client_config() -> Config:
    # Parts go up from a small thread pool; keep a connection per worker and then some.
    return Config(max_pool_connections=16, connect_timeout=10, read_timeout=120)


def _ensure_bucket(client: S3Client, bucket: str) -> None:
    try:
        client.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in {"404", "NoSuchBucket"}:
            raise ObjectStoreError(f"bucket {bucket}: {exc}") from None
        client.create_bucket(Bucket=bucket)
    except BotoCoreError as exc:
        raise ObjectStoreError(f"embedded S3 unreachable: {exc}") from None


# ---- the embedded moto server -------------------------------------------------------------
def _meta_dir(settings: Settings) -> Path:
    return settings.state_dir / "s3"


@contextlib.contextmanager
def _lock(meta_dir: Path) -> Iterator[None]:
    meta_dir.mkdir(parents=True, exist_ok=True)
    with open(meta_dir / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _is_moto(pid: int) -> bool:
    """True when ``pid`` is alive and is a moto server (guards against pid reuse)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        try:
            os.kill(pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True  # no /proc (macOS): trust the live pid
    return b"moto.server" in cmdline


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _read_meta(meta_dir: Path) -> dict[str, int] | None:
    try:
        data: dict[str, int] = json.loads((meta_dir / "server.json").read_text())
    except (OSError, ValueError):
        return None
    return data


def running_embedded_s3(settings: Settings | None = None) -> EmbeddedS3 | None:
    """The embedded server if it runs, else None (never starts one)."""
    settings = settings or get_settings()
    meta_dir = _meta_dir(settings)
    meta = _read_meta(meta_dir)
    if meta and _is_moto(meta["pid"]) and _listening(meta["port"]):
        return EmbeddedS3(pid=meta["pid"], port=meta["port"], state_dir=meta_dir)
    return None


# A throw-away launcher starts the server in its own session and exits, so the server is
# no child of ours (nothing to reap, no zombie) and outlives the command, like pg_ctl's.
_LAUNCHER = """
import subprocess, sys
with open(sys.argv[2], "ab") as log:
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", sys.argv[1]],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd="/",
        start_new_session=True,
    )
print(server.pid)
"""


def _launch_detached(port: int, log_path: Path) -> int:
    result = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, str(port), str(log_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0 or not result.stdout.strip().isdigit():
        raise ObjectStoreError(f"could not launch the embedded S3 server: {result.stderr.strip()}")
    return int(result.stdout.strip())


def embedded_s3(settings: Settings | None = None) -> EmbeddedS3:
    """Start the embedded moto S3 server unless it already runs; describe it."""
    settings = settings or get_settings()
    meta_dir = _meta_dir(settings)
    with _lock(meta_dir):
        running = running_embedded_s3(settings)
        if running is not None:
            return running
        meta = _read_meta(meta_dir)
        port = settings.s3_port or (meta or {}).get("port") or _free_port()
        if _listening(port):
            if settings.s3_port:
                raise ObjectStoreError(
                    f"SIGMASIGHT_S3_PORT={port} is taken by another program; free it or pick another port"
                )
            port = _free_port()
        log.info("starting the embedded S3 (moto) on 127.0.0.1:%s", port)
        pid = _launch_detached(port, meta_dir / "server.log")
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not _listening(port):
            if not _is_moto(pid) or time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
                raise ObjectStoreError(
                    f"the embedded S3 server did not start on port {port}; "
                    f"see {meta_dir / 'server.log'}"
                )
            time.sleep(0.05)
        (meta_dir / "server.json").write_text(json.dumps({"pid": pid, "port": port}))
        return EmbeddedS3(pid=pid, port=port, state_dir=meta_dir)


def stop_embedded_s3(settings: Settings | None = None) -> bool:
    """Stop the embedded server (its objects are lost); False when it was not running."""
    settings = settings or get_settings()
    meta_dir = _meta_dir(settings)
    with _lock(meta_dir):
        running = running_embedded_s3(settings)
        if running is None:
            return False
        os.kill(running.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _is_moto(running.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _is_moto(running.pid):
            os.kill(running.pid, signal.SIGKILL)
        return True
