"""A store whose writes happen only while a table's lease is held.

An extraction that lost its lease (`state/lease.py`) must not store a file: another run may have
recorded a file under the same key (an increment's key is its lineage and sequence number, the
same for both runs), and an upload now would replace it. Every write checks the lease first
and raises LeaseLost. The check is local (no store call): a holder stopped past its deadline
learns it at its next write; an upload already under way when the deadline passes completes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow.fs as pafs

from mysql_redshift_assets.state.lease import Lease
from mysql_redshift_assets.store.objectstore import FileUpload, ObjectStore, StoredObject


class FencedStore(ObjectStore):
    def __init__(self, inner: ObjectStore, lease: Lease) -> None:
        self.inner, self.lease = inner, lease

    def __repr__(self) -> str:
        return f"FencedStore({self.inner!r}, {self.lease.table.qualified})"

    def begin_file(self, key: str) -> FileUpload:
        self.lease.check()
        return self.inner.begin_file(key)

    def put_file(
        self, local_path: Path, key: str, upload: FileUpload | None = None
    ) -> StoredObject:
        try:
            self.lease.check()
        except BaseException:
            if upload is not None:
                upload.abort()
            raise
        return self.inner.put_file(local_path, key, upload)

    def put_bytes(self, data: bytes, key: str) -> None:
        self.lease.check()
        self.inner.put_bytes(data, key)

    def put_if_absent(self, data: bytes, key: str) -> bool:
        self.lease.check()
        return self.inner.put_if_absent(data, key)

    def put_if_match(self, data: bytes, key: str, tag: str | None) -> str | None:
        self.lease.check()
        return self.inner.put_if_match(data, key, tag)

    def get_tagged(self, key: str) -> tuple[bytes, str] | None:
        return self.inner.get_tagged(key)

    def get_bytes(self, key: str) -> bytes | None:
        return self.inner.get_bytes(key)

    def head(self, key: str) -> StoredObject | None:
        return self.inner.head(key)

    def list(self, prefix: str) -> Iterator[StoredObject]:
        return self.inner.list(prefix)

    def delete(self, keys: Iterable[str]) -> int:
        self.lease.check()
        return self.inner.delete(keys)

    def uri(self, key: str) -> str:
        return self.inner.uri(key)

    def arrow_location(self, key: str) -> tuple[pafs.FileSystem, str]:
        return self.inner.arrow_location(key)

    def check(self) -> None:
        self.inner.check()
