"""`check-target`: a live self-test of a pipeline's warehouse and store, one line per check.

It loads a canary (`canary.py`: every planner type at its edges) through the very code a sync
runs: a Parquet file written as extraction writes it, put in the pipeline's store, COPYed with
the pipeline's credentials into a temporary table, merged under the LOCK into a scratch table of
the target schema, recorded in the schema's ledger; then reads every value back and compares. It
also checks privileges, the bucket's region, SSL, the isolation level and round-trip latency.
Whatever it created (scratch table, its ledger rows, a ledger or schema it had to create, the
store objects) is removed, also when a check fails. Each FAIL says what to fix.
"""

from __future__ import annotations

import dataclasses
import secrets
import ssl
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa

from mysql_redshift_assets.config.connections import RedshiftTargetSpec, S3StoreSpec
from mysql_redshift_assets.config.env import resolve_env
from mysql_redshift_assets.config.loader import Pipeline, Project
from mysql_redshift_assets.config.resolve import TableConfig, table_configs
from mysql_redshift_assets.connect import open_store, open_warehouse
from mysql_redshift_assets.extract.schema_types import arrow_schema, plan_columns
from mysql_redshift_assets.identifiers import identifier_limit, quote_ident
from mysql_redshift_assets.load.base import Warehouse
from mysql_redshift_assets.load.request import LoadRequest
from mysql_redshift_assets.maintenance.canary import ROWS, arrow_arrays, canary_rows
from mysql_redshift_assets.maintenance.values import compare_rows
from mysql_redshift_assets.naming import LEDGER_TABLE, ledger_entry_name, table_base, target_table
from mysql_redshift_assets.state.watermark import FileRecord
from mysql_redshift_assets.store.objectstore import ObjectStore
from mysql_redshift_assets.store.parquet import (
    FileColumn,
    ParquetFileWriter,
    parquet_codec,
    read_footer,
)
from mysql_redshift_assets.targets import dialect_of

Status = Literal["OK", "FAIL", "SKIP"]

TEMP_SQL = "SELECT has_database_privilege(current_database(), 'TEMP')"
CREATE_IN_DATABASE_SQL = "SELECT has_database_privilege(current_database(), 'CREATE')"
CREATE_IN_SCHEMA_SQL = (
    "SELECT has_schema_privilege(%s, 'CREATE') AND has_schema_privilege(%s, 'USAGE')"
)


@dataclass(frozen=True)
class TargetCheck:
    """One finding of `check-target`, the live self-test of a target."""

    name: str
    status: Status
    detail: str

    @property
    def line(self) -> str:
        return f"{self.status:<4} {self.name:<12} {self.detail}"


class CheckFailed(Exception):
    """A check's finding: the message says what is wrong and how to fix it."""


def _run(name: str, probe: Callable[[], tuple[Status, str]]) -> TargetCheck:
    try:
        status, detail = probe()
    except CheckFailed as exc:
        status, detail = "FAIL", str(exc)
    except Exception as exc:  # any failure is a finding, reported with its reason
        status, detail = "FAIL", f"{type(exc).__name__}: {exc}"
    return TargetCheck(name, status, detail)


def check_target(project: Project, pipeline: Pipeline) -> list[TargetCheck]:
    spec = pipeline.spec
    target_spec = project.connections.targets.get(spec.target)
    checks = [_run("region", lambda: bucket_region_check(project, pipeline))]
    warehouse = open_warehouse(project, spec.target)
    try:
        checks.append(_run("connect", lambda: _connect(warehouse)))
        if checks[-1].status == "FAIL":
            return checks
        checks.append(_run("latency", lambda: _latency(warehouse)))
        checks.append(_run("ssl", lambda: _ssl(warehouse, target_spec)))
        checks.append(_run("isolation", lambda: _isolation(warehouse)))
        schema = target_table(table_configs(pipeline)[0])[0]
        checks.append(_run("temp", lambda: _privilege(warehouse, TEMP_SQL, (), "TEMP")))
        checks.append(_run("create", lambda: _create_privilege(warehouse, schema)))
        store = open_store(project, spec.store)
        checks += Canary(project, pipeline, warehouse, store).run()
    finally:
        warehouse.close()
    return checks


def has_region_rule(project: Project, pipeline: Pipeline) -> bool:
    target = project.connections.targets.get(pipeline.spec.target)
    store = project.connections.stores.get(pipeline.spec.store)
    return isinstance(target, RedshiftTargetSpec) and isinstance(store, S3StoreSpec)


