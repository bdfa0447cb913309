"""The schema preflight of a load: plan every change the pending files bring, refuse or apply.

Runs before the load's first write (its ledger, its target, its transaction): a refused change
leaves the warehouse as it was. The changes it applies, per dialect:

- PostgreSQL, DuckDB: ADD COLUMN [DEFAULT] and ALTER COLUMN ... TYPE, all in one transaction.
- Redshift: `ALTER TABLE ... ALTER COLUMN ... TYPE VARCHAR(n)` is the only type change Redshift
  makes in place (AWS, ALTER TABLE: https://docs.aws.amazon.com/redshift/latest/dg/r_ALTER_TABLE.html,
  `ALTER COLUMN column_name TYPE updated_varchar_data_type_size`), and not inside a transaction
  block (the same page, under that clause), so each runs alone in autocommit
  (`RedshiftWarehouse.apply_type_changes`; the planner reads which kinds from the record's
  `type_changes_in_place`, `targets.py`), unless the column has a DEFAULT or a BYTEDICT,
  RUNLENGTH, TEXT255 or TEXT32K encoding, which that page also refuses: read from the catalog
  first (`RedshiftWarehouse.in_place_refusals`), such a column is rebuilt. Any other widening
  rebuilds the table: CREATE the new shape and INSERT ... SELECT from the target in one
  transaction without the target's lock; then LOCK, check that no load or delete pass wrote to
  the target since (its ledger rows unchanged, else run again: `retry.py`), DROP the old and
  RENAME the new into its place, in a second, short one (`_rebuild`; readers see the old table
  until it commits, as LOCK's ACCESS EXCLUSIVE makes them wait only for that one:
  https://docs.aws.amazon.com/redshift/latest/dg/r_LOCK.html). DDL runs inside BEGIN ... COMMIT
  in Redshift, TRUNCATE aside (https://docs.aws.amazon.com/redshift/latest/dg/r_BEGIN.html); DROP TABLE is refused there
  only for external tables (https://docs.aws.amazon.com/redshift/latest/dg/r_DROP_TABLE.html),
  as is ALTER TABLE (r_ALTER_TABLE.html above).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.identifiers import KEY_IDENTITY, quote_ident
from mysql_redshift_assets.load import versions
from mysql_redshift_assets.load.base import Warehouse
from mysql_redshift_assets.load.evolve import (
    Change,
    SchemaChangeRefused,
    SqlType,
    add_column_sql,
    alter_type_sql,
    check_identity,
    loaded_without_identity,
    parse_type,
    plan_changes,
    refusal_message,
    warehouse_columns,
)
from mysql_redshift_assets.load.files import group_columns
from mysql_redshift_assets.load.mysql_defaults import ColumnDefault
from mysql_redshift_assets.load.request import LoadError, LoadRequest
from mysql_redshift_assets.load.retry import RetryLoad, run_with_retries
from mysql_redshift_assets.load.side import Side, drop_dead_side_tables, side_exists
from mysql_redshift_assets.naming import deletes_ledger_name
from mysql_redshift_assets.store.objectstore import ObjectStore
from mysql_redshift_assets.store.parquet import FileColumn

Columns = dict[str, tuple[SqlType, str]]


def resolve_fix(table: TableConfig) -> str:
    """What resolves a refused change: a resync (of every window, for a partitioned table)."""
    if table.partitioned:
        return (
            f"Run `{resync_command(table)}` to re-extract every window and swap them in together."
        )
    return f"Run `{resync_command(table)}` to re-extract the table and swap it in."


def plan_pending(
    warehouse: Warehouse,
    store: ObjectStore,
    request: LoadRequest,
    defaults: Mapping[str, ColumnDefault] | None,
) -> tuple[Columns, list[Change]]:
    """The warehouse's columns and every change the files the ledger lacks bring (read only)."""
    schema, table = request.target_schema, request.target_table
    existing = warehouse_columns(warehouse, schema, table)
    if not existing:
        return existing, []
    loaded = warehouse.loaded_keys(schema, request.ledger_name)
    try:
        groups = group_columns(store, [f for f in request.candidates if f.key not in loaded])
    except LoadError:
        return existing, []  # an unreadable file: the load itself reports it, writing nothing
    return existing, plan_groups(warehouse, existing, groups, defaults)


def plan_groups(
    warehouse: Warehouse,
    existing: Columns,
    groups: Sequence[list[FileColumn]],
    defaults: Mapping[str, ColumnDefault] | None,
) -> list[Change]:
    """Groups in file order, each against the table as the earlier ones left it. Only the newest
    group speaks for MySQL now: an older group may lack a column or carry a narrower type
    (its rows fit), but never another kind of type."""
    state = dict(existing)
    changes: list[Change] = []
    for i, group in enumerate(groups):
        types = {c.name: warehouse.column_type(c) for c in group}
        for change in plan_changes(warehouse.dialect, state, group, types, defaults):
            older = i < len(groups) - 1
            if older and change.action == "refuse" and (change.new is None or _fits(state, change)):
                continue
            changes.append(change)
            if change.sql_type is not None:
                state[change.column] = (parse_type(change.sql_type), change.sql_type)
    return changes


