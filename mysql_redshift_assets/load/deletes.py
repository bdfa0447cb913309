"""Removing the keys MySQL no longer has, inside the exactly-once discipline.

    BEGIN                               -- 1: stage the keys; the target is not locked
      CREATE TEMP TABLE doomed AS SELECT <key columns> FROM target WHERE 1 = 0
                                        -- typed exactly as the target's key columns
      INSERT INTO doomed VALUES (...), (...), ...   -- DELETE_BATCH keys a statement
    COMMIT                              -- a temp table lives on in the session
    BEGIN                               -- 2: the delete, under the lock
      LOCK target                       -- the same lock a load takes
      the ledger's files == the files the comparison saw?   else: change nothing, retry next pass
      DELETE FROM target USING doomed WHERE target.k1 = doomed.k1 AND ...   -- one statement
                                        -- (soft deletes, history: UPDATE target SET
                                        -- mra$deleted_at | mra$valid_to = <pass time> FROM
                                        -- doomed WHERE ... AND it IS NULL: versions.py)
      INSERT one ledger row: <table>#deletes, rows deleted, run id
    COMMIT                              -- or ROLLBACK: target and ledger untouched

One join instead of `WHERE (k = ...) OR ...` statements of 500 keys, each of which could scan
the table under the lock (1c-6 of the readiness review). Redshift documents
`DELETE [ FROM ] table_name [ { USING } table_name, ... ] [ WHERE condition ]`, the USING list
naming the tables the WHERE condition joins (https://docs.aws.amazon.com/redshift/latest/dg/r_DELETE.html),
and `CREATE TEMP TABLE ... AS SELECT`
(https://docs.aws.amazon.com/redshift/latest/dg/r_CREATE_TABLE_AS.html); PostgreSQL and DuckDB
take the same text. A batch of 500 keys stays far below the 16 MB a Redshift statement may hold
(the DELETE page; an InnoDB key is at most 3072 bytes). Key columns are NOT NULL, so `=` is the
key's equality; a composite key joins on every column. Both transactions run through
`retry.run_with_retries` (a 1023 / 40001 abort runs the pass again, staging included: the keys
are few next to a table). A crash leaves everything or nothing; a second run finds nothing more
to delete.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.identifiers import quote_ident
from mysql_redshift_assets.load import ledger, versions
from mysql_redshift_assets.load.base import Warehouse
from mysql_redshift_assets.load.retry import run_with_retries
from mysql_redshift_assets.naming import deletes_ledger_name, target_table
from mysql_redshift_assets.state.watermark import Watermark

DELETE_BATCH = 500  # keys per INSERT into the staged keys


def minutes_since_last_pass(
    warehouse: Warehouse, table: TableConfig, watermark: Watermark
) -> float | None:
    schema = target_table(table, watermark)[0]
    if not warehouse.has_ledger(schema):
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
    """Delete `keys` (values of `key_columns`, warehouse names) and record the pass in the
    ledger, in one transaction. None, with nothing changed, if a load committed since the
    comparison read the warehouse (its files differ from `files_seen`)."""
    schema, name = target_table(table, watermark)
    deleted, _ = run_with_retries(
        warehouse,
        f"delete pass on {warehouse.name}:{schema}.{name}",
        lambda: _attempt(warehouse, table, watermark, key_columns, keys, files_seen, run_id),
        unchanged="target and ledger are unchanged",
    )
    return deleted


def _attempt(
    warehouse: Warehouse,
    table: TableConfig,
    watermark: Watermark,
    key_columns: Sequence[str],
    keys: Sequence[tuple[Any, ...]],
    files_seen: set[str],
    run_id: str,
) -> int | None:
    schema, name = target_table(table, watermark)
    target = warehouse.ref(schema, name)
    # Nothing to delete (most passes): no staged keys, no DELETE; the pass is still recorded.
    doomed = quote_ident(f"mra_doomed_{uuid.uuid4().hex[:8]}") if keys else None
    try:
        if doomed is not None:
            with warehouse.transaction():
                for sql, params in stage_keys_sql(warehouse.ph, target, doomed, key_columns, keys):
                    warehouse.execute(sql, params)
        with warehouse.transaction():
            warehouse.lock(target)
            if warehouse.loaded_files(table, watermark) != files_seen:
                return None
            deleted = 0
            if doomed is not None:
                # Soft deletes, history: the live rows are marked, not deleted (versions.py).
                live = versions.live_where(table)
                retire = versions.retire_column(table)
                before = _count(warehouse, target, live)
                if retire is None:
                    warehouse.execute(delete_using_sql(target, doomed, key_columns))
                else:
                    sql = versions.retire_sql(target, doomed, key_columns, retire, warehouse.ph)
                    warehouse.execute(sql, (versions.now(),))
                deleted = before - _count(warehouse, target, live)
            entry_name = deletes_ledger_name(table, watermark)
            entry = f"{entry_name}/{run_id}/{uuid.uuid4().hex[:8]}"
            warehouse.execute(
                ledger.record_file_sql(warehouse.ledger(schema), warehouse.ph, warehouse.now_sql),
                (entry, entry_name, deleted, run_id),
            )
    except BaseException:
        with suppress(Exception):
            warehouse.rollback()  # a failed COMMIT may leave the transaction open
        raise
    finally:
        if doomed is not None:
            with suppress(Exception):  # a temp table: the session's end drops it anyway
                warehouse.execute(f"DROP TABLE IF EXISTS {doomed}")
                warehouse.commit()
    return deleted


def stage_keys_sql(
    ph: str,
    target: str,
    doomed: str,
    key_columns: Sequence[str],
    keys: Sequence[tuple[Any, ...]],
) -> list[tuple[str, list[Any]]]:
    """The temporary table of the doomed keys, typed as the target's key columns (an empty
    CREATE TABLE AS), filled DELETE_BATCH keys a statement: (SQL, parameters) in order."""
    cols = ", ".join(quote_ident(k) for k in key_columns)
    out: list[tuple[str, list[Any]]] = [
        (f"CREATE TEMP TABLE {doomed} AS SELECT {cols} FROM {target} WHERE 1 = 0", [])
    ]
    row = "(" + ", ".join(ph for _ in key_columns) + ")"
    for i in range(0, len(keys), DELETE_BATCH):
        batch = keys[i : i + DELETE_BATCH]
        values = ", ".join(row for _ in batch)
        out.append(
            (f"INSERT INTO {doomed} ({cols}) VALUES {values}", [v for k in batch for v in k])
        )
    return out


def delete_using_sql(target: str, doomed: str, key_columns: Sequence[str]) -> str:
    """One DELETE joining the target to the staged keys on every key column."""
    match = " AND ".join(
        f"{target}.{quote_ident(k)} = {doomed}.{quote_ident(k)}" for k in key_columns
    )
    return f"DELETE FROM {target} USING {doomed} WHERE {match}"


def _count(warehouse: Warehouse, target: str, where: str = "") -> int:
    sql = f"SELECT COUNT(*) FROM {target}" + (f" WHERE {where}" if where else "")
    return int(warehouse.fetchall(sql)[0][0])
