"""Object stores: S3 (boto3, multipart, paginated listings) and a local folder.

Keys are relative to the store's own root (bucket + prefix, or folder); `uri()` gives the full
address. A `put_*` returns only once the object is durably stored: S3 acknowledges a completed
PUT / multipart upload; the local store writes a temp file, fsyncs and renames.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import pyarrow.fs as pafs

from mysql_redshift_assets.closing import Closing


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    modified: datetime


class FileUpload:
    """The upload of one local file that is still being written.

    The writer calls `grew(path)` as the file grows and hands the upload to `put_file` when the
    file is closed; a store may send the finished part of the file meanwhile (S3: multipart
    parts), so that storing a file costs little more than its last part. Nothing is visible
    under the key before `put_file` returns. This base class sends everything at the end."""

    def grew(self, path: Path) -> None:
        """The file at `path` has grown: bytes before its current size never change."""

    def abort(self) -> None:
        """Give up: nothing may stay behind (called when the file will not be stored)."""


class ObjectStore(Closing, ABC):
    def close(self) -> None:
        """Release the store's connections (S3's pool); a local folder holds none."""

    def begin_file(self, key: str) -> FileUpload:
        """An upload of a file still being written, finished by `put_file(..., upload=)`."""
        return FileUpload()

    @abstractmethod
    def put_file(
        self, local_path: Path, key: str, upload: FileUpload | None = None
    ) -> StoredObject:
        """Store the closed file at `key`, finishing `upload` if one was begun; if storing
        fails, nothing of it (no part of `upload` either) stays behind."""

    @abstractmethod
    def put_bytes(self, data: bytes, key: str) -> None: ...

    @abstractmethod
    def put_if_absent(self, data: bytes, key: str) -> bool:
        """Create `key` only if nothing is there (atomic); False when it already exists."""

    @abstractmethod
    def get_bytes(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is no such key."""

    @abstractmethod
    def head(self, key: str) -> StoredObject | None: ...

    @abstractmethod
    def list(self, prefix: str) -> Iterator[StoredObject]:
        """Every object under `prefix`, following pagination to the end."""

    @abstractmethod
    def delete(self, keys: Iterable[str]) -> int: ...

    @abstractmethod
    def uri(self, key: str) -> str: ...

    @abstractmethod
    def arrow_location(self, key: str) -> tuple[pafs.FileSystem, str]:
        """(pyarrow filesystem, path) to read an object with pyarrow / DuckDB."""

    def check(self) -> None:
        """Raise if the store cannot be reached (used by `status`)."""
        next(iter(self.list("__connectivity_check__/")), None)


class LocalStore(ObjectStore):
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"key {key!r} leaves the store folder")
        return path

    def _stat(self, key: str, path: Path) -> StoredObject:
        st = path.stat()
        return StoredObject(key, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC))

    def _write_atomically(self, key: str, write: Callable[[BinaryIO], object]) -> Path:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                write(out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return path

    def put_file(
        self, local_path: Path, key: str, upload: FileUpload | None = None
    ) -> StoredObject:
        def copy(out: BinaryIO) -> None:
            with open(local_path, "rb") as src:
                shutil.copyfileobj(src, out, 8 << 20)

        return self._stat(key, self._write_atomically(key, copy))

    def put_bytes(self, data: bytes, key: str) -> None:
        self._write_atomically(key, lambda out: out.write(data))

    def put_if_absent(self, data: bytes, key: str) -> bool:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        return True

    def get_bytes(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def head(self, key: str) -> StoredObject | None:
        path = self._path(key)
        return self._stat(key, path) if path.is_file() else None

    def list(self, prefix: str) -> Iterator[StoredObject]:
        base = self.root.resolve()
        start = self._path(prefix.rstrip("/")) if prefix.strip("/") else base
        if not start.exists():
            return
        for path in sorted(start.rglob("*") if start.is_dir() else [start]):
            key = path.relative_to(base).as_posix()
            if path.is_file() and key.startswith(prefix) and not path.name.startswith(".tmp-"):
                yield self._stat(key, path)

    def delete(self, keys: Iterable[str]) -> int:
        count = 0
        for key in keys:
            path = self._path(key)
            if path.exists():
                path.unlink()
                count += 1
        return count

    def uri(self, key: str) -> str:
        return self._path(key).as_uri()

    def arrow_location(self, key: str) -> tuple[pafs.FileSystem, str]:
        return pafs.LocalFileSystem(), str(self._path(key))
