"""A partitioned table reconciled window by window: MySQL's rows in a window vs the warehouse's.

A window is what a partition's load replaces: `[lo, hi)` on the cursor (time) or the primary
key (id_range). Each side is restricted to it by the predicate its own path uses (MySQL: the
extraction's `window_bounds`; the warehouse: the load's replace predicate), then counted and,
where the source can, compared key by key and value by value (`reconcile/`, scoped); a window
of a table without a primary key is compared by its count and a multiset hash of its rows
(`reconcile/keyless.py`): nothing pairs its rows, but a row lost, doubled or changed shows.

A window is *loaded* when the ledger holds every file of one of its complete generations:
- the newest one: compared (`ok` / `mismatch`);
- an older one, a newer one extracted but not loaded yet: `behind` (not compared);
- none: `not_loaded` (never extracted, or extracted and not loaded): never a mismatch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.extract import TablePlan, window_bounds
from mysql_redshift_assets.extract.mysql_text import raw_text
from mysql_redshift_assets.extract.source import Source
from mysql_redshift_assets.extract.zones import is_utc
from mysql_redshift_assets.identifiers import quote_ident
from mysql_redshift_assets.load.base import Warehouse
from mysql_redshift_assets.naming import target_table
from mysql_redshift_assets.partitions import Window, id_window, time_key_window
from mysql_redshift_assets.reconcile.buckets import Shape
from mysql_redshift_assets.reconcile.canonical import canonical
from mysql_redshift_assets.reconcile.compare import Diff, MySQLSide, WarehouseSide, compare
from mysql_redshift_assets.reconcile.keyless import Rows, RowsDiff, compare_rows, rows_note
from mysql_redshift_assets.state.watermark import Generation, Watermark
from mysql_redshift_assets.sync.load import replace_window

WindowVerdict = Literal["ok", "mismatch", "behind", "not_loaded"]
# "error": the table could not be validated (`validate.table_error`); the others still are.
TableVerdict = Literal["ok", "behind", "mismatch", "empty", "error"]


@dataclass
class WindowCounts:
    partition: str
    verdict: WindowVerdict
    lo: str
    hi: str
    source_rows: int = 0
    parquet_rows: int = 0
    warehouse_rows: int = 0
    files_pending: int = 0
    note: str = ""
    values_compared: bool = False
    missing: int = 0
    extra: int = 0
    changed: int = 0
    duplicated: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)
    # Its newest generation was read while rows could still commit into it: the table's next
    # sync reads the window again (`Generation.provisional`).
    provisional: bool = False


def window_of(table: TableConfig, key: str) -> Window:
    """The window of `table`'s partition `key`; a key of another shape is refused, named."""
    try:
        if table.mode == "id_range":
            return id_window(key)
        assert table.partitions is not None
        spec = table.partitions
        return time_key_window(key, spec.granularity, spec.timezone)
    except ValueError as exc:
        raise ConfigError(table.error("partitions", str(exc))) from None


def known_partitions(watermark: Watermark | None) -> list[str]:
    """Every partition the watermark has a generation of, in the order first extracted."""
    keys = [g.partition for g in (watermark.generations if watermark else []) if g.partition]
    return list(dict.fromkeys(keys))


@dataclass(frozen=True)
class WindowState:
    """What the ledger holds of one partition's generations."""

    loaded: Generation | None  # the newest complete generation whose files are all loaded
    newest: Generation | None  # the newest complete generation
    files_pending: int  # files of the newest generation the ledger lacks


def window_state(watermark: Watermark | None, loaded_keys: set[str], key: str) -> WindowState:
    if watermark is None:
        return WindowState(None, None, 0)
    complete = [g for g in watermark.generations if g.partition == key and g.complete]

    def files(g: Generation) -> list[str]:
        return [f.key for f in watermark.files_of(g.id)]

    loaded = next((g for g in reversed(complete) if set(files(g)) <= loaded_keys), None)
    newest = complete[-1] if complete else None
    pending = len(set(files(newest)) - loaded_keys) if newest else 0
    return WindowState(loaded, newest, pending)


