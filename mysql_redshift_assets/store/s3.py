"""The S3 object store (boto3; works against moto server and any S3-compatible endpoint)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
import botocore.exceptions
import pyarrow.fs as pafs
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from mysql_redshift_assets.store.objectstore import FileUpload, ObjectStore, StoredObject

# Multipart above 16 MiB, 4 parts in flight: a Parquet file of 100 MB goes up in parallel.
_TRANSFER = TransferConfig(
    multipart_threshold=16 << 20, multipart_chunksize=16 << 20, max_concurrency=4
)
# A file being written is sent in parts of at least this size as it grows (S3's minimum part
# is 5 MiB; 10,000 parts at most: 80 GB), PART_THREADS at a time; each part is read from the
# local file by the thread that sends it, so memory holds at most PART_THREADS parts.
PART_BYTES = 8 << 20
PART_THREADS = 4
CHECKSUM = "CRC32"  # as boto3's own transfers: each part checked by S3 on arrival

_parts: ThreadPoolExecutor | None = None
_parts_lock = threading.Lock()


def _part_pool() -> ThreadPoolExecutor:
    """The process's part senders (shared by every store: PART_THREADS parts in memory)."""
    global _parts
    with _parts_lock:
        if _parts is None:
            _parts = ThreadPoolExecutor(PART_THREADS, thread_name_prefix="mra-s3-part")
        return _parts


