"""S3 for tests: a moto server over real HTTP, a fresh bucket per test, a 500-injecting proxy."""

import http.client
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest
from moto.server import ThreadedMotoServer

from sigmasight.objectstore import ObjectStore, embedded_client, object_store
from sigmasight.settings import get_settings


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto S3 server on a free loopback port (in a thread); yields its endpoint URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def s3_environment(endpoint: str, bucket: str, tmp_path: Any) -> dict[str, str]:
    """The AWS_* variables that point boto3 (and so SigmaSight) at ``bucket`` on ``endpoint``.

    The config and credential files point at nothing, so the machine's own never leak in.
    """
    return {
        "AWS_S3_BUCKET": bucket,
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_ACCESS_KEY_ID": "test-key",
        "AWS_SECRET_ACCESS_KEY": "test-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
    }


def use_bucket(endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> ObjectStore:
    """Point AWS_S3_BUCKET / AWS_ENDPOINT_URL_S3 at a new bucket on ``endpoint`` (the real-S3 path)."""
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    embedded_client(endpoint).create_bucket(Bucket=bucket)
    for name, value in s3_environment(endpoint, bucket, tmp_path).items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()  # the engine stays: DATABASE_URL did not change
    return object_store()


class FailingParts(BaseHTTPRequestHandler):
    """Forward to moto, but answer 500 to UploadPart of the part numbers in ``fail_parts``."""

    upstream: ClassVar[str] = ""
    fail_parts: ClassVar[set[int]] = set()
    failures: ClassVar[list[int]] = []

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        query = parse_qs(urlsplit(self.path).query)
        part = int(query["partNumber"][0]) if "partNumber" in query else None
        if self.command == "PUT" and part in self.fail_parts:
            type(self).failures.append(part)
            payload = (
                b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>InternalError</Code>"
                b"<Message>injected failure</Message></Error>"
            )
            self.send_response(500)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        target = urlsplit(self.upstream)
        conn = http.client.HTTPConnection(str(target.hostname), target.port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        conn.request(self.command, self.path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        self.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in {"transfer-encoding", "connection", "content-length"}:
                self.send_header(name, value)
        length_header = response.getheader("Content-Length", "0")
        self.send_header(
            "Content-Length", length_header if self.command == "HEAD" else str(len(data))
        )
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the access log."""


@contextmanager
def failing_upload_proxy(upstream: str, fail_parts: set[int]) -> Iterator[str]:
    """A proxy to ``upstream`` whose UploadPart of ``fail_parts`` always answers 500."""
    FailingParts.upstream = upstream
    FailingParts.fail_parts = fail_parts
    FailingParts.failures = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FailingParts)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
