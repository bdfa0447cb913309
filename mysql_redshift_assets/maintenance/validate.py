"""Source vs Parquet vs warehouse, per table: counts, and for incremental tables every key and
every row's values.

For incremental tables the source side counts the rows that should be in the warehouse by now:
those at or before the watermark, and those past it that the last complete run proves settled
(older than its bound minus its re-read window, `maintenance/settled.py`: a table whose sync is
stuck is a mismatch); the other rows past it are reported as `not_yet_extracted`.
When no file waits to be loaded, MySQL and the warehouse are then reconciled, the whole table
one scope (`reconcile/scope.py`), bucket by bucket on a hash of each key and each row's values:
a row missing, extra, duplicated, or changed on either side (updated in MySQL behind the
cursor's back, edited in the warehouse) is a mismatch, named by key. Rows not yet extracted are pending, not wrong. Tables without a
primary key are full or partitioned: counted (full), or compared window by window as a
multiset of rows (`maintenance/windows.py`, `reconcile/keyless.py`); or `capture: binlog`:
compared whole as a multiset. A `capture: binlog` table has no cursor to tell pending rows by:
its whole table is compared, exact while the server's binlog is at the table's position
(`binlog_verdict`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.extract import TablePlan, plan_table
from mysql_redshift_assets.extract.scope import Scope, count_in, source_scope
from mysql_redshift_assets.extract.source import Source
from mysql_redshift_assets.load.base import Warehouse
from mysql_redshift_assets.load.versions import live_where, retired_where
from mysql_redshift_assets.maintenance.settled import Pending, not_yet_extracted, settled_note
from mysql_redshift_assets.maintenance.windows import (
    WindowCounts,
    known_partitions,
    reconcile_window,
    summarise,
)
from mysql_redshift_assets.naming import target_table
from mysql_redshift_assets.reconcile.scope import (
    Counts,
    TableVerdict,
    columns_not_compared,
    reconcile_scope,
    values_comparable,
    warehouse_count,
)
from mysql_redshift_assets.state.watermark import Watermark, WatermarkStore
from mysql_redshift_assets.sync.load import candidate_files
from mysql_redshift_assets.sync.probe import binlog_past_position


@dataclass(kw_only=True)
class TableCounts(Counts):
    """A table reconciled (`Counts`; a partitioned one: the sums of its windows)."""

    table: str
    verdict: TableVerdict
    not_yet_extracted: int = 0
    columns_not_compared: dict[str, str] = field(default_factory=dict)
    windows: list[WindowCounts] = field(default_factory=list)  # partitioned tables, per window
    # Soft deletes: {"rows_soft_deleted": n}; history: {"versions_closed": n} (not compared).
    rows_kept: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def reconcile_table(
    source: Source,
    watermarks: WatermarkStore,
    warehouse: Warehouse,
    table: TableConfig,
    partitions: Sequence[str] | None = None,
) -> TableCounts:
    """One table; a partitioned one window by window: `partitions` (keys), or every window
    the watermark has extracted (`maintenance/windows.py`)."""
    if table.partitioned:
        return reconcile_windows(source, watermarks, warehouse, table, partitions)
    watermark = watermarks.load(table)
    plan = plan_table(source, table, watermark.columns if watermark else None)
    # Soft deletes, history: MySQL's rows against the warehouse's live ones (load/versions.py).
    mysql, target = source_scope(plan), Scope(*target_table(table, watermark), live_where(table))
    total = count_in(source, mysql)
    warehouse_rows = warehouse_count(warehouse, target)
    retired = retired_where(table)
    if watermark is None:
        return TableCounts(
            table=table.qualified,
            verdict="empty" if warehouse_rows == 0 else "mismatch",
            note="nothing extracted yet",
            warehouse_rows=warehouse_rows,
            not_yet_extracted=total,
        )
    counts, later = _counted(source, warehouse, table, plan, watermark, total)
    counts.warehouse_rows = warehouse_rows
    if retired:  # the rows kept beside the live ones: soft-deleted, or closed versions
        counts.rows_kept = {
            "versions_closed" if table.history else "rows_soft_deleted": warehouse_count(
                warehouse, Scope(*target_table(table, watermark), retired)
            )
        }
    if counts.files_pending:
        counts.verdict = "behind"
        counts.note = f"{counts.files_pending} file(s) extracted but not loaded yet; " + counts.note
    elif (
        table.mode == "incremental"
        # a keyless table is incremental only under `capture: binlog` (a multiset of rows)
        and (plan.primary_key or table.binlog)
        and warehouse_rows
        and values_comparable(source, plan)
    ):
        pending = None if table.binlog else later.where  # binlog: `binlog_verdict`
        diff = reconcile_scope(source, warehouse, plan, mysql, target, pending=pending)
        counts.take(diff, deletes_kept=table.deletes == "ignore")
        counts.columns_not_compared = columns_not_compared(plan)
    elif warehouse_rows == counts.source_rows:
        counts.verdict = "ok"
    else:
        counts.verdict = "mismatch"
        counts.note = (
            f"warehouse has {warehouse_rows - counts.source_rows:+,} rows against the source "
            "(a row deleted or added behind the tool's back, or a MySQL delete not carried)"
        )
    if table.binlog:
        binlog_verdict(source, table, watermark, counts)
    elif counts.verdict == "mismatch":
        counts.note += settled_note(plan, watermark, later.settled)
    for what, n in counts.rows_kept.items():  # beside the rows compared, not compared
        counts.note += f"; {n:,} {_KEPT[what]} kept"
    return counts


_KEPT = {"rows_soft_deleted": "soft-deleted row(s)", "versions_closed": "closed version(s)"}


def _counted(
    source: Source,
    warehouse: Warehouse,
    table: TableConfig,
    plan: TablePlan,
    watermark: Watermark,
    total: int,
) -> tuple[TableCounts, Pending]:
    """The source's rows that should be loaded by now, the Parquet rows, the files the ledger
    lacks; and (incremental) the rows not yet extracted."""
    loaded = warehouse.loaded_files(table, watermark)
    files = candidate_files(table, watermark)
    parquet_rows = sum(f.rows for f in files)
    later = Pending(None, source_scope(plan), 0)  # incremental: the rows not yet extracted
    if table.mode == "full":
        source_rows = parquet_rows
        note = f"source has {total:,} rows now; the newest generation holds {parquet_rows:,}"
    elif table.binlog:  # no cursor: a position in the binlog, not a row predicate, says what
        # is read; every row of MySQL now is expected (a change since the last run differs)
        later = Pending(None, source_scope(plan).within("1 = 0"), 0)
        source_rows, note = total, "binlog capture: MySQL now against the last run's position"
    else:
        later = not_yet_extracted(source, plan, watermark, total)
        source_rows = total - later.rows
        note = "Parquet rows include every extracted version of an updated row"
    counts = TableCounts(
        table=table.qualified,
        verdict="ok",
        note=note,
        source_rows=source_rows,
        parquet_rows=parquet_rows,
        files_pending=len([f for f in files if f.key not in loaded]),
        not_yet_extracted=later.rows,
    )
    return counts, later


def binlog_verdict(
    source: Source, table: TableConfig, watermark: Watermark, counts: TableCounts
) -> None:
    """A `capture: binlog` table has no cursor: MySQL's rows changed after its binlog position
    cannot be told from the others without reading the binlog. While the server's binlog is at
    the table's position the comparison is exact (a difference is a mismatch); past it, a
    difference may be a change the next run carries: `behind`, naming both positions."""
    try:
        probe = binlog_past_position(source, table, watermark)
    except Exception as exc:  # noqa: BLE001 - the comparison stands; the note says why
        counts.note += f"; the server's binlog position is unknown ({type(exc).__name__}: {exc})"
        return
    counts.note += f"; {probe}"
    if counts.verdict == "mismatch" and probe.new and probe.table_position is not None:
        counts.verdict = "behind"
        counts.note = (
            f"{probe}: a difference may be a change after the table's position, for the next "
            "run (validate right after a run with the writes paused for an exact verdict); "
            + counts.note
        )


def table_error(table: TableConfig, exc: Exception) -> TableCounts:
    """A table that could not be validated: reported for itself, the other tables still are."""
    note = f"could not validate: {type(exc).__name__}: {exc}".strip()
    return TableCounts(table=table.qualified, verdict="error", note=note)


def reconcile_windows(
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
        reconcile_window(source, warehouse, table, plan, watermark, loaded, key) for key in keys
    ]
    verdict, note = summarise(windows)
    compared = [w for w in windows if w.verdict != "not_loaded"]
    counts = TableCounts(
        table=table.qualified,
        source_rows=sum(w.source_rows for w in compared),
        parquet_rows=sum(w.parquet_rows for w in compared),
        warehouse_rows=sum(w.warehouse_rows for w in compared),
        files_pending=sum(w.files_pending for w in windows),
        verdict=verdict,
        note=note,
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
    total = warehouse_count(warehouse, Scope(*target_table(table, watermark)))
    outside = total - sum(w.warehouse_rows for w in counts.windows)
    if outside:
        counts.verdict = "mismatch"
        counts.note = f"{outside:+,} warehouse row(s) in no extracted window; " + counts.note


@dataclass(frozen=True)
class CheckOutcome:
    """What the row-count asset check reports, without Dagster: `defs/checks.py` wraps it."""

    passed: bool
    error: bool  # a mismatch (ERROR severity); anything else that fails warns
    description: str
    metadata: dict[str, Any]


def row_count_check(counts: TableCounts) -> CheckOutcome:
    """The `row_count_reconciled` check's verdict on `reconcile_table`'s counts (of the run's
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
        **counts.rows_kept,
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
