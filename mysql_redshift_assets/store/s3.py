"""The S3 object store (boto3; works against moto server and any S3-compatible endpoint)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import urlparse

import boto3
import botocore.exceptions
import pyarrow.fs as pafs
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from mysql_redshift_assets.store.objectstore import ObjectStore, StoredObject

# Multipart above 16 MiB, 4 parts in flight: a Parquet file of 100 MB goes up in parallel.
_TRANSFER = TransferConfig(
    multipart_threshold=16 << 20, multipart_chunksize=16 << 20, max_concurrency=4
)


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
    ) -> None:
        self.bucket = bucket
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
            config=Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=10),
        )

    def __repr__(self) -> str:
        return f"S3Store(bucket={self.bucket!r}, prefix={self.prefix!r})"

    def _full(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _relative(self, full: str) -> str:
        return full[len(self.prefix) + 1 :] if self.prefix else full

    def put_file(self, local_path: Path, key: str) -> StoredObject:
        self._client.upload_file(str(local_path), self.bucket, self._full(key), Config=_TRANSFER)
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

    def get_bytes(self, key: str) -> bytes | None:
        try:
            return self._client.get_object(Bucket=self.bucket, Key=self._full(key))["Body"].read()
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
        options: dict[str, object] = {"region": self._region or "us-east-1"}
        if self._endpoint_url:
            parsed = urlparse(self._endpoint_url)
            options["endpoint_override"] = parsed.netloc
            options["scheme"] = parsed.scheme or "https"
        if self._access_key_id:
            options["access_key"] = self._access_key_id
            options["secret_key"] = self._secret_access_key
        return pafs.S3FileSystem(**options), f"{self.bucket}/{self._full(key)}"

    def check(self) -> None:
        self._client.head_bucket(Bucket=self.bucket)
