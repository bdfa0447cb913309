"""Swap a generation into the warehouse: the table a resync (or a full table whose shape changed)
is replaced by. A partitioned table's resync swaps in the new generation of every window at once:
the side table gets every window's rows, the ledger every file.

    BEGIN                                   -- 1: fill the side table; the target is not locked
      ledger read: already swapped in?      -- then nothing to do
      CREATE TABLE side (the files' columns) -- a name of this attempt's own (side.py)
      COPY staging <- exactly these files; check: rows copied == rows in the footers
      INSERT INTO side SELECT the recorded columns FROM staging
    COMMIT
    BEGIN                                   -- 2: the swap, under the lock
      LOCK target                           -- readers keep reading the old table
      ledger re-check; the request's fence  -- swapped in meanwhile: nothing to do (the side
                                            -- table is dropped); superseded: StaleLoad
      the side table still ours?            -- else RetryLoad (a rival judged it dead)
      drop other attempts' dead side tables (side.py)
      DROP the views on target (read first, under the lock: keep.py)
      DROP TABLE target; ALTER TABLE side RENAME TO target
      recreate the views; the grants, owner and comments (keep.py)
      INSERT one ledger row per file
    COMMIT                                  -- or ROLLBACK: the old table and ledger stay

The target is locked only for transaction 2, which copies nothing (1c-4 of the readiness
review): on Redshift LOCK takes ACCESS EXCLUSIVE, and "causes reads and writes on the table to
wait" (https://docs.aws.amazon.com/redshift/latest/dg/r_LOCK.html). The generation's rows and
its ledger rows still commit together, in transaction 2. Both transactions run through
`retry.run_with_retries`: a 1023 / 40001 abort runs transaction 2 again over the side table
already filled (`side.Side`); a rival's drop of it runs the attempt again from transaction 1;
a swap that ends without swapping it in drops it.

DDL runs inside BEGIN ... COMMIT in Redshift, TRUNCATE aside
(https://docs.aws.amazon.com/redshift/latest/dg/r_BEGIN.html); DROP TABLE and ALTER TABLE are
refused in a transaction block only on external tables
(https://docs.aws.amazon.com/redshift/latest/dg/r_DROP_TABLE.html,
https://docs.aws.amazon.com/redshift/latest/dg/r_ALTER_TABLE.html). A crash before transaction
2 commits leaves the old table and a ledger without the generation (and perhaps a side table,
dropped by a later swap: side.py): the next load swaps again.
"""

from __future__ import annotations

import time
import uuid

from mysql_redshift_assets.identifiers import KEY_IDENTITY, quote_ident
from mysql_redshift_assets.load import ledger, versions
from mysql_redshift_assets.load.alter import target_column_ddl
from mysql_redshift_assets.load.base import CopyBatch, Warehouse
from mysql_redshift_assets.load.files import group_columns, read_footers
from mysql_redshift_assets.load.keep import Kept
from mysql_redshift_assets.load.request import LoadError, LoadRequest, LoadResult, check_fence
from mysql_redshift_assets.load.retry import RetryLoad, run_with_retries
from mysql_redshift_assets.load.side import Side, drop_dead_side_tables, side_exists
from mysql_redshift_assets.store.objectstore import ObjectStore
from mysql_redshift_assets.store.parquet import FileColumn


def swap_in(warehouse: Warehouse, store: ObjectStore, request: LoadRequest) -> LoadResult:
    """Replace the target by exactly `request.candidates` (one generation, or one of each window
    of a partitioned table; one schema)."""
    started = time.monotonic()
    schema, name = request.target_schema, request.target_table
    files = request.candidates
    groups = group_columns(store, files)
    if len(groups) != 1:
        raise LoadError(f"the files to swap in hold one schema; these hold {len(groups)}")
    warehouse.check_text_fits(request, files, read_footers(store, files))
    warehouse.ensure_ledger(schema)
    warehouse.commit()
    side = Side(warehouse, schema, name)
    try:
        result, attempts = run_with_retries(
            warehouse,
            f"swap into {warehouse.name}:{schema}.{name}",
            lambda: _attempt(warehouse, store, request, groups[0], side),
            unchanged="the old table and the ledger are unchanged",
        )
    finally:
        side.drop()  # not swapped in: a failure, or a rival swapped the generation in
    result.attempts = attempts
    result.table_rows = warehouse.row_count(schema, name)
    warehouse.commit()
    result.seconds = time.monotonic() - started
    return result


def _already_in(warehouse: Warehouse, request: LoadRequest, result: LoadResult) -> bool:
    """True if the ledger holds the generation (a rival swapped it in); LoadError if part."""
    loaded = warehouse.loaded_keys(request.target_schema, request.ledger_name)
    done = [f for f in request.candidates if f.key in loaded]
    result.already_loaded = len(done)
    if done and len(done) < len(request.candidates):
        raise LoadError("a generation is partly in the ledger; refusing to guess")
    return bool(done)


