"""Materialization metadata, built straight from the library's results (like dagster-dlt's
`metadata_set.py`): Dagster's standard keys first, then ours.

- `dagster/row_count`: the warehouse table's rows; on the Parquet asset, the rows of a full copy
  or a window (an increment is not the table, so none there).
- `dagster/table_name`, `dagster/column_schema` (the Columns tab): from the one type planner.
- `dagster/column_lineage` on the warehouse asset: each column comes from the Parquet asset's
  column of the same name (the files carry the warehouse names; `mra$` columns never reach it).
- `dagster/uri`: the table's folder in the store; the files as a count and the first few keys,
  relative to it.
- Rates only when rows moved: a run that found nothing new records no `rows_per_second`.
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.defs.translator import change_capture
from mysql_redshift_assets.extract import TablePlan
from mysql_redshift_assets.load.request import LoadResult
from mysql_redshift_assets.naming import table_base, target_table
from mysql_redshift_assets.state.watermark import Position, Watermark
from mysql_redshift_assets.store.objectstore import ObjectStore
from mysql_redshift_assets.sync.extract import ExtractResult
from mysql_redshift_assets.targets import dialect_of

KEYS_SHOWN = 5
Metadata = dict[str, dg.MetadataValue]


def _position_text(position: Position | None) -> str:
    if position is None:
        return "(start)"
    parts = ([f"cursor={position.cursor}"] if position.cursor is not None else []) + [
        f"pk={','.join(position.pk)}"
    ]
    return " ".join(parts)


def column_schema(plan: TablePlan, table: TableConfig) -> dg.TableSchema:
    """The warehouse columns: name, the target's type, the MySQL type as the description."""
    dialect = dialect_of(table.target_kind)
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=c.name,
                type=dialect.column_type(c),
                description=f"MySQL `{c.source.name}` {c.source.column_type}",
                constraints=dg.TableColumnConstraints(nullable=c.source.nullable),
            )
            for c in plan.columns
        ]
    )


def column_lineage(plan: TablePlan, parquet: dg.AssetKey) -> dg.TableColumnLineage:
    """Each warehouse column from its column in the table's Parquet files."""
    return dg.TableColumnLineage(
        deps_by_column={
            c.name: [dg.TableColumnDep(asset_key=parquet, column_name=c.name)] for c in plan.columns
        }
    )


def _rate(rows: int, seconds: float) -> Metadata:
    if not rows or seconds <= 0:
        return {}
    return {"rows_per_second": dg.MetadataValue.float(round(rows / seconds, 1))}


def parquet_metadata(
    table: TableConfig, store: ObjectStore, results: Sequence[ExtractResult]
) -> Metadata:
    """One materialization's metadata: one window's result, or the runs of one table."""
    files = [f for r in results for f in r.files]
    rows, seconds = sum(r.rows for r in results), sum(r.seconds for r in results)
    base = table_base(table)
    md: Metadata = {
        "dagster/uri": dg.MetadataValue.path(store.uri(base)),
        "rows": dg.MetadataValue.int(rows),
        "files": dg.MetadataValue.int(len(files)),
        "bytes": dg.MetadataValue.int(sum(r.bytes for r in results)),
        "seconds": dg.MetadataValue.float(round(seconds, 3)),
        **_rate(rows, seconds),
    }
    if table.mode != "incremental":  # a generation holds the whole table (or window)
        md["dagster/row_count"] = dg.MetadataValue.int(rows)
    if files:
        md["keys"] = dg.MetadataValue.json(
            [f.key.removeprefix(base + "/") for f in files[:KEYS_SHOWN]]
            + ([f"... {len(files) - KEYS_SHOWN} more"] if len(files) > KEYS_SHOWN else [])
        )
    first, last = results[0], results[-1]
    if table.binlog:  # no cursor: where the binlog was read from and to
        md["change_capture"] = dg.MetadataValue.text(change_capture(table))
        md["binlog_before"] = dg.MetadataValue.text(
            first.binlog_before or "(none: a copy of the whole table at binlog_after)"
        )
        md["binlog_after"] = dg.MetadataValue.text(last.binlog_after or "(unchanged)")
    elif table.mode == "incremental":
        md["change_capture"] = dg.MetadataValue.text(change_capture(table))
        md["watermark_before"] = dg.MetadataValue.text(_position_text(first.position_before))
        md["watermark_after"] = dg.MetadataValue.text(_position_text(last.position_after))
        md["reread_rows"] = dg.MetadataValue.int(last.reread_rows)
        if last.reread_from is not None:
            md["reread_from"] = dg.MetadataValue.text(_position_text(last.reread_from))
        if last.upper_bound is not None:
            md["upper_bound"] = dg.MetadataValue.text(last.upper_bound)
    if last.generation is not None:
        md["generation"] = dg.MetadataValue.text(last.generation)
    if last.null_cursor_rows:
        md["rows_with_null_cursor"] = dg.MetadataValue.int(last.null_cursor_rows)
    return md


def warehouse_metadata(
    table: TableConfig,
    results: Sequence[LoadResult],
    plan: TablePlan | None,
    watermark: Watermark | None = None,
    parquet: dg.AssetKey | None = None,
) -> Metadata:
    rows = sum(r.rows_loaded for r in results)
    seconds = sum(r.seconds for r in results)
    schema, name = target_table(table, watermark)
    md: Metadata = {
        "dagster/table_name": dg.MetadataValue.text(f"{schema}.{name}"),
        "dagster/row_count": dg.MetadataValue.int(results[-1].table_rows),
        "rows_loaded": dg.MetadataValue.int(rows),
        "files_loaded": dg.MetadataValue.int(sum(len(r.files_loaded) for r in results)),
        "files_already_loaded": dg.MetadataValue.int(sum(r.already_loaded for r in results)),
        "table_rows": dg.MetadataValue.int(results[-1].table_rows),
        "rows_deleted": dg.MetadataValue.int(sum(r.rows_deleted for r in results)),
        "seconds": dg.MetadataValue.float(round(seconds, 3)),
        # How long readers of the target waited on the load's lock (merge + ledger only).
        "lock_seconds": dg.MetadataValue.float(round(sum(r.lock_seconds for r in results), 3)),
        **_rate(rows, seconds),
    }
    md["columns_added"] = dg.MetadataValue.json(
        sorted({c for r in results for c in r.columns_added})
    )
    truncated: dict[str, int] = {}
    for r in results:
        for column, n in r.truncated.items():
            truncated[column] = truncated.get(column, 0) + n
    if truncated:  # `text_overflow: truncate`: values cut to Redshift's 65,535-byte VARCHAR
        md["truncated_values"] = dg.MetadataValue.json(truncated)
    if plan is not None:
        md["dagster/column_schema"] = dg.MetadataValue.table_schema(column_schema(plan, table))
        if parquet is not None:
            lineage = column_lineage(plan, parquet)
            md["dagster/column_lineage"] = dg.MetadataValue.column_lineage(lineage)
    return md
