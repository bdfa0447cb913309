"""`status`: can this pipeline reach its source, store and warehouse? Says which fails and why."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pymysql

from mysql_redshift_assets.config.loader import Pipeline, Project
from mysql_redshift_assets.config.resolve import TableConfig, table_configs
from mysql_redshift_assets.connect import open_source, open_store, open_warehouse
from mysql_redshift_assets.extract.binlog.positions import position_from_json
from mysql_redshift_assets.extract.binlog.preflight import preflight
from mysql_redshift_assets.extract.probes import ping
from mysql_redshift_assets.maintenance.check_target import bucket_region_check, has_region_rule
from mysql_redshift_assets.state.watermark import WatermarkStore
from mysql_redshift_assets.sync.binlog_copy import binlog_source
from mysql_redshift_assets.sync.probe import compare_positions


@dataclass(frozen=True)
class ConnectionCheck:
    """One `status` probe: can the pipeline reach its source, store or target (or region)?"""

    kind: str
    name: str
    ok: bool
    detail: str
    seconds: float


def _timed(kind: str, name: str, probe: Callable[[], str]) -> ConnectionCheck:
    started = time.monotonic()
    try:
        detail = probe()
        ok = True
    except Exception as exc:  # every failure is a finding, reported with its reason
        detail, ok = f"{type(exc).__name__}: {exc}", False
    return ConnectionCheck(kind, name, ok, detail, round(time.monotonic() - started, 3))


def check_pipeline(project: Project, pipeline: Pipeline) -> list[ConnectionCheck]:
    spec = pipeline.spec

    def source() -> str:
        src = open_source(project, spec.source)
        try:
            ping(src)
            return f"connected: {src.describe()}"
        finally:
            src.close()

    def store() -> str:
        st = open_store(project, spec.store)
        st.check()
        return f"reachable: {st.uri('')}"

    def warehouse() -> str:
        wh = open_warehouse(project, spec.target)
        try:
            wh.fetchall("SELECT 1")
            return f"connected: {wh!r}"
        finally:
            wh.close()

    checks = [
        _timed("source", spec.source, source),
        _timed("store", spec.store, store),
        _timed("target", spec.target, warehouse),
    ]
    binlog = [t for t in table_configs(pipeline) if t.binlog]
    if binlog:  # `capture: binlog`: the server's settings, the grants, each table's position
        checks.append(_timed("binlog", spec.source, lambda: binlog_check(project, binlog)))
    if has_region_rule(project, pipeline):  # Redshift COPY from S3: one region for both
        checks.append(
            _timed("region", spec.store, lambda: bucket_region_check(project, pipeline)[1])
        )
    return checks


def binlog_check(project: Project, tables: list[TableConfig]) -> str:
    """The binlog preflight (settings, grants, each stored position still in the binlog:
    the first failure is raised) and each table's position against the server's."""
    src = open_source(project, tables[0].source)
    try:
        mysql = binlog_source(src, tables[0])
        stored = {t.qualified: _binlog_position(project, t) for t in tables}
        with pymysql.connect(**mysql.replication_params()) as conn:
            report = preflight(
                conn,
                positions={k: position_from_json(v) for k, v in stored.items() if v is not None},
            )
            parts = [f"{report.server}: settings and grants ok; {report.retention}"]
            for name, position in stored.items():
                where = (
                    "no binlog position yet (the next run makes the initial copy)"
                    if position is None
                    else str(compare_positions(conn, position))
                )
                parts.append(f"{name}: {where}")
    finally:
        src.close()
    return "; ".join(parts + report.warnings)


def _binlog_position(project: Project, table: TableConfig) -> dict[str, Any] | None:
    watermark = WatermarkStore(open_store(project, table.store)).load(table)
    return watermark.binlog_position if watermark else None