def _fits(state: Columns, change: Change) -> bool:
    old = state[change.column][0] if change.column in state else None
    return old is not None and change.new is not None and parse_type(change.new).widens_to(old)


def evolve_before_load(
    warehouse: Warehouse,
    store: ObjectStore,
    request: LoadRequest,
    defaults: Mapping[str, ColumnDefault] | None = None,
) -> list[str]:
    """Refuse (SchemaChangeRefused, nothing written) or apply every change; the added names.
    Two loads may race to apply one change: the loser plans again and finds it applied."""
    return warehouse._ddl(_evolve_once, warehouse, store, request, defaults)


def _evolve_once(
    warehouse: Warehouse,
    store: ObjectStore,
    request: LoadRequest,
    defaults: Mapping[str, ColumnDefault] | None,
) -> list[str]:
    try:
        existing, changes = plan_pending(warehouse, store, request, defaults)
        refused = [c for c in changes if c.action == "refuse"]
        if refused:
            raise SchemaChangeRefused(
                refusal_message(request.table.qualified, resolve_fix(request.table), refused)
            )
        has_rows = (
            bool(changes) and warehouse.row_count(request.target_schema, request.target_table) > 0
        )
        check_identity(request, changes, has_rows)
    finally:
        warehouse.commit()  # end the reads: an idle session holds no locks
    if changes:
        apply_changes(warehouse, request, existing, changes)
    return [c.column for c in changes if c.action == "add"]


def apply_changes(
    warehouse: Warehouse, request: LoadRequest, existing: Columns, changes: Sequence[Change]
) -> None:
    target = warehouse.ref(request.target_schema, request.target_table)
    if any(c.action == "alter" for c in changes):
        refusals = warehouse.in_place_refusals(request.target_schema, request.target_table)
        warehouse.commit()  # end the catalog read: the changes' transaction starts with them
        changes = choose_paths(changes, refusals)
    if any(c.action == "rebuild" for c in changes):
        side = Side(warehouse, request.target_schema, request.target_table)
        try:
            run_with_retries(
                warehouse,
                f"rebuild of {warehouse.name}:{side.schema}.{side.target}",
                lambda: _rebuild(warehouse, request, existing, changes, side),
                unchanged="the old table and the ledger are unchanged",
            )
        finally:
            side.drop()  # not swapped in: the rebuild failed
        return
    in_transaction = warehouse.apply_type_changes(target, changes)  # Redshift's, alone
    with warehouse.transaction():
        for sql in change_statements(target, in_transaction):
            warehouse.execute(sql)


def choose_paths(changes: Sequence[Change], refusals: Mapping[str, str]) -> list[Change]:
    """An in-place widening of a column the warehouse refuses to alter (Redshift: a DEFAULT, or
    a BYTEDICT/RUNLENGTH/TEXT255/TEXT32K encoding; `load/redshift_limits.py`) becomes a
    rebuild, and so does the whole change set."""
    return [
        replace(c, action="rebuild", reason=f"widened by a rebuild: {refusals[c.column]}")
        if c.action == "alter" and c.column in refusals
        else c
        for c in changes
    ]


def change_statements(target: str, changes: Sequence[Change]) -> list[str]:
    out = []
    for c in changes:
        assert c.sql_type is not None
        if c.action == "add":
            out.append(add_column_sql(target, c.column, c.sql_type, c.default))
        elif c.action == "alter":
            out.append(alter_type_sql(target, c.column, c.sql_type))
    return out


