"""S3 for backups: a streamed multipart upload, the manifest, listing, deleting, verified download.

The upload reads a stream in fixed-size parts and uploads a few at once while it hashes
them, so nothing is written to local disk and memory stays flat whatever the dump's size.
An upload that did not complete is aborted, so no partial object ever appears.
"""

import hashlib
import json
import logging
import shutil
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from botocore.exceptions import BotoCoreError, ClientError

from sigmasight.backup.errors import BackupError, VerificationError
from sigmasight.backup.keys import MANIFEST_FORMAT, MANIFEST_SUFFIX, key_timestamp, manifest_key
from sigmasight.objectstore import ObjectStore, S3Client

# One logger for the whole backup path, so log lines keep the name they always had.
log = logging.getLogger("sigmasight.backup")

MiB = 1024 * 1024
#: S3 parts are at least 5 MiB (but the last); 8 MiB parts x 10,000 parts = 78 GiB before
#: the part size has to grow (see :func:`part_size_for`).
PART_SIZE = 8 * MiB
#: Parts uploading at once while the next one is read: memory is about (this + 2) parts.
MAX_PARTS_IN_FLIGHT = 3
#: ``delete_objects`` takes at most this many keys per call.
_DELETE_BATCH = 1000
ProgressFn = Callable[[int], None]


def part_size_for(part_number: int) -> int:
    """Part size: 8 MiB, doubling every 2,000 parts, so 10,000 parts reach ~500 GiB."""
    return PART_SIZE << ((part_number - 1) // 2000)


# ---- streaming upload ---------------------------------------------------------------------------
class MultipartUpload:
    """An S3 multipart upload fed from a stream; aborted unless :meth:`complete` succeeded.

    The reading thread hashes each part and hands it to a small pool that uploads up to
    ``max_in_flight`` parts at once, so memory holds at most ``max_in_flight + 1`` parts
    whatever the stream's length.
    """

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        key: str,
        *,
        max_in_flight: int = MAX_PARTS_IN_FLIGHT,
        part_size: Callable[[int], int] = part_size_for,
        progress: ProgressFn | None = None,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.key = key
        self.max_in_flight = max_in_flight
        self.part_size = part_size
        self.progress = progress
        self.upload_id: str | None = None
        self.completed = False
        self.size = 0
        self.parts = 0
        self._etags: dict[int, str] = {}
        self._uploaded = 0
        self._lock = threading.Lock()
        self.eof_at = 0.0

    def __enter__(self) -> "MultipartUpload":
        response = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=self.key, ContentType="application/octet-stream"
        )
        self.upload_id = response["UploadId"]
        return self

    def __exit__(self, *exc_info: object) -> None:
        if not self.completed:
            self.abort()

    def abort(self) -> None:
        """Abort the multipart upload so S3 drops every part (best effort, logged)."""
        if self.upload_id is None:
            return
        try:
            self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id
            )
            log.info("aborted the multipart upload of %s", self.key)
        except (BotoCoreError, ClientError) as exc:
            log.error("could not abort the multipart upload of %s: %s", self.key, exc)

    def _upload_part(self, number: int, data: bytes) -> None:
        response = self.client.upload_part(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=str(self.upload_id),
            PartNumber=number,
            Body=data,
        )
        with self._lock:
            self._etags[number] = response["ETag"]
            self._uploaded += len(data)
            uploaded = self._uploaded
        if self.progress is not None:
            self.progress(uploaded)

    def pump(self, stream: IO[bytes]) -> str:
        """Upload everything ``stream`` yields; returns the sha256 (hex) of the bytes."""
        digest = hashlib.sha256()
        slots = threading.BoundedSemaphore(self.max_in_flight)
        pending: list[Future[None]] = []

        def settle() -> None:
            # Drop finished parts; re-raise the first failure (after boto3's own retries).
            still = []
            for future in pending:
                if not future.done():
                    still.append(future)
                elif (error := future.exception()) is not None:
                    raise error
            pending[:] = still

        with ThreadPoolExecutor(self.max_in_flight, thread_name_prefix="s3-part") as workers:
            try:
                while True:
                    number = self.parts + 1
                    data = stream.read(self.part_size(number))
                    if not data:
                        break
                    digest.update(data)
                    self.size += len(data)
                    self.parts = number
                    slots.acquire()
                    try:
                        settle()
                    except BaseException:
                        slots.release()
                        raise
                    future = workers.submit(self._upload_part, number, data)
                    future.add_done_callback(lambda _f: slots.release())
                    pending.append(future)
                    del data
                self.eof_at = time.perf_counter()
                for future in pending:
                    future.result()
            except BaseException:
                workers.shutdown(wait=True, cancel_futures=True)
                raise
        return digest.hexdigest()

    def complete(self) -> None:
        """Assemble the parts into the object."""
        if not self._etags:
            raise BackupError(f"nothing to upload for {self.key}")
        self.client.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=str(self.upload_id),
            MultipartUpload={
                "Parts": [{"PartNumber": n, "ETag": self._etags[n]} for n in sorted(self._etags)]
            },
        )
        self.completed = True


