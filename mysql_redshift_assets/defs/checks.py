"""Asset checks, evaluated inside the pipeline's op: counts reconciled, schema drift, freshness.

Each check is a spec (declared on the op) and an evaluator (a call into the library). The op
runs the selected ones per table: schema drift before the table's extraction, freshness after
it, the reconciliation last. Sync jobs select the cheap ones (drift, freshness); the
reconciliation reads every row of MySQL and the warehouse, so `reconcile_<pipeline>`, the UI's
"Materialize" (all checks) and `mysql-redshift validate` run it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.extract import TablePlan
from mysql_redshift_assets.extract.source import Source
from mysql_redshift_assets.load.base import Warehouse
from mysql_redshift_assets.maintenance.drift import schema_drift
from mysql_redshift_assets.maintenance.validate import validate_table
from mysql_redshift_assets.naming import FRESHNESS_CHECK, ROW_COUNT_CHECK, SCHEMA_DRIFT_CHECK
from mysql_redshift_assets.state.watermark import Watermark, WatermarkStore
from mysql_redshift_assets.store.objectstore import ObjectStore
from mysql_redshift_assets.store.parquet import FileColumn, read_footer

# The checks a sync runs by default: neither reads the table's rows.
CHEAP_CHECKS = (SCHEMA_DRIFT_CHECK, FRESHNESS_CHECK)


def check_specs(
    table: TableConfig, parquet: dg.AssetKey, warehouse: dg.AssetKey
) -> list[dg.AssetCheckSpec]:
    specs = [
        dg.AssetCheckSpec(
            ROW_COUNT_CHECK,
            asset=warehouse,
            description="Source rows (up to the watermark) == warehouse rows, and (incremental) "
            "every key and row value hashed on both sides; Parquet rows shown. Reads every row: "
            "run by `reconcile_<pipeline>`, not by scheduled syncs.",
        ),
        dg.AssetCheckSpec(
            SCHEMA_DRIFT_CHECK,
            asset=parquet,
            description="MySQL columns now vs the columns of the newest Parquet file "
            "(evaluated before the table's extraction).",
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
) -> dg.AssetCheckResult:
    counts = validate_table(source, watermarks, warehouse, table)
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=ROW_COUNT_CHECK,
        passed=counts.verdict in ("ok", "empty", "behind"),
        severity=dg.AssetCheckSeverity.ERROR
        if counts.verdict == "mismatch"
        else dg.AssetCheckSeverity.WARN,
        description=f"{counts.verdict}: {counts.note}",
        metadata={
            "source_rows": counts.source_rows,
            "parquet_rows": counts.parquet_rows,
            "warehouse_rows": counts.warehouse_rows,
            "files_pending": counts.files_pending,
            "not_yet_extracted": counts.not_yet_extracted,
            "values_compared": counts.values_compared,
            "rows_missing": counts.missing,
            "rows_extra": counts.extra,
            "rows_changed": counts.changed,
            "columns_not_compared": dg.MetadataValue.json(counts.columns_not_compared),
        },
    )


def schema_drift_result(
    asset: dg.AssetKey, plan: TablePlan, watermark: Watermark | None, store: ObjectStore
) -> dg.AssetCheckResult:
    """`plan` is the table planned from MySQL now (the op plans each table once)."""
    if watermark is None or not watermark.files:
        return dg.AssetCheckResult(
            asset_key=asset,
            check_name=SCHEMA_DRIFT_CHECK,
            passed=True,
            description="nothing extracted yet",
        )
    fs, path = store.arrow_location(watermark.files[-1].key)
    before = read_footer(path, fs).columns
    drift = schema_drift(before, [FileColumn.from_planned(c) for c in plan.columns])
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=SCHEMA_DRIFT_CHECK,
        passed=not drift.breaking,
        severity=dg.AssetCheckSeverity.ERROR if drift.breaking else dg.AssetCheckSeverity.WARN,
        description=drift.describe(),
        metadata={"added": drift.added, "removed": drift.removed, "changed": drift.changed},
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
