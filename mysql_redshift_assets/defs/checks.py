"""Asset checks, evaluated inside the pipeline's op: counts reconciled, schema drift, freshness.

Each check is a spec (declared on the op) and the mapping of a library result to its event. The
op runs the selected ones per table: schema drift before the table's extraction (a step of
`sync.table.TableSync`), freshness after it, the reconciliation last. Sync jobs select the cheap ones (drift, freshness); the
reconciliation reads every row of MySQL and the warehouse, so `reconcile_<pipeline>`, the UI's
"Materialize" (all checks) and `mysql-redshift validate` run it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import dagster as dg

from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.extract.source import Source
from mysql_redshift_assets.load.base import Warehouse
from mysql_redshift_assets.maintenance.validate import (
    TableCounts,
    reconcile_table,
    row_count_check,
)
from mysql_redshift_assets.naming import FRESHNESS_CHECK, ROW_COUNT_CHECK, SCHEMA_DRIFT_CHECK
from mysql_redshift_assets.state.watermark import Watermark, WatermarkStore
from mysql_redshift_assets.sync.drift import SchemaCheck

# The checks a sync runs by default: neither reads the table's rows.
CHEAP_CHECKS = (SCHEMA_DRIFT_CHECK, FRESHNESS_CHECK)


def check_specs(
    table: TableConfig, parquet: dg.AssetKey, warehouse: dg.AssetKey
) -> list[dg.AssetCheckSpec]:
    specs = [
        dg.AssetCheckSpec(
            ROW_COUNT_CHECK,
            asset=warehouse,
            description="Source rows (up to the watermark) == warehouse rows, and every key and "
            "row value hashed on both sides (incremental tables; partitioned ones per window, the "
            "run's or every window extracted); Parquet rows shown. Reads every row: run by "
            "`reconcile_<pipeline>`, not by scheduled syncs.",
        ),
        dg.AssetCheckSpec(
            SCHEMA_DRIFT_CHECK,
            asset=parquet,
            description="MySQL now, the files not yet loaded and the warehouse table compared "
            "(before the table's extraction); blocks the warehouse asset on a change the loader "
            "would refuse (docs/schema-changes.md).",
            blocking=True,
        ),
    ]
    if table.freshness_hours:
        specs.append(
            dg.AssetCheckSpec(
                FRESHNESS_CHECK,
                asset=parquet,
                description=f"An extraction succeeded in the last {table.freshness_hours:g} hours.",
            )
        )
    return specs


def row_count_result(
    asset: dg.AssetKey,
    source: Source,
    watermarks: WatermarkStore,
    warehouse: Warehouse,
    table: TableConfig,
    partitions: Sequence[str] | None = None,
) -> dg.AssetCheckResult:
    """`partitions`: the run's windows of a partitioned table (None: every window extracted)."""
    return row_count_event(asset, reconcile_table(source, watermarks, warehouse, table, partitions))


def row_count_event(asset: dg.AssetKey, counts: TableCounts) -> dg.AssetCheckResult:
    """The check's result on `reconcile_table`'s counts (or `validate.table_error`'s)."""
    outcome = row_count_check(counts)
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=ROW_COUNT_CHECK,
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity.ERROR if outcome.error else dg.AssetCheckSeverity.WARN,
        description=outcome.description,
        metadata={
            k: dg.MetadataValue.json(v) if isinstance(v, dict | list) else v
            for k, v in outcome.metadata.items()
        },
    )


def schema_drift_result(asset: dg.AssetKey, found: SchemaCheck) -> dg.AssetCheckResult:
    """The drift step of a table's sync (`sync/drift.py`: MySQL now, the files not yet loaded,
    the warehouse table) as a check result: failed, with ERROR, on a change the loader would
    refuse."""
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=SCHEMA_DRIFT_CHECK,
        passed=found.passed,
        severity=dg.AssetCheckSeverity.ERROR if not found.passed else dg.AssetCheckSeverity.WARN,
        description=found.describe(),
        metadata={
            "added": found.drift.added,
            "removed": found.drift.removed,
            "changed": found.drift.changed,
            "applied": [f"{c.column}: {c.action} {c.old} -> {c.new}" for c in found.applied],
            "refused": [f"{c.column}: {c.old} -> {c.new}" for c in found.refused],
        },
    )


def freshness_result(
    asset: dg.AssetKey, watermark: Watermark | None, hours: float
) -> dg.AssetCheckResult:
    session = watermark.session if watermark else None
    finished = session.finished_at if session and session.status == "success" else None
    if finished is None:
        return dg.AssetCheckResult(
            asset_key=asset,
            check_name=FRESHNESS_CHECK,
            passed=False,
            description="no successful extraction recorded",
        )
    age = (datetime.now(UTC) - finished).total_seconds() / 3600
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=FRESHNESS_CHECK,
        passed=age <= hours,
        description=f"last successful extraction {age:.1f} h ago (limit {hours:g} h)",
        metadata={"hours_since": round(age, 2), "limit_hours": hours},
    )


def not_evaluated(check: dg.AssetCheckKey, error: str) -> dg.AssetCheckResult:
    """The result of a check whose table failed before the check could run."""
    return dg.AssetCheckResult(
        asset_key=check.asset_key,
        check_name=check.name,
        passed=False,
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"not evaluated: the table's sync failed: {error}",
    )