def bucket_region_check(project: Project, pipeline: Pipeline) -> tuple[Status, str]:
    """COPY from Parquet needs the bucket in the cluster's region (no REGION option):
    https://docs.aws.amazon.com/redshift/latest/dg/copy-usage_notes-copy-from-columnar.html"""
    if not has_region_rule(project, pipeline):
        return "SKIP", "only a Redshift target loading from S3 has a region to match"
    from mysql_redshift_assets.store.s3 import S3Store

    target = resolve_env(
        project.connections.targets[pipeline.spec.target],
        where=f"{project.connections_path}: targets.{pipeline.spec.target}",
    )
    assert isinstance(target, RedshiftTargetSpec)

    s3 = open_store(project, pipeline.spec.store)
    assert isinstance(s3, S3Store)
    bucket_region = bucket_region_of(s3)
    cluster = target.cluster_region
    if bucket_region != cluster:
        raise CheckFailed(
            f"bucket {s3.bucket} is in {bucket_region}, the cluster in {cluster}: COPY from "
            "Parquet reads only a bucket in the cluster's region; use a bucket there "
            f"(stores.{pipeline.spec.store}.bucket)"
        )
    return "OK", f"bucket {s3.bucket} and the cluster are both in {cluster}"


def bucket_region_of(s3: Any) -> str:
    location = s3._client.get_bucket_location(Bucket=s3.bucket).get("LocationConstraint")
    return location or "us-east-1"  # S3 answers null for us-east-1


def _connect(warehouse: Warehouse) -> tuple[Status, str]:
    warehouse.fetchall("SELECT 1")
    warehouse.commit()
    return "OK", f"connected ({warehouse!r})"


def _latency(warehouse: Warehouse) -> tuple[Status, str]:
    times = []
    for _ in range(5):
        started = time.monotonic()
        warehouse.fetchall("SELECT 1")
        times.append(time.monotonic() - started)
    warehouse.commit()
    return "OK", f"round trip {statistics.median(times) * 1000:.1f} ms (median of 5)"


def _ssl(warehouse: Warehouse, spec: Any) -> tuple[Status, str]:
    if not isinstance(spec, RedshiftTargetSpec):
        return "SKIP", "sslmode is checked on a Redshift target"
    sock = getattr(getattr(warehouse, "conn", None), "_usock", None)
    if not isinstance(sock, ssl.SSLSocket):
        raise CheckFailed("the session is not encrypted; set `sslmode:` (verify-full, or "
                          "verify-ca through an SSH tunnel) on the target")  # fmt: skip
    return "OK", f"TLS {sock.version()}, sslmode {spec.effective_sslmode}"


def isolation_sql(dialect: str) -> str | None:
    """The query naming the target's default isolation level (its record's; None: embedded)."""
    return dialect_of(dialect).isolation_sql


def _isolation(warehouse: Warehouse) -> tuple[Status, str]:
    sql = isolation_sql(warehouse.dialect)
    if sql is None:
        return "SKIP", f"{dialect_of(warehouse.dialect).title} has one writer"
    level = str(warehouse.fetchall(sql)[0][0]).strip()
    warehouse.commit()
    if level.lower() == "serializable":
        return "OK", (
            "SERIALIZABLE: loads of two tables of one schema may abort with ERROR 1023; "
            "they are retried with backoff (SNAPSHOT ISOLATION avoids most of these aborts)"
        )
    return "OK", level


def _privilege(
    warehouse: Warehouse, sql: str, params: tuple[str, ...], what: str
) -> tuple[Status, str]:
    target = dialect_of(warehouse.dialect)
    if target.embedded:
        return "SKIP", f"{target.title} has no privileges"
    allowed = bool(warehouse.fetchall(sql, params)[0][0])
    warehouse.commit()
    if not allowed:
        raise CheckFailed(f"the loader lacks {what}; {_GRANTS[what]}")
    return "OK", f"the loader has {what}"


_GRANTS = {
    "TEMP": "GRANT TEMP ON DATABASE <db> TO <loader> (staging tables are temporary)",
    "CREATE on the schema": "GRANT USAGE, CREATE ON SCHEMA <schema> TO <loader>",
    "CREATE on the database": "create the target schema first, or GRANT CREATE ON DATABASE <db> "
    "TO <loader>",
}


def _create_privilege(warehouse: Warehouse, schema: str) -> tuple[Status, str]:
    if not dialect_of(warehouse.dialect).embedded and warehouse.schema_exists(schema):
        return _privilege(warehouse, CREATE_IN_SCHEMA_SQL, (schema, schema), "CREATE on the schema")
    return _privilege(warehouse, CREATE_IN_DATABASE_SQL, (), "CREATE on the database")