class _StreamingUpload(FileUpload):
    """A multipart upload of a file while it is written: each part once the file has grown
    PART_BYTES past the last one; the rest, and the completion, in `S3Store.put_file`."""

    def __init__(self, store: S3Store, key: str) -> None:
        self.store, self.key = store, key
        self.upload_id: str | None = None
        self.sent = 0  # bytes of the file already handed to a part
        self.parts: list[Future[dict[str, Any]]] = []

    def grew(self, path: Path) -> None:
        size = os.stat(path).st_size
        if size - self.sent >= PART_BYTES:
            self._send(path, size)

    def _send(self, path: Path, end: int) -> None:
        client, bucket, full = self.store._client, self.store.bucket, self.store._full(self.key)
        if self.upload_id is None:
            self.upload_id = client.create_multipart_upload(
                Bucket=bucket, Key=full, ChecksumAlgorithm=CHECKSUM
            )["UploadId"]
        number, start, upload_id = len(self.parts) + 1, self.sent, self.upload_id

        def send() -> dict[str, Any]:
            with open(path, "rb") as handle:
                data = os.pread(handle.fileno(), end - start, start)
            if len(data) != end - start:
                raise OSError(f"{path}: read {len(data)} of {end - start} bytes of part {number}")
            done = client.upload_part(
                Bucket=bucket, Key=full, UploadId=upload_id, PartNumber=number, Body=data,
                ChecksumAlgorithm=CHECKSUM,
            )  # fmt: skip
            part: dict[str, Any] = {"ETag": done["ETag"], "PartNumber": number}
            if f"Checksum{CHECKSUM}" in done:  # S3 checks each part, and the whole on completion
                part[f"Checksum{CHECKSUM}"] = done[f"Checksum{CHECKSUM}"]
            return part

        self.parts.append(_part_pool().submit(send))
        self.sent = end

    def complete(self, path: Path) -> bool:
        """Send the rest and complete the upload; False if no part was ever sent (the file
        is small: one PUT of the whole file does). On any failure the upload is aborted."""
        if self.upload_id is None:
            return False
        try:
            size = os.stat(path).st_size
            if size > self.sent:
                self._send(path, size)
            parts = [part.result() for part in self.parts]
            self.store._client.complete_multipart_upload(
                Bucket=self.store.bucket,
                Key=self.store._full(self.key),
                UploadId=self.upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            self.abort()
            raise
        self.upload_id = None
        return True

    def abort(self) -> None:
        if self.upload_id is None:
            return
        upload_id, self.upload_id = self.upload_id, None
        for part in self.parts:
            part.cancel()
        for part in self.parts:
            if not part.cancelled():
                part.exception()  # wait: a part sent after the abort would be kept by S3
        try:
            self.store._client.abort_multipart_upload(
                Bucket=self.store.bucket, Key=self.store._full(self.key), UploadId=upload_id
            )
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
            pass  # a lifecycle rule (AbortIncompleteMultipartUpload) removes what is left


class S3Store(ObjectStore):
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        timeouts: tuple[float, float] = (10, 60),
    ) -> None:
        self.bucket = bucket
        # (connect, read) seconds of every call, boto3's and pyarrow's; a call that times out
        # is retried (boto3 `standard` mode), so one stuck endpoint costs a bounded time.
        self._timeouts = timeouts
        self.prefix = prefix.strip("/")
        self._region = region
        self._endpoint_url = endpoint_url
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key
        self._client = boto3.client(
            "s3",
            region_name=region,
            endpoint_url=endpoint_url,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=Config(
                retries={"max_attempts": 5, "mode": "standard"},
                connect_timeout=timeouts[0],
                read_timeout=timeouts[1],
            ),
        )

    def __repr__(self) -> str:
        return f"S3Store(bucket={self.bucket!r}, prefix={self.prefix!r})"

    def close(self) -> None:
        self._client.close()

    def _full(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _relative(self, full: str) -> str:
        return full[len(self.prefix) + 1 :] if self.prefix else full

    def begin_file(self, key: str) -> FileUpload:
        return _StreamingUpload(self, key)

    def put_file(
        self, local_path: Path, key: str, upload: FileUpload | None = None
    ) -> StoredObject:
        streamed = isinstance(upload, _StreamingUpload) and upload.complete(local_path)
        if not streamed:
            self._client.upload_file(
                str(local_path), self.bucket, self._full(key), Config=_TRANSFER
            )
        stored = self.head(key)
        if stored is None or stored.size != Path(local_path).stat().st_size:
            raise OSError(f"upload of s3://{self.bucket}/{self._full(key)} was not confirmed")
        return stored

    def put_bytes(self, data: bytes, key: str) -> None:
        self._client.put_object(Bucket=self.bucket, Key=self._full(key), Body=data)

    def put_if_absent(self, data: bytes, key: str) -> bool:
        # S3 conditional write: refused with 412 when the key exists (atomic, no race).
        try:
            self._client.put_object(
                Bucket=self.bucket, Key=self._full(key), Body=data, IfNoneMatch="*"
            )
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412"):
                return False
            raise
        return True

    def put_if_match(self, data: bytes, key: str, tag: str | None) -> str | None:
        """S3 conditional writes: `If-Match: <ETag>` replaces only the version we read,
        `If-None-Match: *` creates only; refused with 412 PreconditionFailed (or 404 NoSuchKey
        when an If-Match key is gone, or 409 ConditionalRequestConflict when two conditional
        writes race), atomically on S3's side.
        https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html"""
        condition = {"IfNoneMatch": "*"} if tag is None else {"IfMatch": tag}
        try:
            response = self._client.put_object(
                Bucket=self.bucket, Key=self._full(key), Body=data, **condition
            )
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("PreconditionFailed", "412", "NoSuchKey", "404"):
                return None
            if code in ("ConditionalRequestConflict", "409"):
                return None
            raise
        etag: str = response["ETag"]
        return etag

    def get_tagged(self, key: str) -> tuple[bytes, str] | None:
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self._full(key))
            body: bytes = response["Body"].read()
            return body, response["ETag"]
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise

    def get_bytes(self, key: str) -> bytes | None:
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self._full(key))
            body: bytes = response["Body"].read()
            return body
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise

    def head(self, key: str) -> StoredObject | None:
        try:
            meta = self._client.head_object(Bucket=self.bucket, Key=self._full(key))
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return None
            raise
        return StoredObject(key, meta["ContentLength"], meta["LastModified"])

    def list(self, prefix: str) -> Iterator[StoredObject]:
        # A single ListObjectsV2 call returns at most 1000 keys: always follow the paginator.
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._full(prefix)):
            for obj in page.get("Contents", []):
                yield StoredObject(self._relative(obj["Key"]), obj["Size"], obj["LastModified"])

    def delete(self, keys: Iterable[str]) -> int:
        batch: list[str] = []
        deleted = 0
        for key in [*keys, None]:
            if key is not None:
                batch.append(self._full(key))
            if batch and (key is None or len(batch) == 1000):
                result = self._client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in batch]}
                )
                if result.get("Errors"):
                    first = result["Errors"][0]
                    raise OSError(f"S3 delete failed for {first['Key']}: {first['Message']}")
                deleted += len(batch)
                batch = []
        return deleted

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._full(key)}"

    def arrow_location(self, key: str) -> tuple[pafs.FileSystem, str]:
        options: dict[str, object] = {
            "region": self._region or "us-east-1",
            "connect_timeout": self._timeouts[0],
            "request_timeout": self._timeouts[1],
        }
        if self._endpoint_url:
            parsed = urlparse(self._endpoint_url)
            options["endpoint_override"] = parsed.netloc
            options["scheme"] = parsed.scheme or "https"
        if self._access_key_id:
            options["access_key"] = self._access_key_id
            options["secret_key"] = self._secret_access_key
        return pafs.S3FileSystem(**options), f"{self.bucket}/{self._full(key)}"

    def check(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except (
            botocore.exceptions.ConnectTimeoutError,
            botocore.exceptions.ReadTimeoutError,
        ) as exc:
            raise OSError(
                f"S3 store s3://{self.bucket}: no answer to HeadBucket within "
                f"{self._timeouts[0]:g} s (connect) / {self._timeouts[1]:g} s (read) "
                f"(connect_timeout_seconds / read_timeout_seconds in connections.yml): {exc}"
            ) from None