def validate_window(
    source: Source,
    warehouse: Warehouse,
    table: TableConfig,
    plan: TablePlan,
    watermark: Watermark | None,
    loaded_keys: set[str],
    key: str,
) -> WindowCounts:
    window = window_of(table, key)
    counts = WindowCounts(key, "not_loaded", window.lo, window.hi)
    state = window_state(watermark, loaded_keys, key)
    counts.files_pending = state.files_pending
    counts.provisional = state.newest is not None and state.newest.provisional
    if watermark is None or state.loaded is None:
        counts.note = (
            "never extracted"
            if state.newest is None
            else f"extracted, {state.files_pending} file(s) not loaded yet"
        )
        return counts
    counts.parquet_rows = sum(f.rows for f in watermark.files_of(state.loaded.id))
    mysql_scope = _mysql_window(source, plan, window)
    warehouse_scope = _warehouse_window(warehouse, window, watermark)
    counts.source_rows = _count(source, plan.table_ref, mysql_scope)
    counts.warehouse_rows = _warehouse_count(warehouse, table, watermark, warehouse_scope)
    if state.loaded is not state.newest:
        counts.verdict = "behind"
        counts.note = f"a newer generation waits: {state.files_pending} file(s) not loaded yet"
        return counts
    if values_comparable(source, plan) and not plan.primary_key:
        _take_rows(
            counts,
            keyless_diff(source, warehouse, table, watermark, plan, mysql_scope, warehouse_scope),
        )
    elif values_comparable(source, plan):
        diff = _reconcile(source, warehouse, table, watermark, plan, mysql_scope, warehouse_scope)
        _take_diff(counts, diff)
    elif counts.source_rows == counts.warehouse_rows:
        counts.verdict, counts.note = "ok", "counts match (this source compares counts only)"
    else:
        counts.verdict = "mismatch"
        counts.note = f"warehouse has {counts.warehouse_rows - counts.source_rows:+,} rows"
    if counts.provisional and state.newest is not None:
        counts.note += (
            f"; provisional: read while rows could still commit into it (safe bound "
            f"{state.newest.safe_bound or 'unknown'}), the next sync reads it again"
        )
    return counts


Scope = tuple[str, list[Any]]


def _mysql_window(source: Source, plan: TablePlan, window: Window) -> Scope:
    """The extraction's own window predicate (not its late-commit bound: rows newer than it
    are missing until the window's next run, and reported so)."""
    bounds, _late = window_bounds(source, plan, window)
    ph = source.placeholder
    return " AND ".join(f"{b.column} {b.op} {ph}" for b in bounds), [b.value for b in bounds]


def _warehouse_window(warehouse: Warehouse, window: Window, watermark: Watermark) -> Scope:
    """The predicate the load deletes the window by (`sync/load.replace_window`)."""
    replaced = replace_window(window, watermark)
    if replaced is None:
        raise ValueError(f"partition {window.key}: the watermark records no cursor column")
    column, lo, hi = replaced
    col, ph = quote_ident(column), warehouse.ph
    return f"{col} >= {ph} AND {col} < {ph}", [lo, hi]


def _count(source: Source, table_ref: str, scope: Scope) -> int:
    row = source.query_one(f"SELECT COUNT(*) FROM {table_ref} WHERE {scope[0]}", scope[1])
    return int(raw_text(row[0])) if row else 0


def _warehouse_count(
    warehouse: Warehouse, table: TableConfig, watermark: Watermark, scope: Scope
) -> int:
    schema, name = target_table(table, watermark)
    if not warehouse.table_columns(schema, name):
        return 0
    sql = f"SELECT COUNT(*) FROM {warehouse.ref(schema, name)} WHERE {scope[0]}"
    count = int(warehouse.fetchall(sql, scope[1])[0][0])
    warehouse.commit()
    return count


def values_comparable(source: Source, plan: TablePlan) -> bool:
    """Whether MySQL and the warehouse can be compared value by value: the source computes the
    hashes, and every key column has a canonical text (a keyless table: compared as a multiset
    of rows, `reconcile/keyless.py`)."""
    return source.reconciles and all(
        canonical(plan.column(k)).kind is not None for k in plan.primary_key
    )


def compared_columns(
    warehouse: Warehouse, table: TableConfig, watermark: Watermark | None, plan: TablePlan
) -> list[Any]:
    """The columns both sides can compare: loaded already (else: drift), and not a DATETIME
    read in a zone (UTC in the warehouse, a wall clock in MySQL, no portable conversion in SQL)."""
    present = set(warehouse.table_columns(*target_table(table, watermark)))
    return [c for c in plan.columns if c.name in present and not _zoned(plan, c)]


