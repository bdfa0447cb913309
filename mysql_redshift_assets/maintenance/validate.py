"""Row counts reconciled: source vs Parquet vs warehouse, per table.

For incremental tables the source side counts the rows at or before the watermark (the rows
that should be in the warehouse by now); rows past it are reported as `not_yet_extracted`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.extract import keyset_values, plan_table
from mysql_redshift_assets.extract.keyset import after_predicate
from mysql_redshift_assets.extract.mysql_text import raw_text
from mysql_redshift_assets.extract.source import Source
from mysql_redshift_assets.load.base import Warehouse
from mysql_redshift_assets.naming import target_table
from mysql_redshift_assets.state.watermark import WatermarkStore
from mysql_redshift_assets.sync.load import candidate_files

Verdict = Literal["ok", "behind", "mismatch", "empty"]


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
) -> TableCounts:
    watermark = watermarks.load(table)
    plan = plan_table(source, table, watermark.columns if watermark else None)
    total = _count(source, f"SELECT COUNT(*) FROM {plan.table_ref}", [])
    schema, name = target_table(table)
    warehouse_rows = warehouse.row_count(schema, name)
    if watermark is None:
        verdict: Verdict = "empty" if warehouse_rows == 0 else "mismatch"
        return TableCounts(
            table.qualified, 0, 0, warehouse_rows, 0, total, verdict, "nothing extracted yet"
        )
    loaded = warehouse.loaded_files(table)
    files = candidate_files(table, watermark)
    pending = [f for f in files if f.key not in loaded]
    parquet_rows = sum(f.rows for f in files)
    if table.mode == "full":
        source_rows, later = parquet_rows, 0
        note = f"source has {total:,} rows now; the newest generation holds {parquet_rows:,}"
    else:
        values = keyset_values(watermark.position, cursor_is_pk=plan.cursor_is_pk)
        if values is None:
            source_rows, later = 0, total
        else:
            predicate, params = after_predicate(plan.order_quoted, values, source.placeholder)
            later = _count(
                source, f"SELECT COUNT(*) FROM {plan.table_ref} WHERE {predicate}", params
            )
            source_rows = total - later
        note = "Parquet rows include every extracted version of an updated row"
    if pending:
        verdict = "behind"
        note = f"{len(pending)} file(s) extracted but not loaded yet; " + note
    elif warehouse_rows == source_rows:
        verdict = "ok"
    else:
        verdict = "mismatch"
        note = (
            f"warehouse has {warehouse_rows - source_rows:+,} rows against the source "
            "(a row deleted or added behind the tool's back, or a MySQL delete, which "
            "incremental mode does not carry)"
        )
    return TableCounts(
        table.qualified,
        source_rows,
        parquet_rows,
        warehouse_rows,
        len(pending),
        later,
        verdict,
        note,
    )
