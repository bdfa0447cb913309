"""Swap a generation into the warehouse in one step: the table a resync (or a full table whose
shape changed) is replaced by. A partitioned table's resync swaps in the new generation of every
window at once: the side table gets every window's rows, the ledger every file.

    BEGIN
      LOCK target                           -- readers keep reading the old table
      ledger re-check; the request's fence  -- already swapped in: nothing to do; superseded
                                            -- (a newer lineage or generation): StaleLoad
      DROP TABLE IF EXISTS side; CREATE TABLE side (the files' columns)
      COPY staging <- exactly these files; check: rows copied == rows in the footers
      INSERT INTO side SELECT the recorded columns FROM staging
      DROP the views on target (read first: keep.py)
      DROP TABLE target; ALTER TABLE side RENAME TO target
      recreate the views; the grants, owner and comments (keep.py)
      INSERT one ledger row per file
    COMMIT                                  -- or ROLLBACK: the old table and ledger stay

The whole swap is one transaction on every target: PostgreSQL and DuckDB DDL is transactional,
and Redshift runs DDL inside BEGIN ... COMMIT, TRUNCATE aside
(https://docs.aws.amazon.com/redshift/latest/dg/r_BEGIN.html); DROP TABLE and ALTER TABLE are
refused in a transaction block only on external tables
(https://docs.aws.amazon.com/redshift/latest/dg/r_DROP_TABLE.html,
https://docs.aws.amazon.com/redshift/latest/dg/r_ALTER_TABLE.html), and COPY is part of every
load's transaction already. A crash before COMMIT leaves
the old table and a ledger without the generation: the next load swaps again.
"""

from __future__ import annotations

import time
import uuid

from mysql_redshift_assets.identifiers import quote_ident
from mysql_redshift_assets.load import ledger
from mysql_redshift_assets.load.alter import target_column_ddl
from mysql_redshift_assets.load.base import CopyBatch, Warehouse
from mysql_redshift_assets.load.files import group_columns, read_footers
from mysql_redshift_assets.load.keep import Kept
from mysql_redshift_assets.load.request import LoadError, LoadRequest, LoadResult, check_fence
from mysql_redshift_assets.naming import side_table_name
from mysql_redshift_assets.store.objectstore import ObjectStore
from mysql_redshift_assets.store.parquet import FileColumn


def swap_in(warehouse: Warehouse, store: ObjectStore, request: LoadRequest) -> LoadResult:
    """Replace the target by exactly `request.candidates` (one generation, or one of each window
    of a partitioned table; one schema)."""
    started = time.monotonic()
    result = LoadResult()
    schema, name = request.target_schema, request.target_table
    files = request.candidates
    groups = group_columns(store, files)
    if len(groups) != 1:
        raise LoadError(f"the files to swap in hold one schema; these hold {len(groups)}")
    warehouse.check_text_fits(request, files, read_footers(store, files))
    warehouse.ensure_ledger(schema)
    # Read before the transaction: its first statement is the LOCK (DuckDB's snapshot begins
    # at a transaction's first statement, and must see what the lock's last holder committed).
    exists = bool(warehouse.table_columns(schema, name))
    warehouse.commit()
    try:
        with warehouse.transaction():
            _swap(warehouse, store, request, groups[0], result, exists)
    except LoadError:
        raise
    except Exception as exc:
        raise LoadError(
            f"swap into {warehouse.name}:{schema}.{name} rolled back ({type(exc).__name__}: "
            f"{exc}); the old table and the ledger are unchanged"
        ) from exc
    result.table_rows = warehouse.row_count(schema, name)
    warehouse.commit()
    result.seconds = time.monotonic() - started
    return result


def _swap(
    warehouse: Warehouse,
    store: ObjectStore,
    request: LoadRequest,
    columns: list[FileColumn],
    result: LoadResult,
    exists: bool,
) -> None:
    schema, name = request.target_schema, request.target_table
    target, side = warehouse.ref(schema, name), warehouse.ref(schema, side_table_name(name))
    if exists:
        warehouse.lock(target)
    loaded = warehouse.loaded_keys(schema, request.ledger_name)
    done = [f for f in request.candidates if f.key in loaded]
    result.already_loaded = len(done)
    if done:
        if len(done) < len(request.candidates):
            raise LoadError("a generation is partly in the ledger; refusing to guess")
        return
    check_fence(request, f"swap into {warehouse.name}:{schema}.{name}")
    # Under the lock, before anything is written: what depends on the table (LoadError if some
    # of it cannot be kept; see keep.py).
    kept = warehouse.kept_objects(schema, name) if exists else Kept()
    ddl = ", ".join(target_column_ddl(warehouse, c, request) for c in columns)
    warehouse.execute(f"DROP TABLE IF EXISTS {side}")
    warehouse.execute(f"CREATE TABLE {side} ({ddl}){warehouse.target_table_options(request)}")
    # The files may end with the merge's order column: COPY (by position on Redshift) into a
    # staging table that mirrors them, then the recorded columns into the side table.
    footers = read_footers(store, request.candidates)
    files = [f for f, footer in zip(request.candidates, footers, strict=True) if footer.rows]
    copied = 0
    if files:  # a generation of an empty table: nothing to COPY, the swap and ledger still run
        staged = footers[0].staging_columns
        staging = warehouse._create_staging(f"swap_{uuid.uuid4().hex[:8]}", staged)
        copied = warehouse.copy_into_staging(CopyBatch(staging, staged, files, store, request, 0))
        cols = ", ".join(quote_ident(c.name) for c in columns)
        warehouse.execute(f"INSERT INTO {side} ({cols}) SELECT {cols} FROM {staging}")
        warehouse.execute(f"DROP TABLE {staging}")
    expected = sum(f.rows for f in request.candidates)
    if copied != expected:
        raise LoadError(
            f"COPY reported {copied} rows but the files' footers hold {expected}; rolled back"
        )
    for sql in kept.drop_statements():
        warehouse.execute(sql)
    for sql in swap_statements(target, side, name, exists):
        warehouse.execute(sql)
    kept.restore(warehouse, target, [c.name for c in columns], f"{schema}.{name}")
    sql = ledger.record_file_sql(warehouse.ledger(schema), warehouse.ph, warehouse.now_sql)
    for f in request.candidates:
        warehouse.execute(sql, (f.key, request.ledger_name, f.rows, request.run_id))
    result.rows_loaded = copied
    result.copies.append(copied)
    result.files_loaded = [f.key for f in request.candidates]


def swap_statements(target: str, side: str, name: str, exists: bool) -> list[str]:
    """The side table takes the target's name; inside the load's transaction."""
    drop = [f"DROP TABLE {target}"] if exists else []
    return [*drop, f"ALTER TABLE {side} RENAME TO {quote_ident(name)}"]
