"""One scope of a table reconciled: MySQL's rows in a scope vs the warehouse's rows in its own.

The one comparison path. `validate` reconciles a whole table as one scope, a partitioned table
window by window (`maintenance/validate.py`, `maintenance/windows.py`; the
`row_count_reconciled` check is `validate`'s verdict), and the delete pass reconciles the keys of
a whole table (`sync/deletes.py`), each through `reconcile_scope`:

- a table with a primary key: buckets of key and row hashes, descending into the differing
  buckets down to the keys (`compare.py`);
- a table without one: its rows as multisets (`keyless.py`).

The values compared are those of the columns the warehouse table has (a column it lacks is
drift, `maintenance/drift.py`) that have a canonical text every dialect spells alike
(`canonical.py`), except a DATETIME read in a named zone: UTC in the warehouse, a wall clock in
MySQL, no portable conversion in SQL. The others are named (`columns_not_compared`).

`Counts` is what a reconciled scope reports (rows on each side, what differs, a verdict and a
note); a table's and a window's records add where they stand (`TableCounts`, `WindowCounts`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from mysql_redshift_assets.extract.plan import TablePlan
from mysql_redshift_assets.extract.schema_types import PlannedColumn
from mysql_redshift_assets.extract.scope import Scope
from mysql_redshift_assets.extract.source import Source
from mysql_redshift_assets.extract.zones import is_utc
from mysql_redshift_assets.load.base import Warehouse
from mysql_redshift_assets.reconcile.buckets import Shape
from mysql_redshift_assets.reconcile.canonical import canonical
from mysql_redshift_assets.reconcile.compare import Diff, MySQLSide, WarehouseSide, compare
from mysql_redshift_assets.reconcile.keyless import Rows, compare_rows, rows_note

# A window's: "not_loaded": no complete generation of it is loaded (never a mismatch).
WindowVerdict = Literal["ok", "mismatch", "behind", "not_loaded"]
# A table's: "error": it could not be reconciled (`validate.table_error`); the others still are.
TableVerdict = Literal["ok", "behind", "mismatch", "empty", "error"]
Verdict = WindowVerdict | TableVerdict


@dataclass(kw_only=True)
class Counts:
    """A reconciled scope: MySQL's rows in it (`source_rows`), the Parquet rows extracted for it,
    the warehouse's, what differs, and the verdict with a one-line note."""

    verdict: Verdict
    note: str = ""
    source_rows: int = 0
    parquet_rows: int = 0
    warehouse_rows: int = 0
    files_pending: int = 0
    values_compared: bool = False
    missing: int = 0
    extra: int = 0
    changed: int = 0
    duplicated: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)

    def take(self, diff: Diff, *, what: str = "the rows", deletes_kept: bool = False) -> None:
        """The comparison's figures, verdict and note (`source_rows` and `warehouse_rows` set
        first). `what` names the scope's rows in a keyless note ("the window's rows");
        `deletes_kept`: keys deleted in MySQL stay in the warehouse by choice (`deletes:
        ignore`), not a mismatch."""
        self.values_compared = diff.values_compared
        self.missing, self.extra, self.changed = diff.missing, diff.extra, diff.changed
        self.duplicated, self.examples = diff.duplicates, diff.examples
        if not diff.keyed:
            self.verdict = "ok" if diff.same else "mismatch"
            self.note = rows_note(diff, what)
            return
        self.verdict, self.note = _keyed_verdict(
            diff, self.warehouse_rows - self.source_rows, deletes_kept
        )