def put_manifest(store: ObjectStore, key: str, manifest: Mapping[str, Any]) -> None:
    """Write the manifest next to dump ``key``; if that fails, delete the dump and re-raise."""
    try:
        store.client.put_object(
            Bucket=store.bucket,
            Key=manifest_key(key),
            Body=json.dumps(manifest, indent=2).encode(),
            ContentType="application/json",
        )
    except (BotoCoreError, ClientError):
        # The dump without its manifest is no backup: remove it, then fail.
        try:
            store.client.delete_object(Bucket=store.bucket, Key=key)
        except (BotoCoreError, ClientError) as exc:
            log.error("could not delete %s after the manifest failed: %s", key, exc)
        raise


# ---- listing and deleting -------------------------------------------------------------------
def list_dump_keys(store: ObjectStore, prefix: str) -> tuple[set[str], set[str]]:
    """``(dump keys, manifest keys)`` under ``prefix`` that follow SigmaSight's naming."""
    dumps: set[str] = set()
    manifests: set[str] = set()
    paginator = store.client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=store.bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            name = item["Key"]
            if name.endswith(MANIFEST_SUFFIX):
                manifests.add(name)
            elif key_timestamp(name) is not None:
                dumps.add(name)
    return dumps, manifests


def delete_objects(store: ObjectStore, keys: Sequence[str]) -> None:
    """Delete ``keys`` from the bucket, 1,000 per request; :class:`BackupError` if S3 refuses any."""
    for start in range(0, len(keys), _DELETE_BATCH):
        response = store.client.delete_objects(
            Bucket=store.bucket,
            Delete={
                "Objects": [{"Key": k} for k in keys[start : start + _DELETE_BATCH]],
                "Quiet": True,
            },
        )
        errors = response.get("Errors", [])
        if errors:
            raise BackupError(
                f"S3 refused to delete {len(errors)} object(s), e.g. "
                f"{errors[0].get('Key')}: {errors[0].get('Message')}"
            )


def object_exists(store: ObjectStore, key: str) -> bool:
    """Whether ``key`` is in the bucket (a HEAD request); other S3 errors propagate."""
    try:
        store.client.head_object(Bucket=store.bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
            return False
        raise
    return True


# ---- download ---------------------------------------------------------------------------------
def load_manifest(store: ObjectStore, key: str) -> dict[str, Any]:
    """The manifest of dump ``key``; :class:`VerificationError` when it or the dump is missing."""
    try:
        body = store.client.get_object(Bucket=store.bucket, Key=manifest_key(key))["Body"].read()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in {"NoSuchKey", "404"}:
            raise VerificationError(
                f"no manifest {manifest_key(key)} in s3://{store.bucket}: "
                "the backup never completed or was deleted"
            ) from None
        raise
    manifest: dict[str, Any] = json.loads(body)
    if manifest.get("format") != MANIFEST_FORMAT or not manifest.get("sha256"):
        raise VerificationError(f"{manifest_key(key)} is not a {MANIFEST_FORMAT} manifest")
    return manifest


def download_verified(
    store: ObjectStore,
    key: str,
    manifest: Mapping[str, Any],
    target: Path,
    *,
    expected_sha256: str | None = None,
    progress: ProgressFn | None = None,
) -> str:
    """Stream dump ``key`` into ``target`` and check its size and sha256 against the manifest."""
    _ensure_space(target.parent, int(manifest.get("size_bytes") or 0))
    digest = hashlib.sha256()
    size = 0
    try:
        body = store.client.get_object(Bucket=store.bucket, Key=key)["Body"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in {"NoSuchKey", "404"}:
            raise VerificationError(f"the dump s3://{store.bucket}/{key} is missing") from None
        raise
    with open(target, "wb") as handle:
        for chunk in body.iter_chunks(MiB):
            digest.update(chunk)
            handle.write(chunk)
            size += len(chunk)
            if progress is not None:
                progress(size)
    actual = digest.hexdigest()
    if actual != manifest["sha256"]:
        raise VerificationError(
            f"sha256 mismatch for {key}: the manifest says {manifest['sha256']}, "
            f"the object in S3 hashes to {actual} ({size} bytes, manifest {manifest.get('size_bytes')})"
        )
    if expected_sha256 and actual != expected_sha256:
        raise VerificationError(
            f"sha256 mismatch for {key}: the backup record says {expected_sha256}, "
            f"the object in S3 (and its manifest) {actual}"
        )
    if size != manifest.get("size_bytes", size):
        raise VerificationError(
            f"size mismatch for {key}: {size} bytes, manifest {manifest['size_bytes']}"
        )
    return actual


def _ensure_space(folder: Path, needed: int) -> None:
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise BackupError(
            f"{folder} has {free / MiB:,.0f} MiB free; the dump needs {needed / MiB:,.0f} MiB "
            "(set TMPDIR to a larger folder)"
        )
