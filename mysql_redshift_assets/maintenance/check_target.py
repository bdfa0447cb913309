"""`check-target`: a live self-test of a pipeline's warehouse and store, one line per check.

The probes here: the bucket's region, the session (connect, latency, SSL), the isolation level
(on Redshift Serverless from an SVV view, SKIP when unreadable: never FAIL a healthy
workgroup), the TEMP and CREATE privileges. Then every production path a sync runs, on a
scratch table of the target schema (`check_paths.py`: load, values, reload, widen, deletes,
validate, resync, rowsize), and the cleanup of whatever they created, also when one fails.
Each FAIL says what to fix.
"""

from __future__ import annotations

import ssl
import statistics
import time
from collections.abc import Callable
from typing import Any

from mysql_redshift_assets.config.connections import RedshiftTargetSpec, S3StoreSpec
from mysql_redshift_assets.config.env import resolve_env
from mysql_redshift_assets.config.loader import Pipeline, Project
from mysql_redshift_assets.config.resolve import table_configs
from mysql_redshift_assets.connect import open_store, open_warehouse
from mysql_redshift_assets.load.base import Warehouse
from mysql_redshift_assets.maintenance.check_common import (
    CheckFailed,
    Status,
    TargetCheck,
    run_check,
)
from mysql_redshift_assets.maintenance.check_paths import Canary
from mysql_redshift_assets.naming import target_table
from mysql_redshift_assets.targets import dialect_of

TEMP_SQL = "SELECT has_database_privilege(current_database(), 'TEMP')"
CREATE_IN_DATABASE_SQL = "SELECT has_database_privilege(current_database(), 'CREATE')"
CREATE_IN_SCHEMA_SQL = (
    "SELECT has_schema_privilege(%s, 'CREATE') AND has_schema_privilege(%s, 'USAGE')"
)


def _run(name: str, probe: Callable[[], tuple[Status, str]]) -> TargetCheck:
    return run_check(name, probe)


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
        checks.append(_run("isolation", lambda: _isolation(warehouse, target_spec)))
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


# Redshift Serverless has no STL/STV tables ("System monitoring (provisioned only)":
# https://docs.aws.amazon.com/redshift/latest/dg/c_intro_system_views.html); SVV views are on
# both, and SVV_REDSHIFT_DATABASES states each database's `database_isolation_level`
# (https://docs.aws.amazon.com/redshift/latest/dg/r_SVV_REDSHIFT_DATABASES.html).
SERVERLESS_ISOLATION_SQL = (
    "SELECT TRIM(database_isolation_level) FROM svv_redshift_databases "
    "WHERE database_name = current_database()"
)


def is_serverless(spec: Any) -> bool:
    return isinstance(spec, RedshiftTargetSpec) and spec.serverless


def isolation_sql(dialect: str, serverless: bool = False) -> str | None:
    """The query naming the target's default isolation level (its record's; None: embedded)."""
    if serverless:  # only a Redshift target is (`RedshiftTargetSpec.serverless`)
        return SERVERLESS_ISOLATION_SQL
    return dialect_of(dialect).isolation_sql


def _isolation(warehouse: Warehouse, spec: Any = None) -> tuple[Status, str]:
    serverless = is_serverless(spec)
    sql = isolation_sql(warehouse.dialect, serverless)
    if sql is None:
        return "SKIP", f"{dialect_of(warehouse.dialect).title} has one writer"
    try:
        rows = warehouse.fetchall(sql)
        warehouse.commit()
    except Exception as exc:
        if not serverless:
            raise
        warehouse.rollback()  # a healthy workgroup is never failed for its catalog
        return "SKIP", f"Serverless: the isolation level is not readable here ({exc})"
    if not rows:
        if serverless:
            return "SKIP", "Serverless: svv_redshift_databases lists no row for this database"
        raise CheckFailed("the isolation level of this database is not listed")
    level = str(rows[0][0]).strip()
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
