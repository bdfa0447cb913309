"""s3clean: find a table's files in the store, say what each is, delete only what is safe.

A file is safe to delete when the warehouse ledger says it is loaded, when it belongs to a full
generation older than the newest loaded one (superseded), or when no watermark records it (left by
a run killed between upload and record; never loadable). A recorded file the ledger lacks is
`pending` and is kept unless forced: deleting it would lose rows.
"""

from __future__ import annotations

import fnmatch
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.naming import (
    LOADED_MARKER_FILE,
    WATERMARK_FILE,
    lease_key,
    table_base,
)
from mysql_redshift_assets.state.fenced import FencedStore
from mysql_redshift_assets.state.lease import table_lease
from mysql_redshift_assets.state.watermark import Watermark, WatermarkStore
from mysql_redshift_assets.store.objectstore import ObjectStore

FileState = Literal["loaded", "pending", "superseded", "orphan", "manifest"]
SAFE: frozenset[str] = frozenset({"loaded", "superseded", "orphan", "manifest"})
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """`30m`, `12h`, `7d`, `2w`."""
    match = _DURATION.match(text or "")
    if not match:
        raise ConfigError(
            f"bad duration {text!r}: write a number and a unit, e.g. 30m, 12h, 7d, 2w"
        )
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


@dataclass(frozen=True)
class StoredFile:
    key: str
    size: int
    modified: datetime
    state: FileState


def superseded_keys(watermark: Watermark | None, loaded: set[str]) -> set[str]:
    """Recorded files of a generation older than the newest loaded one of the same window.

    Per partition (None: the whole table): a window's generation supersedes only its own
    window's older ones, never another window's (one run extracts many windows). A loaded file
    is `loaded`, never superseded. `watermark get` and `s3clean list` share this rule.
    """
    if watermark is None:
        return set()
    newest_loaded: dict[str | None, str] = {}
    partition_of: dict[str, str | None] = {}
    for snap in watermark.generations:
        partition_of[snap.id] = snap.partition
        if any(f.key in loaded for f in watermark.files_of(snap.id)):
            newest_loaded[snap.partition] = snap.id
    order = [s.id for s in watermark.generations]
    return {
        f.key
        for f in watermark.files
        if f.key not in loaded
        and f.generation is not None
        and (newest := newest_loaded.get(partition_of.get(f.generation))) is not None
        and order.index(f.generation) < order.index(newest)
    }


def classify(
    store: ObjectStore, table: TableConfig, watermark: Watermark | None, loaded: set[str]
) -> list[StoredFile]:
    """Every object under the table's folder (paginated listing), but the watermark itself and
    the no-op record beside it (`sync/noop.py`) and the lease, the table's state, not its files."""
    recorded = {f.key for f in watermark.files} if watermark else set()
    superseded = superseded_keys(watermark, loaded)
    files = []
    for obj in store.list(table_base(table) + "/"):
        if obj.key.endswith(("/" + WATERMARK_FILE, "/" + LOADED_MARKER_FILE)):
            continue
        if obj.key == lease_key(table):  # the lease: kept, its generation goes on
            continue
        state: FileState
        if "/_manifests/" in obj.key:
            state = "manifest"
        elif obj.key in loaded:
            state = "loaded"
        elif obj.key not in recorded:
            state = "orphan"
        elif obj.key in superseded:
            state = "superseded"
        else:
            state = "pending"
        files.append(StoredFile(obj.key, obj.size, obj.modified, state))
    return files


def totals(files: Iterable[StoredFile]) -> dict[str, dict[str, int]]:
    """Files and bytes per state, and `all`: what `s3clean list` sums up."""
    sums: dict[str, dict[str, int]] = {"all": {"files": 0, "bytes": 0}}
    for f in files:
        for state in ("all", f.state):
            entry = sums.setdefault(state, {"files": 0, "bytes": 0})
            entry["files"] += 1
            entry["bytes"] += f.size
    return sums


@dataclass
class CleanPlan:
    delete: list[StoredFile]
    kept_unloaded: list[StoredFile]

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.delete)


def plan_clean(
    files: Iterable[StoredFile],
    *,
    now: datetime,
    older_than: timedelta | None = None,
    pattern: str | None = None,
    force: bool = False,
) -> CleanPlan:
    plan = CleanPlan(delete=[], kept_unloaded=[])
    for f in files:
        if older_than is not None and now - f.modified < older_than:
            continue
        name = f.key.rsplit("/", 1)[-1]
        if pattern and not (fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(f.key, pattern)):
            continue
        if f.state in SAFE or force:
            plan.delete.append(f)
        else:
            plan.kept_unloaded.append(f)
    return plan


def execute_clean(
    store: ObjectStore, watermarks: WatermarkStore, table: TableConfig, plan: CleanPlan
) -> int:
    """Delete the planned files, then forget them in the watermark (files list only).

    Under the table's lease, so an extraction cannot record a file in between.
    """
    keys = [f.key for f in plan.delete]
    with table_lease(watermarks.store, table, f"s3clean-{uuid.uuid4().hex[:12]}") as lease:
        deleted = FencedStore(store, lease).delete(keys)  # not once the lease is lost
        watermark = watermarks.load(table)
        if watermark is not None and keys:
            gone = set(keys)
            watermark.files = [f for f in watermark.files if f.key not in gone]
            watermarks.save(table, watermark)
    return deleted
