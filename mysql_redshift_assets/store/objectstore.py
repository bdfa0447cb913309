"""Object stores: S3 (boto3, multipart, paginated listings) and a local folder.

Keys are relative to the store's own root (bucket + prefix, or folder); `uri()` gives the full
address. A `put_*` returns only once the object is durably stored: S3 acknowledges a completed
PUT / multipart upload; the local store writes a temp file, fsyncs and renames.
"""

from __future__ import annotations

import fcntl
import hashlib
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
    def put_if_match(self, data: bytes, key: str, tag: str | None) -> str | None:
        """Compare-and-swap: write `key` only if its current version is `tag` (None: only if
        nothing is there); the new version's tag, or None when refused (someone else wrote)."""

    @abstractmethod
    def get_tagged(self, key: str) -> tuple[bytes, str] | None:
        """The object's bytes and its version tag (for `put_if_match`), or None."""

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

    def _write_atomically(
        self, key: str, write: Callable[[BinaryIO], object], *, link: bool = True
    ) -> Path:
        """Write a temp file beside `key`, fsync it, and rename it to `key` (`link` False:
        return the temp file's path; the caller links it and removes it)."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                write(out)
                out.flush()
                os.fsync(out.fileno())
            if not link:
                return Path(tmp)
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
        return self._create(key, data)

    def _create(self, key: str, data: bytes) -> bool:
        """Create `key` with all of `data` at once (a complete temp file hard-linked to the
        name: the link fails if the name exists); False when it exists."""
        path = self._path(key)
        tmp = self._write_atomically(key, lambda out: out.write(data), link=False)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)
        return True

    @staticmethod
    def _tag(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    def put_if_match(self, data: bytes, key: str, tag: str | None) -> str | None:
        """An atomic compare-and-swap between processes of this host: under an exclusive
        `flock` of the object's folder (no lock file left behind), compare the current
        content's SHA-256 with `tag`, then replace atomically. Every conditional writer of
        the folder takes the lock; plain readers see the old or the new object, whole."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            current = self.get_bytes(key)
            if (None if current is None else self._tag(current)) != tag:
                return None
            if tag is None:
                if not self._create(key, data):
                    return None
            else:
                self._write_atomically(key, lambda out: out.write(data))
            return self._tag(data)
        finally:
            os.close(lock)  # releases the flock

    def get_tagged(self, key: str) -> tuple[bytes, str] | None:
        data = self.get_bytes(key)
        return None if data is None else (data, self._tag(data))

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
