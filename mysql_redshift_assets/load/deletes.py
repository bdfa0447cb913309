"""Removing the keys MySQL no longer has, inside the exactly-once discipline.

    BEGIN
      LOCK target                       -- the same lock a load takes
      the ledger's files == the files the comparison saw?   else: change nothing, retry next pass
      DELETE the keys (typed, as the warehouse holds them), in batches
      INSERT one ledger row: <table>#deletes, rows deleted, run id
    COMMIT                              -- or ROLLBACK: target and ledger untouched

A crash leaves everything or nothing; a second run finds nothing more to delete.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.identifiers import quote_ident
from mysql_redshift_assets.load import ledger
from mysql_redshift_assets.load.base import Warehouse
from mysql_redshift_assets.load.request import LoadError
from mysql_redshift_assets.naming import LEDGER_TABLE, deletes_ledger_name, target_table
from mysql_redshift_assets.state.watermark import Watermark

DELETE_BATCH = 500  # keys per DELETE statement


def minutes_since_last_pass(
    warehouse: Warehouse, table: TableConfig, watermark: Watermark
) -> float | None:
    schema = target_table(table, watermark)[0]
    if not warehouse.table_columns(schema, LEDGER_TABLE):
        return None
    sql = f'SELECT MAX("loaded_at") FROM {warehouse.ledger(schema)} WHERE "table_name" = {warehouse.ph}'
    last = warehouse.fetchall(sql, (deletes_ledger_name(table, watermark),))[0][0]
    warehouse.commit()
    if last is None:
        return None
    last = last.astimezone(UTC).replace(tzinfo=None) if last.tzinfo else last
    return (datetime.now(UTC).replace(tzinfo=None) - last).total_seconds() / 60


def delete_keys(
    warehouse: Warehouse,
    table: TableConfig,
    watermark: Watermark,
    key_columns: Sequence[str],
    keys: Sequence[tuple[Any, ...]],
    *,
    files_seen: set[str],
    run_id: str,
) -> int | None:
    """Delete `keys` (values of `key_columns`, warehouse names) in one transaction and record
    the pass in the ledger. None, with nothing changed, if a load committed since the
    comparison read the warehouse (its files differ from `files_seen`)."""
    schema, name = target_table(table, watermark)
    entry_name = deletes_ledger_name(table, watermark)
    target = warehouse.ref(schema, name)
    try:
        with warehouse.transaction():
            warehouse.lock(target)
            if warehouse.loaded_files(table, watermark) != files_seen:
                return None
            before = _count(warehouse, target)
            for i in range(0, len(keys), DELETE_BATCH):
                batch = keys[i : i + DELETE_BATCH]
                match = " AND ".join(f"{quote_ident(k)} = {warehouse.ph}" for k in key_columns)
                where = " OR ".join(f"({match})" for _ in batch)
                warehouse.execute(
                    f"DELETE FROM {target} WHERE {where}", [v for k in batch for v in k]
                )
            deleted = before - _count(warehouse, target)
            entry = f"{entry_name}/{run_id}/{uuid.uuid4().hex[:8]}"
            warehouse.execute(
                ledger.record_file_sql(warehouse.ledger(schema), warehouse.ph, warehouse.now_sql),
                (entry, entry_name, deleted, run_id),
            )
    except Exception as exc:
        raise LoadError(
            f"delete pass on {warehouse.name}:{schema}.{name} rolled back "
            f"({type(exc).__name__}: {exc}); target and ledger are unchanged"
        ) from exc
    return deleted


def _count(warehouse: Warehouse, target: str) -> int:
    return int(warehouse.fetchall(f"SELECT COUNT(*) FROM {target}")[0][0])
