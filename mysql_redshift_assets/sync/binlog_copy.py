"""The initial copy (and every resync) of a `capture: binlog` table: the whole table read in one
MySQL snapshot tied to a binlog position, so that the stream continues exactly where the copy
ends: every transaction committed before the position is in the copy, none after it.

    preflight (binlog on, ROW, FULL images and metadata, grants: one clear error each)
    under the table's lease:
      BEGIN a consistent snapshot; its binlog position P     (`extract/binlog/snapshot.py`)
      COUNT(*) and every row, in the snapshot -> a generation of files
      one watermark write: a new lineage, the generation, `binlog_position` = P
    the load swaps the generation in (`load/swap.py`), then merges the change files after it

MariaDB reports the snapshot's position itself (`Binlog_snapshot_file/position`, no lock);
MySQL 8 takes a brief `FLUSH TABLES WITH READ LOCK` while the snapshot opens (RELOAD). Chosen
over a chunked copy interleaved with the stream (DBLog / Debezium's incremental snapshot): one
snapshot is exact by construction and writes nothing to the source; its cost is that the binlog
from P on must be kept until the copy is loaded and the first stream has read past it (the
preflight's retention warning names the setting). The copy never reads past P and never waits
for open transactions: they commit after P, and the stream carries them.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pymysql

from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.extract import Scan, TablePlan, plan_table, read_table
from mysql_redshift_assets.extract.binlog.preflight import preflight
from mysql_redshift_assets.extract.row_filter import check_filter_unchanged
from mysql_redshift_assets.extract.snapshot_bounds import check_written, snapshot_rows
from mysql_redshift_assets.extract.source import MySQLSource, Source
from mysql_redshift_assets.naming import generation_id
from mysql_redshift_assets.state.fenced import FencedStore
from mysql_redshift_assets.state.lease import table_lease
from mysql_redshift_assets.state.watermark import Watermark, WatermarkStore
from mysql_redshift_assets.store.objectstore import ObjectStore
from mysql_redshift_assets.store.parquet import FileColumn
from mysql_redshift_assets.sync.extract import ExtractResult
from mysql_redshift_assets.sync.files import FileSet, FileSink


def stream_plan(source: Source, table: TableConfig, watermark: Watermark) -> TablePlan:
    """The plan a stream reads `table`'s changes by: under the filter it was copied with
    (`where:` changed since: refused, naming the resync, before any change is read)."""
    check_filter_unchanged(table, watermark.row_filter)
    return plan_table(source, table, watermark.columns)


def binlog_source(source: Source, table: TableConfig) -> MySQLSource:
    """The table's source, which must be a MySQL server (its binlog is read)."""
    if not isinstance(source, MySQLSource):
        raise ValueError(
            table.error(
                "capture",
                f"`capture: binlog` reads a MySQL binlog; source "
                f"{source.name!r} is not a MySQL server",
            )  # fmt: skip
        )
    return source


def check_binlog(source: MySQLSource) -> list[str]:
    """The preflight's settings and grants on the source (raises the first failure); its
    warnings."""
    with pymysql.connect(**source.replication_params()) as conn:
        return preflight(conn).warnings


def copy_at_position(
    source: Source,
    store: ObjectStore,
    watermarks: WatermarkStore,
    table: TableConfig,
    *,
    run_id: str,
) -> ExtractResult:
    """Read `table` whole at a binlog position into a new lineage (see the module)."""
    mysql = binlog_source(source, table)
    started = time.monotonic()
    result = ExtractResult(table=table.qualified, run_id=run_id)
    result.warnings += check_binlog(mysql)
    with table_lease(watermarks.store, table, run_id) as lease:
        fenced = FencedStore(store, lease)  # no upload once the lease is lost
        old = watermarks.load(table)
        plan = plan_table(source, table, old.columns if old else None)
        watermark = Watermark(table=table.qualified, mode=table.mode)  # a new lineage
        watermark.warehouse_names = old.warehouse_names if old else {}  # the same table
        watermark.row_filter = table.where
        watermark.begin_session(run_id, plan.column_map, plan.primary_key, None)
        generation = generation_id(run_id)
        watermark.begin_generation(generation, None)
        truncate = table.text_overflow == "truncate"
        files = FileSet(
            table=table,
            schema=plan.arrow_schema,
            columns=[FileColumn.from_planned(c, truncate_text=truncate) for c in plan.columns],
            run_id=run_id,
            generation=generation,
            primary_key=plan.key_names,
        )
        tmp = Path(tempfile.mkdtemp(prefix="mra-binlog-copy-"))
        try:
            sink = FileSink(files, fenced, tmp)
            scan = Scan(plan)
            with mysql.binlog_snapshot() as start:
                counted = snapshot_rows(source, scan)
                records = sink.write_all(read_table(source, scan)) or list(sink.write_empty())
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        check_written(
            table.qualified, "the binlog table's copy", counted, sum(r.rows for r in records)
        )
        for record in records:
            watermark.record_file(record, None)
        watermark.end_generation(generation, complete=True)
        watermark.binlog_position = start.position.to_json()
        watermark.succeed()
        watermarks.save(table, watermark)  # the switch: one write
    result.generation = generation
    result.files = records
    result.rows = sum(r.rows for r in records)
    result.bytes = sum(r.bytes for r in records)
    result.binlog_after = start.position.format()
    result.seconds = time.monotonic() - started
    return result