def _keyed_verdict(diff: Diff, count_gap: int, deletes_kept: bool) -> tuple[Verdict, str]:
    problems = [
        f"{n:,} {what}"
        for n, what in (
            (diff.missing, "missing"),
            (diff.changed, "with other values (stale or changed)"),
            (diff.duplicates, "duplicated"),
            (0 if deletes_kept else diff.extra, "not in MySQL (deleted there, or added here)"),
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
        note += f"; {diff.extra:,} key(s) deleted in MySQL kept (deletes: ignore)"
    if diff.pending:
        note += f"; {diff.pending:,} row(s) changed past the watermark, for the next run"
    return "ok", note


def values_comparable(source: Source, plan: TablePlan) -> bool:
    """Whether MySQL and the warehouse can be compared value by value: the source computes the
    hashes, and every key column has a canonical text (a keyless table: compared as a multiset
    of rows, `keyless.py`)."""
    return source.has_catalog and all(
        canonical(plan.column(k)).kind is not None for k in plan.primary_key
    )


def zoned(plan: TablePlan, column: PlannedColumn) -> bool:
    """A DATETIME read in a named zone: UTC in the warehouse, a wall clock in MySQL."""
    return column.source.data_type == "datetime" and not is_utc(plan.zone)


def compared_columns(warehouse: Warehouse, plan: TablePlan, target: Scope) -> list[PlannedColumn]:
    """The columns both sides can compare: in the warehouse table already, and not `zoned`."""
    present = set(warehouse.table_columns(target.schema, target.table))
    return [c for c in plan.columns if c.name in present and not zoned(plan, c)]


def columns_not_compared(plan: TablePlan) -> dict[str, str]:
    """Each column whose values are not compared, and why."""
    return {c.source_name: c.excluded or "" for c in map(canonical, plan.columns) if c.excluded} | {
        c.source.name: f"DATETIME read in zone {plan.zone} (UTC in the warehouse)"
        for c in plan.columns
        if zoned(plan, c)
    }


def warehouse_count(warehouse: Warehouse, scope: Scope) -> int:
    """The warehouse's `COUNT(*)` of the scope's rows (0 while the table does not exist)."""
    if not warehouse.table_columns(scope.schema, scope.table):
        return 0
    ref = warehouse.ref(scope.schema, scope.table)
    rows = warehouse.fetchall(f"SELECT COUNT(*) FROM {ref} WHERE {scope.predicate}", scope.params)
    warehouse.commit()
    return int(rows[0][0])


def reconcile_scope(
    source: Source,
    warehouse: Warehouse,
    plan: TablePlan,
    mysql_scope: Scope,
    warehouse_scope: Scope,
    *,
    pending: Scope | None = None,
    deletes_only: bool = False,
) -> Diff:
    """MySQL's rows in `mysql_scope` vs the warehouse's in `warehouse_scope`. `pending`: MySQL's
    rows past the watermark (not settled), which the next run carries, not wrong. `deletes_only`:
    the keys alone, and only where the warehouse has rows (the delete pass's question)."""
    columns = [] if deletes_only else compared_columns(warehouse, plan, warehouse_scope)
    mine_ref = source.table_ref(mysql_scope.schema, mysql_scope.table)
    theirs_ref = warehouse.ref(warehouse_scope.schema, warehouse_scope.table)
    if plan.primary_key:
        key = [plan.column(k) for k in plan.primary_key]
        mine = Shape.of("mysql", mine_ref, source.placeholder, key, columns)
        theirs = Shape.of(warehouse.dialect, theirs_ref, warehouse.ph, key, columns)
        diff = compare(
            MySQLSide(source, mine.within(mysql_scope.where, mysql_scope.params)),
            WarehouseSide(warehouse, theirs.within(warehouse_scope.where, warehouse_scope.params)),
            pending=pending,
            deletes_only=deletes_only,
        )
    else:
        rows = Rows.of("mysql", mine_ref, source.placeholder, columns)
        their_rows = Rows.of(warehouse.dialect, theirs_ref, warehouse.ph, columns)
        diff = compare_rows(
            source,
            rows.within(mysql_scope.where, mysql_scope.params),
            warehouse,
            their_rows.within(warehouse_scope.where, warehouse_scope.params),
        )
    warehouse.commit()
    return diff
