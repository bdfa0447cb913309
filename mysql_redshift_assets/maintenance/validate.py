"""Source vs Parquet vs warehouse, per table: counts, and for incremental tables every key and
every row's values.

For incremental tables the source side counts the rows that should be in the warehouse by now:
those at or before the watermark, and those past it that the last complete run proves settled
(older than its bound minus its re-read window, `maintenance/settled.py`: a table whose sync is
stuck is a mismatch); the other rows past it are reported as `not_yet_extracted`.
When no file waits to be loaded, MySQL and the warehouse are then compared bucket by bucket on
a hash of each key and each row's values (`reconcile/`): a row missing, extra, duplicated, or
changed on either side (updated in MySQL behind the cursor's back, edited in the warehouse) is
a mismatch, named by key. Rows not yet extracted are pending, not wrong. Tables without a
primary key are full or partitioned: counted (full), or compared window by window as a
multiset of rows (`maintenance/windows.py`, `reconcile/keyless.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.extract import plan_table
from mysql_redshift_assets.extract.mysql_text import raw_text
from mysql_redshift_assets.extract.source import Source
from mysql_redshift_assets.extract.zones import is_utc
from mysql_redshift_assets.load.base import Warehouse
from mysql_redshift_assets.maintenance.settled import Pending, not_yet_extracted, settled_note
from mysql_redshift_assets.maintenance.windows import (
    TableVerdict,
    WindowCounts,
    compared_columns,
    known_partitions,
    summarise,
    validate_window,
    values_comparable,
)
from mysql_redshift_assets.naming import target_table
from mysql_redshift_assets.reconcile.buckets import Shape
from mysql_redshift_assets.reconcile.canonical import canonical
from mysql_redshift_assets.reconcile.compare import Diff, MySQLSide, WarehouseSide, compare
from mysql_redshift_assets.state.watermark import Watermark, WatermarkStore
from mysql_redshift_assets.sync.load import candidate_files

Verdict = TableVerdict


@dataclass
class TableCounts:
    table: str
    source_rows: int
    parquet_rows: int
    warehouse_rows: int
    files_pending: int
    not_yet_extracted: int
    verdict: Verdict
    note: str
    values_compared: bool = False
    missing: int = 0
    extra: int = 0
    changed: int = 0
    duplicated: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)
    columns_not_compared: dict[str, str] = field(default_factory=dict)
    windows: list[WindowCounts] = field(default_factory=list)  # partitioned tables, per window

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _count(source: Source, sql: str, params: list[Any]) -> int:
    row = source.query_one(sql, params)
    value = row[0] if row else 0
    return int(raw_text(value))


def validate_table(
    source: Source,
    watermarks: WatermarkStore,
    warehouse: Warehouse,
    table: TableConfig,
    partitions: Sequence[str] | None = None,
) -> TableCounts:
    """One table; a partitioned one window by window: `partitions` (keys), or every window
    the watermark has extracted (`maintenance/windows.py`)."""
    if table.partitioned:
        return validate_windows(source, watermarks, warehouse, table, partitions)
    watermark = watermarks.load(table)
    plan = plan_table(source, table, watermark.columns if watermark else None)
    total = _count(source, f"SELECT COUNT(*) FROM {plan.table_ref}", [])
    schema, name = target_table(table, watermark)
    warehouse_rows = warehouse.row_count(schema, name)
    if watermark is None:
        verdict: Verdict = "empty" if warehouse_rows == 0 else "mismatch"
        return TableCounts(
            table.qualified, 0, 0, warehouse_rows, 0, total, verdict, "nothing extracted yet"
        )
    loaded = warehouse.loaded_files(table, watermark)
    files = candidate_files(table, watermark)
    pending = [f for f in files if f.key not in loaded]
    parquet_rows = sum(f.rows for f in files)
    later = Pending(None, ("1 = 1", []), 0)  # incremental: the rows not yet extracted
    if table.mode == "full":
        source_rows = parquet_rows
        note = f"source has {total:,} rows now; the newest generation holds {parquet_rows:,}"
    else:
        later = not_yet_extracted(source, plan, watermark, total)
        source_rows = total - later.rows
        note = "Parquet rows include every extracted version of an updated row"
    diff = None
    if pending:
        verdict = "behind"
        note = f"{len(pending)} file(s) extracted but not loaded yet; " + note
    elif (
        table.mode == "incremental"
        and plan.primary_key  # a keyless table is never incremental (`plan_table` refuses)
        and warehouse_rows
        and values_comparable(source, plan)
    ):
        diff = _reconcile(source, warehouse, table, watermark, plan, later.where)
        verdict, note = _verdict(table, diff, warehouse_rows - source_rows)
    elif warehouse_rows == source_rows:
        verdict = "ok"
    else:
        verdict = "mismatch"
        note = (
            f"warehouse has {warehouse_rows - source_rows:+,} rows against the source "
            "(a row deleted or added behind the tool's back, or a MySQL delete not carried)"
        )
    if verdict == "mismatch":
        note += settled_note(plan, watermark, later.settled)
    counts = TableCounts(
        table.qualified,
        source_rows,
        parquet_rows,
        warehouse_rows,
        len(pending),
        later.rows,
        verdict,
        note,
    )
    if diff is not None:
        _take_diff(counts, diff, plan)
    return counts


def _take_diff(counts: TableCounts, diff: Diff, plan: Any) -> None:
    counts.values_compared = True
    counts.missing, counts.extra, counts.changed = diff.missing, len(diff.extra), diff.changed
    counts.duplicated, counts.examples = diff.duplicates, diff.examples
    counts.columns_not_compared = {
        c.source_name: c.excluded or "" for c in map(canonical, plan.columns) if c.excluded
    } | {
        c.source.name: f"DATETIME read in zone {plan.zone} (UTC in the warehouse)"
        for c in plan.columns
        if _zoned(plan, c)
    }


def table_error(table: TableConfig, exc: Exception) -> TableCounts:
    """A table that could not be validated: reported for itself, the other tables still are."""
    note = f"could not validate: {type(exc).__name__}: {exc}".strip()
    return TableCounts(table.qualified, 0, 0, 0, 0, 0, "error", note)


def validate_windows(
    source: Source,
    watermarks: WatermarkStore,
    warehouse: Warehouse,
    table: TableConfig,
    partitions: Sequence[str] | None = None,
) -> TableCounts:
    """Each window reconciled on its own; the table's verdict and counts summarise them.
    Validating every window also counts warehouse rows outside all of them (a mismatch)."""
    watermark = watermarks.load(table)
    plan = plan_table(source, table, watermark.columns if watermark else None)
    keys = known_partitions(watermark) if partitions is None else list(partitions)
    loaded = warehouse.loaded_files(table, watermark)
    windows = [
        validate_window(source, warehouse, table, plan, watermark, loaded, key) for key in keys
    ]
    verdict, note = summarise(windows)
    compared = [w for w in windows if w.verdict != "not_loaded"]
    counts = TableCounts(
        table.qualified,
        sum(w.source_rows for w in compared),
        sum(w.parquet_rows for w in compared),
        sum(w.warehouse_rows for w in compared),
        sum(w.files_pending for w in windows),
        0,
        verdict,
        note,
        values_compared=any(w.values_compared for w in windows),
        missing=sum(w.missing for w in windows),
        extra=sum(w.extra for w in windows),
        changed=sum(w.changed for w in windows),
        duplicated=sum(w.duplicated for w in windows),
        windows=windows,
    )
    if partitions is None:
        _count_outside(counts, warehouse, table, watermark)
    return counts


def _count_outside(
    counts: TableCounts, warehouse: Warehouse, table: TableConfig, watermark: Watermark | None
) -> None:
    """Warehouse rows in no window validated: none should be (each window replaces its own)."""
    total = warehouse.row_count(*target_table(table, watermark))
    warehouse.commit()
    outside = total - sum(w.warehouse_rows for w in counts.windows)
    if outside:
        counts.verdict = "mismatch"
        counts.note = f"{outside:+,} warehouse row(s) in no extracted window; " + counts.note


def _zoned(plan: Any, column: Any) -> bool:
    return column.source.data_type == "datetime" and not is_utc(plan.zone)


def _reconcile(
    source: Source,
    warehouse: Warehouse,
    table: TableConfig,
    watermark: Watermark,
    plan: Any,
    after: tuple[str, list[Any]],
) -> Diff:
    """Keys and values of MySQL vs the warehouse; MySQL rows where `after` holds (past the
    position, not settled) are pending."""
    schema, name = target_table(table, watermark)
    columns = compared_columns(warehouse, table, watermark, plan)
    key = [plan.column(k) for k in plan.primary_key]
    mysql = MySQLSide(source, Shape.of("mysql", plan.table_ref, source.placeholder, key, columns))
    ref = warehouse.ref(schema, name)
    theirs = Shape.of(warehouse.dialect, ref, warehouse.ph, key, columns)
    diff = compare(mysql, WarehouseSide(warehouse, theirs), after=after)
    warehouse.commit()
    return diff


def _verdict(table: TableConfig, diff: Diff, count_gap: int) -> tuple[Verdict, str]:
    kept = table.deletes != "propagate"  # `deletes: ignore`: keys deleted in MySQL stay, by choice
    problems = [
        f"{n:,} {what}"
        for n, what in (
            (diff.missing, "missing"),
            (diff.changed, "with other values (stale or changed)"),
            (diff.duplicates, "duplicated"),
            (0 if kept else len(diff.extra), "not in MySQL (deleted there, or added here)"),
        )
        if n
    ]
    shown = "; ".join(f"{k}: {', '.join(v)}" for k, v in diff.examples.items() if k != "pending")
    if problems:
        note = (
            f"warehouse has {count_gap:+,} rows against the source; rows "
            + ", ".join(problems)
            + (f" (keys {shown})" if shown else "")
        )
        return "mismatch", note
    note = "every key and value matches"
    if diff.extra:
        note += f"; {len(diff.extra):,} key(s) deleted in MySQL kept (deletes: ignore)"
    if diff.pending:
        note += f"; {diff.pending:,} row(s) changed past the watermark, for the next run"
    return "ok", note


@dataclass(frozen=True)
class CheckOutcome:
    """What the row-count asset check reports, without Dagster: `defs/checks.py` wraps it."""

    passed: bool
    error: bool  # a mismatch (ERROR severity); anything else that fails warns
    description: str
    metadata: dict[str, Any]


def row_count_check(counts: TableCounts) -> CheckOutcome:
    """The `row_count_reconciled` check's verdict on `validate_table`'s counts (of the run's
    windows for a partitioned asset)."""
    metadata: dict[str, Any] = {
        "source_rows": counts.source_rows,
        "parquet_rows": counts.parquet_rows,
        "warehouse_rows": counts.warehouse_rows,
        "files_pending": counts.files_pending,
        "not_yet_extracted": counts.not_yet_extracted,
        "values_compared": counts.values_compared,
        "rows_missing": counts.missing,
        "rows_extra": counts.extra,
        "rows_changed": counts.changed,
        "columns_not_compared": counts.columns_not_compared,
    }
    if counts.windows:
        metadata["windows"] = [
            {k: getattr(w, k) for k in ("partition", "verdict", "source_rows", "warehouse_rows")}
            | {"note": w.note}
            for w in counts.windows
        ]
    return CheckOutcome(
        passed=counts.verdict in ("ok", "empty", "behind"),
        error=counts.verdict in ("mismatch", "error"),
        description=f"{counts.verdict}: {counts.note}",
        metadata=metadata,
    )