def _rebuild(
    warehouse: Warehouse,
    request: LoadRequest,
    existing: Columns,
    changes: Sequence[Change],
    side: Side,
) -> None:
    """One attempt: fill the new shape outside the lock (unless an attempt aborted as not
    serializable filled it), then swap it in under the lock if nothing was written to the
    target meanwhile (its ledger rows unchanged), else RetryLoad and fill again."""
    schema, name = request.target_schema, request.target_table
    target = warehouse.ref(schema, name)
    try:
        if not side.ready():
            with warehouse.transaction():
                # Read before the copy: a write committed after it shows as a change under
                # the lock.
                side.seen = _ledger_rows(warehouse, request)
                fill, _ = rebuild_statements(warehouse, request, existing, changes, side.new())
                for sql in fill:
                    warehouse.execute(sql)
        assert side.name is not None
        _, swap = rebuild_statements(warehouse, request, existing, changes, side.name)
        with warehouse.transaction():
            warehouse.lock(target)
            if set(warehouse.table_columns(schema, name)) != set(existing):
                # Planned against another shape: a rival changed it; `_ddl` plans again.
                raise LoadError(f"{schema}.{name} changed shape during the rebuild")
            if _ledger_rows(warehouse, request) != side.seen:
                raise RetryLoad("a load or a delete pass wrote to the table during the copy")
            if not side_exists(warehouse, schema, side.name):
                raise RetryLoad(f"side table {side.name} was dropped by another swap")
            drop_dead_side_tables(warehouse, schema, name, keep=side.name)
            # What depends on the table, read under the lock (keep.py).
            kept = warehouse.kept_objects(schema, name)
            for sql in [*kept.drop_statements(), *swap]:
                warehouse.execute(sql)
            added = [c.column for c in changes if c.action == "add"]
            kept.restore(warehouse, target, [*existing, *added], f"{schema}.{name}")
    except Exception as exc:
        if not warehouse.is_serialization_failure(exc):
            side.drop()  # a retry after a serialization failure reuses it
        raise
    side.swapped()


def _ledger_rows(warehouse: Warehouse, request: LoadRequest) -> set[str]:
    """The ledger rows of every write into the table: its files (loads, swaps) and its delete
    passes."""
    schema = request.target_schema
    files = warehouse.loaded_keys(schema, request.ledger_name)
    passes = warehouse.loaded_keys(schema, deletes_ledger_name(request.table, request.watermark))
    return files | passes


def rebuild_statements(
    warehouse: Warehouse,
    request: LoadRequest,
    existing: Columns,
    changes: Sequence[Change],
    side: str,
) -> tuple[list[str], list[str]]:
    """Redshift: the table in its new shape, filled from the old (transaction 1, no lock), then
    swapped in by name with the added columns (transaction 2, under the lock, after the views
    on the table are dropped; `_rebuild` recreates them after). Readers see the old table until
    transaction 2 commits."""
    schema, name = request.target_schema, request.target_table
    target = warehouse.ref(schema, name)
    side_ref = warehouse.ref(schema, side)
    new_types = {c.column: c.sql_type for c in changes if c.action in ("alter", "rebuild")}
    ddl = []
    for col, (_t, text) in existing.items():
        not_null = " NOT NULL" if col in request.primary_key else ""
        ddl.append(f"{quote_ident(col)} {new_types.get(col) or text}{not_null}")
    cols = ", ".join(quote_ident(c) for c in existing)
    options = warehouse.target_table_options(request)
    fill = [
        f"CREATE TABLE {side_ref} ({', '.join(ddl)}){options}",
        f"INSERT INTO {side_ref} ({cols}) SELECT {cols} FROM {target}",
    ]
    swap = [
        f"DROP TABLE {target}",
        f"ALTER TABLE {side_ref} RENAME TO {quote_ident(name)}",
        *change_statements(target, [c for c in changes if c.action == "add"]),
    ]
    return fill, swap


def resync_command(table: TableConfig) -> str:
    return f"mysql-redshift resync -p {table.pipeline} -t {table.qualified}"


def target_column_ddl(warehouse: Warehouse, col: FileColumn, request: LoadRequest) -> str:
    not_null = " NOT NULL" if col.name in request.primary_key else ""
    return f"{quote_ident(col.name)} {warehouse.column_type(col)}{not_null}"


def create_or_widen(
    warehouse: Warehouse, request: LoadRequest, columns: list[FileColumn]
) -> list[str]:
    """The load's own step for each group of files: create the target in the files' shape, or
    add the columns it still lacks (a load without the preflight: NULL for existing rows).
    Returns the added names."""
    target = warehouse.ref(request.target_schema, request.target_table)
    existing = warehouse.table_columns(request.target_schema, request.target_table)
    kept = versions.kept_columns(request.table)  # soft deletes, history: never in files
    if not existing:
        ddl = ", ".join(
            [target_column_ddl(warehouse, c, request) for c in columns]
            + [f"{quote_ident(n)} {t}" for n, t in kept]
        )
        options = warehouse.target_table_options(request)
        warehouse.execute(f"CREATE TABLE IF NOT EXISTS {target} ({ddl}){options}")
        warehouse.commit()
        return []
    for name, sql_type in kept:  # the option turned on for a table loaded without it
        if name not in existing:
            warehouse.execute(add_column_sql(target, name, sql_type, None))
    added = [c for c in columns if c.name not in existing]
    if any(c.name == KEY_IDENTITY for c in added) and warehouse.row_count(
        request.target_schema, request.target_table
    ):
        raise LoadError(loaded_without_identity(request))
    for col in added:
        warehouse.execute(add_column_sql(target, col.name, warehouse.column_type(col), None))
    warehouse.commit()
    return [c.name for c in added]
