"""`status`: can this pipeline reach its source, store and warehouse? Says which fails and why."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from mysql_redshift_assets.config.loader import Pipeline, Project
from mysql_redshift_assets.connect import open_source, open_store, open_warehouse
from mysql_redshift_assets.extract.probes import ping
from mysql_redshift_assets.maintenance.check_target import bucket_region_check, has_region_rule


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
    if has_region_rule(project, pipeline):  # Redshift COPY from S3: one region for both
        checks.append(
            _timed("region", spec.store, lambda: bucket_region_check(project, pipeline)[1])
        )
    return checks