def _attempt(
    warehouse: Warehouse,
    store: ObjectStore,
    request: LoadRequest,
    columns: list[FileColumn],
    side: Side,
) -> LoadResult:
    """Transaction 1 unless an earlier attempt filled the side table; then transaction 2."""
    result = LoadResult()
    schema, name = request.target_schema, request.target_table
    try:
        if not side.ready():
            with warehouse.transaction():
                if _already_in(warehouse, request, result):
                    return result
                side.rows = fill_side(warehouse, store, request, columns, side.new())
        # Read before the transaction: its first statement is the LOCK (DuckDB's snapshot
        # begins at a transaction's first statement, and must see what the lock's last holder
        # committed).
        exists = bool(warehouse.table_columns(schema, name))
        warehouse.commit()
        assert side.name is not None
        with warehouse.transaction():
            swapped = _swap(warehouse, request, columns, side.name, exists, result)
    except Exception as exc:
        if not warehouse.is_serialization_failure(exc):
            side.drop()  # a retry after a serialization failure reuses it
        raise
    if swapped:
        side.swapped()
        result.rows_loaded = side.rows
        result.copies.append(side.rows)
        result.files_loaded = [f.key for f in request.candidates]
    return result


def fill_side(
    warehouse: Warehouse,
    store: ObjectStore,
    request: LoadRequest,
    columns: list[FileColumn],
    side: str,
) -> int:
    """Transaction 1: the side table in the files' shape, filled with exactly the files; the
    rows copied. The target is not touched."""
    side_ref = warehouse.ref(request.target_schema, side)
    ddl = ", ".join(
        [target_column_ddl(warehouse, c, request) for c in columns]
        + [f"{quote_ident(n)} {t}" for n, t in versions.kept_columns(request.table)]
    )
    warehouse.execute(f"CREATE TABLE {side_ref} ({ddl}){warehouse.target_table_options(request)}")
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
        picked = warehouse.select_parsed(
            [c.name for c in columns], [c.name for c in columns if c.parsed_json]
        )
        # History: the generation's rows open their versions (versions.py).
        opened = f", {quote_ident(versions.VALID_FROM)}" if request.table.history else ""
        warehouse.execute(
            f"INSERT INTO {side_ref} ({cols}{opened}) SELECT {picked}{opened and ', ' + warehouse.ph} "
            f"FROM {staging}",
            (versions.now(),) if opened else (),
        )
        warehouse.execute(f"DROP TABLE {staging}")
    expected = sum(f.rows for f in request.candidates)
    if copied != expected:
        raise LoadError(
            f"COPY reported {copied} rows but the files' footers hold {expected}; rolled back"
        )
    return copied


def _swap(
    warehouse: Warehouse,
    request: LoadRequest,
    columns: list[FileColumn],
    side: str,
    exists: bool,
    result: LoadResult,
) -> bool:
    """Transaction 2, under the lock; False if a rival swapped the generation in meanwhile."""
    schema, name = request.target_schema, request.target_table
    target, side_ref = warehouse.ref(schema, name), warehouse.ref(schema, side)
    if exists:
        warehouse.lock(target)
    if _already_in(warehouse, request, result):
        return False
    check_fence(request, f"swap into {warehouse.name}:{schema}.{name}")
    if not side_exists(warehouse, schema, side):
        raise RetryLoad(f"side table {side} was dropped by another swap; filling it again")
    drop_dead_side_tables(warehouse, schema, name, keep=side)
    # Under the lock, before anything is written: what depends on the table (LoadError if some
    # of it cannot be kept; see keep.py).
    kept = warehouse.kept_objects(schema, name) if exists else Kept()
    if exists:  # soft deletes, history: what the old table kept stays (versions.py)
        old = warehouse.table_columns(schema, name)
        new = [c.name for c in columns]
        opened = (
            warehouse.fetchall(versions.opened_at_sql(side_ref)) if request.table.history else []
        )
        at = versions.instant(opened[0][0] if opened else None)
        # MySQL's identity of a collated key where both tables carry it (`_merge`'s rule).
        key = [KEY_IDENTITY] if KEY_IDENTITY in old and KEY_IDENTITY in new else request.primary_key
        for sql, n in versions.carry_over_sql(
            request.table, target, side_ref, old, new, key, warehouse.ph
        ):
            warehouse.execute(sql, (at,) * n)
    for sql in kept.drop_statements():
        warehouse.execute(sql)
    for sql in swap_statements(target, side_ref, name, exists):
        warehouse.execute(sql)
    extra = [n for n, _ in versions.kept_columns(request.table)]
    kept.restore(warehouse, target, [c.name for c in columns] + extra, f"{schema}.{name}")
    sql = ledger.record_file_sql(warehouse.ledger(schema), warehouse.ph, warehouse.now_sql)
    for f in request.candidates:
        warehouse.execute(sql, (f.key, request.ledger_name, f.rows, request.run_id))
    return True


def swap_statements(target: str, side: str, name: str, exists: bool) -> list[str]:
    """The side table takes the target's name; inside the swap's transaction 2."""
    drop = [f"DROP TABLE {target}"] if exists else []
    return [*drop, f"ALTER TABLE {side} RENAME TO {quote_ident(name)}"]
