"""A sync with nothing new opens no warehouse session (Redshift Serverless bills each wake-up
for at least 60 seconds: docs/redshift.md, "Redshift Serverless").

Whether an incremental table has anything to load is the ledger's to say, in the warehouse. So
after each load that leaves every file a load takes (the increments and the newest generation)
in the ledger, the sync records that fact in the store, beside the watermark
(`<table>/_loaded.json`): the watermark's lineage, a digest of its file keys, the table's rows
and when the last delete pass ran (read from the ledger). The next sync skips the warehouse
when the watermark it reads has the same lineage and the same files (nothing extracted,
resynced or reset since) and the delete pass is not due (`deletes: ignore`, or a pass ran less
than `deletes_every_minutes` ago). Anything else (a new file, a resync's generation, a new
lineage, a partitioned or full table, the schema-drift check, which reads the warehouse's
columns) opens the session as before, and a failed load removes the record.

What it trusts: that only this project removes files from the ledger. After dropping a target
table or ledger rows by hand, run `resync` (or delete `_loaded.json`), or the next load waits
for the next new file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.naming import LOADED_MARKER_FILE, table_base
from mysql_redshift_assets.state.watermark import FileRecord, Watermark
from mysql_redshift_assets.store.objectstore import ObjectStore

MARKER_FILE = LOADED_MARKER_FILE


@dataclass(frozen=True)
class LoadedMarker:
    lineage: str | None
    files: str  # sha256 of the watermark's file keys, sorted
    table_rows: int
    deletes_at: str | None  # ISO time (UTC) of the last delete pass; None: none recorded


def marker_key(table: TableConfig) -> str:
    return f"{table_base(table)}/{MARKER_FILE}"


def files_digest(watermark: Watermark) -> str:
    keys = "\n".join(sorted(f.key for f in watermark.files))
    return hashlib.sha256(keys.encode()).hexdigest()


def applies(table: TableConfig) -> bool:
    """Only an incremental table of one window: a full or partitioned table's load takes a
    generation per run, and never has nothing new for long."""
    return table.mode == "incremental" and not table.partitioned


def read_marker(store: ObjectStore, table: TableConfig) -> LoadedMarker | None:
    data = store.get_bytes(marker_key(table))
    if data is None:
        return None
    try:
        return LoadedMarker(**json.loads(data))
    except (ValueError, TypeError):  # unreadable: as if absent (the load reads the ledger)
        return None


def write_marker(store: ObjectStore, table: TableConfig, marker: LoadedMarker) -> None:
    store.put_bytes(json.dumps(asdict(marker)).encode(), marker_key(table))


def forget(store: ObjectStore, table: TableConfig) -> None:
    store.delete([marker_key(table)])


def deletes_due(table: TableConfig, marker: LoadedMarker, now: datetime) -> bool:
    if table.deletes not in ("propagate", "soft"):  # the delete pass runs for both
        return False
    if not table.deletes_every_minutes or marker.deletes_at is None:
        return True
    last = datetime.fromisoformat(marker.deletes_at)
    return now - last >= timedelta(minutes=table.deletes_every_minutes)


def nothing_to_load(
    table: TableConfig, watermark: Watermark | None, marker: LoadedMarker | None
) -> bool:
    """The watermark's files are those the last load left all in the ledger, and the delete
    pass is not due: no warehouse session is needed."""
    if not applies(table) or watermark is None or marker is None:
        return False
    if watermark.status == "running":
        return False  # an extraction may be recording files: let the load look
    if marker.lineage != watermark.lineage or marker.files != files_digest(watermark):
        return False
    return not deletes_due(table, marker, datetime.now(UTC))


def load_candidates(watermark: Watermark) -> list[FileRecord]:
    """Every file an incremental table's load takes: the increments and the newest complete
    generation (a resync's, swapped in first)."""
    generation = watermark.latest_complete_generation(None)
    return [*watermark.files_of(None), *(watermark.files_of(generation.id) if generation else [])]


def marker_after_load(
    watermark: Watermark, loaded: set[str], table_rows: int, last_pass_minutes: float | None
) -> LoadedMarker | None:
    """The record a load leaves when every file it takes is in the ledger (`loaded`); None
    otherwise. `last_pass_minutes`: the ledger's age of the last delete pass."""
    if any(f.key not in loaded for f in load_candidates(watermark)):
        return None
    deletes_at = None
    if last_pass_minutes is not None:
        deletes_at = (datetime.now(UTC) - timedelta(minutes=last_pass_minutes)).isoformat()
    return LoadedMarker(watermark.lineage, files_digest(watermark), table_rows, deletes_at)