class Canary:
    """One canary load into a scratch table of the target schema, read back and removed."""

    def __init__(
        self, project: Project, pipeline: Pipeline, warehouse: Warehouse, store: ObjectStore
    ) -> None:
        self.warehouse, self.store = warehouse, store
        token = secrets.token_hex(4)
        template = table_configs(pipeline)[0]
        self.table: TableConfig = dataclasses.replace(
            template, source_schema="mra_check", source_table=f"canary_{token}",
            target_table=f"mra_check_{token}", mode="incremental", cursor=None, distkey=None,
            sortkey=None, partitions=None, id_range=None, text_overflow="error",
        )  # fmt: skip
        self.schema, self.name = target_table(self.table)
        self.created: list[str] = []

    def run(self) -> list[TargetCheck]:
        checks: list[TargetCheck] = []
        had_schema = self.warehouse.schema_exists(self.schema)
        had_ledger = bool(self.warehouse.table_columns(self.schema, LEDGER_TABLE))
        self.warehouse.commit()
        try:
            sent: list[list[Any]] = []
            columns: list[FileColumn] = []
            checks.append(_run("load", lambda: self._load(sent, columns)))
            if checks[-1].status == "OK":
                checks.append(_run("values", lambda: self._compare(sent, columns)))
        finally:
            checks.append(_run("cleanup", lambda: self._cleanup(had_schema, had_ledger)))
        return checks

    def _load(self, sent: list[list[Any]], columns: list[FileColumn]) -> tuple[Status, str]:
        record, planned_columns, values = self._write_canary()
        columns += planned_columns
        sent += values
        request = LoadRequest(table=self.table, primary_key=["id"], cursor=None,
                              candidates=[record], run_id=f"check-{self.name}")  # fmt: skip
        result = self.warehouse.load(request, self.store)
        if result.rows_loaded != ROWS:
            raise CheckFailed(f"{result.rows_loaded} rows loaded of {ROWS}")
        return "OK", (
            f"{ROWS} rows x {len(columns)} columns: COPY into a temporary table, LOCK, merge, "
            f"ledger row, COMMIT; lock held {result.lock_seconds * 1000:.0f} ms"
        )

    def _write_canary(self) -> tuple[FileRecord, list[FileColumn], list[list[Any]]]:
        rows = canary_rows(self.warehouse.dialect)
        planned = plan_columns([c for c, _ in rows], table=self.table.qualified,
                               limit=identifier_limit(self.table.target_kind))  # fmt: skip
        columns = [FileColumn.from_planned(p) for p in planned]
        values = [v for _, v in rows]
        schema = arrow_schema(planned)
        with tempfile.TemporaryDirectory(prefix="mra-check-") as tmp:
            path = Path(tmp) / "0000000000.parquet"
            writer = ParquetFileWriter(
                path, schema, columns, compression=parquet_codec(self.table.target_kind)
            )
            writer.write(
                pa.record_batch(arrow_arrays([f.type for f in schema], values), schema=schema)
            )
            writer.close()
            footer = read_footer(path)
            key = f"{table_base(self.table)}/incremental/0000000000.parquet"
            stored = self.store.put_file(path, key)
        record = FileRecord(key=key, rows=footer.rows, bytes=stored.size,
                            fingerprint=footer.fingerprint, run_id=f"check-{self.name}",
                            written_at=datetime.now(UTC))  # fmt: skip
        return record, columns, values

    def _compare(self, sent: list[list[Any]], columns: list[FileColumn]) -> tuple[Status, str]:
        cols = ", ".join(quote_ident(c.name) for c in columns)
        target = self.warehouse.ref(self.schema, self.name)
        got = self.warehouse.fetchall(f'SELECT {cols} FROM {target} ORDER BY "id"')
        self.warehouse.commit()
        problems = compare_rows(columns, sent, got, self.warehouse.column_type)
        if problems:
            raise CheckFailed(f"{len(problems)} value(s) differ: " + "; ".join(problems[:5]))
        return "OK", f"every value read back equal ({len(columns)} columns x {ROWS} rows)"

    def _cleanup(self, had_schema: bool, had_ledger: bool) -> tuple[Status, str]:
        wh = self.warehouse
        wh.rollback()
        wh.execute(f"DROP TABLE IF EXISTS {wh.ref(self.schema, self.name)}")
        if wh.table_columns(self.schema, LEDGER_TABLE):
            if had_ledger:
                wh.execute(f'DELETE FROM {wh.ledger(self.schema)} WHERE "table_name" = {wh.ph}',
                           (ledger_entry_name(self.table),))  # fmt: skip
            else:
                wh.execute(f"DROP TABLE IF EXISTS {wh.ledger(self.schema)}")
        if not had_schema and not dialect_of(wh.dialect).embedded:
            wh.execute(f"DROP SCHEMA IF EXISTS {quote_ident(self.schema)}")
        wh.commit()
        keys = [o.key for o in self.store.list(table_base(self.table))]
        self.store.delete(keys)
        return "OK", f"removed the scratch table, its ledger rows and {len(keys)} store object(s)"
