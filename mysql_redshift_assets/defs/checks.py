"""Asset checks: counts reconciled, schema drift before it breaks a load, freshness."""

from datetime import UTC, datetime

import dagster as dg

from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.defs.resources import ConnectionsResource, WatermarkResource
from mysql_redshift_assets.defs.translator import asset_key
from mysql_redshift_assets.maintenance.drift import check_schema
from mysql_redshift_assets.maintenance.validate import row_count_check, validate_table
from mysql_redshift_assets.naming import FRESHNESS_CHECK, ROW_COUNT_CHECK, SCHEMA_DRIFT_CHECK


def _row_count_check(table: TableConfig) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset_key(table, "redshift"),
        name=ROW_COUNT_CHECK,
        description="Source rows (up to the watermark) == warehouse rows, and every key and row "
        "value hashed on both sides (incremental tables; partitioned ones per window, the run's "
        "or every window extracted); Parquet rows shown.",
    )
    def _check(
        context: dg.AssetCheckExecutionContext,
        connections: ConnectionsResource,
        watermarks: WatermarkResource,
    ) -> dg.AssetCheckResult:
        source = connections.source(table.source)
        warehouse = connections.warehouse(table.target)
        try:
            counts = validate_table(
                source, watermarks.store_for(table), warehouse, table, _run_partitions(context)
            )
        finally:
            source.close()
            warehouse.close()
        outcome = row_count_check(counts)
        return dg.AssetCheckResult(
            passed=outcome.passed,
            severity=dg.AssetCheckSeverity.ERROR if outcome.error else dg.AssetCheckSeverity.WARN,
            description=outcome.description,
            metadata={
                k: dg.MetadataValue.json(v) if isinstance(v, dict | list) else v
                for k, v in outcome.metadata.items()
            },
        )

    return _check


def _run_partitions(context: dg.AssetCheckExecutionContext) -> list[str] | None:
    """The run's partition keys (a partitioned run); None: every window extracted."""
    if context.has_partition_key or context.has_partition_key_range:
        return list(context.partition_keys)
    return None


def _schema_drift_check(table: TableConfig) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset_key(table, "parquet"),
        name=SCHEMA_DRIFT_CHECK,
        description="MySQL now, the files not yet loaded and the warehouse table compared; "
        "blocks the warehouse asset on a change the loader would refuse.",
        blocking=True,
    )
    def _check(connections: ConnectionsResource) -> dg.AssetCheckResult:
        return schema_drift_result(connections, table)

    return _check


def schema_drift_result(
    connections: ConnectionsResource, table: TableConfig
) -> dg.AssetCheckResult:
    """The `schema_drift` check's body: `maintenance.drift.check_schema`, as a check result."""
    source = connections.source(table.source)
    warehouse = connections.warehouse(table.target)
    try:
        found = check_schema(source, connections.store(table.store), warehouse, table)
    finally:
        source.close()
        warehouse.close()
    return dg.AssetCheckResult(
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


def _freshness_check(table: TableConfig, hours: float) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset_key(table, "parquet"),
        name=FRESHNESS_CHECK,
        description=f"An extraction succeeded in the last {hours:g} hours.",
    )
    def _check(watermarks: WatermarkResource) -> dg.AssetCheckResult:
        watermark = watermarks.get(table)
        session = watermark.session if watermark else None
        finished = session.finished_at if session and session.status == "success" else None
        if finished is None:
            return dg.AssetCheckResult(
                passed=False, description="no successful extraction recorded"
            )
        age = (datetime.now(UTC) - finished).total_seconds() / 3600
        return dg.AssetCheckResult(
            passed=age <= hours,
            description=f"last successful extraction {age:.1f} h ago (limit {hours:g} h)",
            metadata={"hours_since": round(age, 2), "limit_hours": hours},
        )

    return _check


def build_checks(table: TableConfig) -> list[dg.AssetChecksDefinition]:
    checks = [_row_count_check(table), _schema_drift_check(table)]
    if table.freshness_hours:
        checks.append(_freshness_check(table, table.freshness_hours))
    return checks
