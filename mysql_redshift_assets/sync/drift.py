"""Schema drift: MySQL now, the files in the store and the warehouse table, compared (before
every extraction: the first step of a table's sync, `sync/table.py`).

`schema_drift` says what changed in MySQL since the newest file was written (added, removed,
changed columns). `check_schema` asks the question that matters for the next load: given the
files the ledger lacks and MySQL's columns now (what the next extraction will write), which
changes would the loader apply (load/alter.py) and which would it refuse? A refusal is what the
blocking `schema_drift` asset check stops the warehouse asset on, with the command that
resolves it. A full table never refuses: its load swaps a new shape in whole (load/swap.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.extract import plan_table
from mysql_redshift_assets.extract.plan import plan_defaults
from mysql_redshift_assets.extract.source import Source
from mysql_redshift_assets.load.alter import plan_groups, resolve_fix
from mysql_redshift_assets.load.base import Warehouse
from mysql_redshift_assets.load.evolve import (
    Change,
    refusal_message,
    warehouse_columns,
)
from mysql_redshift_assets.load.files import group_columns
from mysql_redshift_assets.load.mysql_defaults import column_defaults
from mysql_redshift_assets.naming import ledger_entry_name, target_table
from mysql_redshift_assets.state.watermark import WatermarkStore
from mysql_redshift_assets.store.objectstore import ObjectStore
from mysql_redshift_assets.store.parquet import FileColumn, read_footer
from mysql_redshift_assets.targets import planned_types


@dataclass
class Drift:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    @property
    def breaking(self) -> bool:
        return bool(self.removed or self.changed)

    def describe(self) -> str:
        parts = [f"{label}: {', '.join(items)}" for label, items in (
            ("added", self.added), ("removed", self.removed), ("changed", self.changed)) if items]  # fmt: skip
        return "; ".join(parts) or "no change"


def schema_drift(before: list[FileColumn], now: list[FileColumn]) -> Drift:
    old = {c.source_name: c for c in before}
    new = {c.source_name: c for c in now}
    drift = Drift()
    drift.added = [n for n in new if n not in old]
    drift.removed = [n for n in old if n not in new]
    for name in new.keys() & old.keys():
        a, b = old[name], new[name]
        if (a.column_type, planned_types(a)) != (b.column_type, planned_types(b)):
            drift.changed.append(f"{name} {a.column_type} -> {b.column_type}")
    drift.changed.sort()
    return drift


@dataclass
class SchemaCheck:
    """MySQL vs the newest file (`drift`), and what the loader would do to the warehouse."""

    drift: Drift
    applied: list[Change]
    refused: list[Change]
    message: str

    @property
    def passed(self) -> bool:
        return not self.refused

    def describe(self) -> str:
        if self.refused:
            return self.message
        applied = ", ".join(f"{c.column} ({c.action})" for c in self.applied)
        return f"{self.drift.describe()}; the load applies: {applied or 'nothing'}"


def check_schema(
    source: Source, store: ObjectStore, warehouse: Warehouse, table: TableConfig
) -> SchemaCheck:
    """Would the next load of `table` refuse a schema change? (Reads only.)"""
    watermark = WatermarkStore(store).load(table)
    plan = plan_table(source, table, watermark.columns if watermark else None)
    now = [FileColumn.from_planned(c) for c in plan.columns]
    files = watermark.files_of(None) if watermark and table.mode == "incremental" else []
    drift = Drift()
    if watermark and watermark.files:
        fs, path = store.arrow_location(watermark.files[-1].key)
        drift = schema_drift(read_footer(path, fs).columns, now)
    schema, name = target_table(table, watermark)
    try:
        existing = warehouse_columns(warehouse, schema, name)
        ledger_name = ledger_entry_name(table, watermark)
        loaded = warehouse.loaded_keys(schema, ledger_name) if existing else set()
    finally:
        warehouse.commit()
    if not existing:
        return SchemaCheck(drift, [], [], "no warehouse table yet: the first load creates it")
    pending = group_columns(store, [f for f in files if f.key not in loaded])
    defaults = column_defaults(plan_defaults(source, table))
    changes = plan_groups(warehouse, existing, [*pending, now], defaults)
    changes = [_blind(c) if _loader_without_mysql(table) else c for c in changes]
    refused = [c for c in changes if c.action == "refuse"]
    if table.mode == "full":
        refused = []  # the full load swaps the new shape in whole
    message = refusal_message(table.qualified, resolve_fix(table), refused) if refused else ""
    return SchemaCheck(drift, [c for c in changes if c.action != "refuse"], refused, message)


def _loader_without_mysql(table: TableConfig) -> bool:
    """The warehouse asset opens MySQL only for the delete pass (incremental, `deletes:
    propagate`); without it the load cannot read a new column's DEFAULT."""
    return table.mode != "full" and not (
        table.mode == "incremental" and table.deletes in ("propagate", "soft")
    )


def _blind(change: Change) -> Change:
    if change.action != "add" or change.default is None:
        return change
    return replace(
        change,
        action="refuse",
        reason=f"added with DEFAULT {change.default}, which a load without a MySQL connection "
        "cannot read (it would leave NULL in the rows MySQL filled)",
    )