def keyless_diff(
    source: Source,
    warehouse: Warehouse,
    table: TableConfig,
    watermark: Watermark | None,
    plan: TablePlan,
    mysql_scope: Scope | None = None,
    warehouse_scope: Scope | None = None,
) -> RowsDiff:
    """A table without a primary key (in a scope): its rows as multisets on both sides."""
    columns = compared_columns(warehouse, table, watermark, plan)
    mine = Rows.of("mysql", plan.table_ref, source.placeholder, columns)
    ref = warehouse.ref(*target_table(table, watermark))
    theirs = Rows.of(warehouse.dialect, ref, warehouse.ph, columns)
    if mysql_scope is not None and warehouse_scope is not None:
        mine, theirs = mine.within(*mysql_scope), theirs.within(*warehouse_scope)
    diff = compare_rows(source, mine, warehouse, theirs)
    warehouse.commit()
    return diff


def _reconcile(
    source: Source,
    warehouse: Warehouse,
    table: TableConfig,
    watermark: Watermark,
    plan: TablePlan,
    mysql_scope: Scope,
    warehouse_scope: Scope,
) -> Diff:
    schema, name = target_table(table, watermark)
    columns = compared_columns(warehouse, table, watermark, plan)
    key = [plan.column(k) for k in plan.primary_key]
    mine = Shape.of("mysql", plan.table_ref, source.placeholder, key, columns)
    theirs = Shape.of(warehouse.dialect, warehouse.ref(schema, name), warehouse.ph, key, columns)
    diff = compare(
        MySQLSide(source, mine.within(*mysql_scope)),
        WarehouseSide(warehouse, theirs.within(*warehouse_scope)),
    )
    warehouse.commit()
    return diff


def _zoned(plan: TablePlan, column: Any) -> bool:
    """A DATETIME read in a named zone: UTC in the warehouse, a wall clock in MySQL (as
    `validate` does for whole tables, not compared)."""
    return column.source.data_type == "datetime" and not is_utc(plan.zone)


def _take_diff(counts: WindowCounts, diff: Diff) -> None:
    counts.values_compared = True
    counts.missing, counts.extra, counts.changed = diff.missing, len(diff.extra), diff.changed
    counts.duplicated, counts.examples = diff.duplicates, diff.examples
    problems = [
        f"{n:,} {what}"
        for n, what in (
            (diff.missing, "missing"),
            (diff.changed, "with other values"),
            (diff.duplicates, "duplicated"),
            (len(diff.extra), "not in MySQL (deleted there, or added here)"),
        )
        if n
    ]
    if not problems:
        counts.verdict, counts.note = "ok", "every key and value matches"
        return
    shown = "; ".join(f"{k}: {', '.join(v)}" for k, v in diff.examples.items())
    counts.verdict = "mismatch"
    counts.note = "rows " + ", ".join(problems) + (f" (keys {shown})" if shown else "")


def _take_rows(counts: WindowCounts, diff: RowsDiff) -> None:
    counts.values_compared = diff.values_compared
    counts.missing, counts.extra, counts.examples = diff.missing, diff.extra, diff.examples
    counts.verdict = "ok" if diff.same else "mismatch"
    counts.note = rows_note(diff, "the window's rows")


def summarise(windows: Sequence[WindowCounts]) -> tuple[TableVerdict, str]:
    """The table's verdict over its windows, and a one-line note naming the windows that differ."""
    by: dict[str, list[str]] = {}
    for w in windows:
        by.setdefault(w.verdict, []).append(w.partition)
    verdict: TableVerdict = "empty"
    if "mismatch" in by:
        verdict = "mismatch"
    elif "behind" in by:
        verdict = "behind"
    elif "ok" in by:
        verdict = "ok"
    order = ("ok", "mismatch", "behind", "not_loaded")
    parts = [f"{len(by[v])} {v.replace('_', ' ')}" for v in order if v in by]
    note = (
        f"{len(windows)} window(s): " + ", ".join(parts) if windows else "no window extracted yet"
    )
    bad = [w for w in windows if w.verdict == "mismatch"]
    if bad:
        note += "; " + "; ".join(f"{w.partition}: {w.note}" for w in bad[:5])
    provisional = [w.partition for w in windows if w.provisional]
    if provisional:
        note += f"; provisional (read again by the next sync): {', '.join(provisional[:5])}"
    return verdict, note
