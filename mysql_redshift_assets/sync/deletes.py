"""The delete pass: after a load, remove from the warehouse the keys MySQL no longer has.

Why this order never deletes a key whose newer version is in a file not loaded yet:

1. It runs after the load, and reads the ledger's files (F) first.
2. It opens one MySQL snapshot (START TRANSACTION WITH CONSISTENT SNAPSHOT): time T. Every
   MySQL read of the comparison sees MySQL as of T.
3. Then it reads the watermark. If an extraction is running (it may hold rows read before T
   that are in no file yet) or a recorded file is not in F, it stops: such a file may hold
   a version of a key deleted before T, and loading it after our delete would bring the key
   back. So every row read from MySQL before T is in a loaded file: the warehouse holds
   nothing older than T that a later load could put back.
4. Keys in the warehouse and not in MySQL at T are deleted, in one transaction that first
   checks, under the load's lock, that the ledger still lists exactly F. A load that committed
   in between (its files may hold a key re-inserted after T) makes the pass change nothing;
   the next pass starts again. Files loaded later were extracted after T: a key re-inserted
   after T comes back with them, as it should.

A transaction that deletes a row and is still open at T is not seen (the row is still in
MySQL's snapshot): the next pass deletes it. A primary-key change (UPDATE of the key) is a
delete of the old key, found here, plus a new key, extracted by the cursor.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.extract import plan_table
from mysql_redshift_assets.extract.scope import Scope, source_scope
from mysql_redshift_assets.extract.source import Source
from mysql_redshift_assets.extract.zones import is_utc
from mysql_redshift_assets.load.base import Warehouse
from mysql_redshift_assets.load.deletes import delete_keys, minutes_since_last_pass
from mysql_redshift_assets.load.versions import live_where
from mysql_redshift_assets.naming import target_table
from mysql_redshift_assets.reconcile.canonical import canonical
from mysql_redshift_assets.reconcile.compare import Diff
from mysql_redshift_assets.reconcile.scope import reconcile_scope
from mysql_redshift_assets.state.watermark import WatermarkStore
from mysql_redshift_assets.sync.load import candidate_files

log = logging.getLogger(__name__)


@dataclass
class DeletePass:
    ran: bool = False
    deleted: int = 0
    note: str = ""
    seconds: float = 0.0
    diff: Diff | None = None


def _skip(note: str) -> DeletePass:
    return DeletePass(note=note)


def propagate_deletes(
    source: Source,
    warehouse: Warehouse,
    watermarks: WatermarkStore,
    table: TableConfig,
    *,
    run_id: str,
) -> DeletePass:
    """Compare MySQL's keys with the warehouse's and delete those MySQL no longer has."""
    if table.mode == "incremental" and table.deletes not in ("propagate", "soft"):
        return _skip("deletes: ignore")
    watermark = watermarks.load(table)
    if watermark is not None and not watermark.primary_key:
        return _skip(
            f"{table.qualified}: no primary key, so no delete pass: a keyless table is loaded "
            f"in generations (mode {table.mode}), each of which replaces the whole table or "
            "window it covers, deletes included"
        )
    if table.mode != "incremental":
        return _skip(
            f"mode {table.mode}: each load replaces the whole table or window it covers, "
            "deletes included; no delete pass"
        )
    if not source.has_catalog:
        return _skip(f"source {source.name!r} cannot compute key hashes; no delete pass")
    schema, name = target_table(table, watermark)
    if watermark is None or not warehouse.table_columns(schema, name):
        return _skip("nothing loaded yet")
    if table.deletes_every_minutes:
        age = minutes_since_last_pass(warehouse, table, watermark)
        if age is not None and age < table.deletes_every_minutes:
            return _skip(f"last delete pass {age:.0f} min ago (deletes_every_minutes)")
    started = time.monotonic()
    plan = plan_table(source, table, watermark.columns)
    key = [plan.column(k) for k in plan.primary_key]
    blind = [k.source.name for k in key if canonical(k).kind is None]
    if blind:  # e.g. a BLOB key: no text every dialect hashes alike
        return _skip(
            f"{table.qualified}: key column(s) {', '.join(blind)} cannot be compared across "
            "dialects, so deletes are not carried; declare `deletes: ignore` to silence this"
        )
    if not is_utc(plan.zone) and any(k.source.data_type == "datetime" for k in key):
        # The warehouse holds such a key as a UTC instant, MySQL as a wall clock in the zone:
        # compared as they are, every key would look deleted.
        return _skip(
            f"{table.error('time_zone', 'a DATETIME primary key read in zone ' + plan.zone)}: "
            "keys cannot be compared across zones, so deletes are not carried (validate "
            "reports them); declare `deletes: ignore` to silence this"
        )
    files_seen = warehouse.loaded_files(table, watermark)
    warehouse.commit()  # end the read: an idle session holds no locks
    with source.snapshot():
        current = watermarks.load(table)  # read after the snapshot began: see (3)
        assert current is not None
        unloaded = [f for f in candidate_files(table, current) if f.key not in files_seen]
        if current.status == "running" or unloaded:
            why = "an extraction is running" if current.status == "running" else (
                f"{len(unloaded)} file(s) are extracted but not loaded"
            )  # fmt: skip
            return _skip(f"{why}; the next pass carries the deletes")
        live = Scope(schema, name, live_where(table))  # soft deletes, history: the live rows
        diff = reconcile_scope(source, warehouse, plan, source_scope(plan), live, deletes_only=True)
    warehouse.commit()
    deleted = delete_keys(
        warehouse,
        table,
        watermark,
        [c.name for c in key],
        diff.extra_keys,
        files_seen=files_seen,
        run_id=run_id,
    )
    if deleted is None:
        return _skip("a load committed during the pass; the next pass carries the deletes")
    log.info("%s: delete pass removed %d row(s)", table.qualified, deleted)
    return DeletePass(True, deleted, "", time.monotonic() - started, diff)
