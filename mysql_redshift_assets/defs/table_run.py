"""One table's share of a pipeline op: its sync (`sync.table.TableSync`) and checks, as events.

The library runs the table (plan, drift check, extraction, load, delete pass) and returns each
step's result; this module only turns them into Dagster events and log lines, and adds the two
checks that are not steps: freshness, and the row-count reconciliation (`maintenance/`).

Runs in a worker thread of the op (`defs/assets.py`), so it touches no Dagster context: what it
would log it returns with its events, and the op logs and yields them as the table finishes. A
table that fails returns its error; the selected checks it could not evaluate fail with it.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import dagster as dg

from mysql_redshift_assets.causes import cause_of
from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.defs.checks import (
    check_specs,
    freshness_result,
    not_evaluated,
    row_count_event,
    row_count_result,
    schema_drift_result,
)
from mysql_redshift_assets.defs.metadata import Metadata, parquet_metadata, warehouse_metadata
from mysql_redshift_assets.maintenance.validate import table_error
from mysql_redshift_assets.naming import FRESHNESS_CHECK, ROW_COUNT_CHECK, SCHEMA_DRIFT_CHECK
from mysql_redshift_assets.sync.clients import Clients
from mysql_redshift_assets.sync.table import SyncRun, TableSync, TableSyncResult

Event = dg.AssetMaterialization | dg.AssetCheckResult
Level = Literal["info", "warning", "error"]


@dataclass(frozen=True)
class TableAssets:
    """A table and the keys its two assets have (from the pipeline's translator)."""

    table: TableConfig
    parquet: dg.AssetKey
    warehouse: dg.AssetKey

    @property
    def checks(self) -> list[dg.AssetCheckSpec]:
        return check_specs(self.table, self.parquet, self.warehouse)

    def check_key(self, name: str) -> dg.AssetCheckKey:
        asset = self.warehouse if name == ROW_COUNT_CHECK else self.parquet
        return dg.AssetCheckKey(asset, name)


@dataclass
class TableOutcome:
    assets: TableAssets
    events: list[Event] = field(default_factory=list)
    logs: list[tuple[Level, str]] = field(default_factory=list)  # (level, message)
    error: str | None = None
    cause: str | None = None  # the error as one line for a user (causes.cause_of)

    def log(self, level: Level, message: str) -> None:
        self.logs.append((level, message))

    def fail(self, exc: Exception, trace: str, not_done: set[str]) -> None:
        """The table failed: its error, and the selected checks it did not evaluate."""
        self.error = f"{type(exc).__name__}: {exc}".strip()
        self.cause = cause_of(exc)
        self.log("error", f"failed: {self.error}\n{trace}")
        self.events += [
            not_evaluated(self.assets.check_key(name), self.error) for name in sorted(not_done)
        ]


def run_table(
    clients: Clients, run: SyncRun, assets: TableAssets, layers: set[str], checks: set[str]
) -> TableOutcome:
    """Evaluate `checks` (names) and materialize `layers` of one table."""
    sync = TableSync(assets.table, clients, run)
    result = sync.run(
        extract="parquet" in layers,
        load="redshift" in layers,
        check_schema=SCHEMA_DRIFT_CHECK in checks,
    )
    outcome = TableOutcome(assets, logs=list(result.notes))
    outcome.events += _step_events(sync, result, assets)
    done = {SCHEMA_DRIFT_CHECK} if result.schema is not None else set()
    if result.failed is not None:
        outcome.fail(result.failed.error, result.failed.trace, checks - done)
        return outcome
    try:
        if FRESHNESS_CHECK in checks and assets.table.freshness_hours:
            watermark = sync.watermark()
            outcome.events.append(
                freshness_result(assets.parquet, watermark, assets.table.freshness_hours)
            )
            done.add(FRESHNESS_CHECK)
    except Exception as exc:  # one table's failure must not stop the others
        clients.discard_mine()
        outcome.fail(exc, traceback.format_exc(), checks - done)
        return outcome
    if ROW_COUNT_CHECK in checks:
        outcome.events.append(_row_count(sync, outcome))
    return outcome


def _step_events(sync: TableSync, result: TableSyncResult, assets: TableAssets) -> list[Event]:
    """The drift check's result, then one materialization per asset the steps completed."""
    table = assets.table
    events: list[Event] = []
    if result.schema is not None:
        events.append(schema_drift_result(assets.parquet, result.schema))
    if result.extracted is not None:
        store = sync.store
        events += _materializations(
            sync.spec,
            assets.parquet,
            result.extracted,
            lambda rs: parquet_metadata(table, store, rs),
        )
    loaded = result.loaded
    if loaded is not None and result.failed is None:  # its delete pass too
        events += _materializations(
            sync.spec,
            assets.warehouse,
            loaded.results,
            lambda rs: warehouse_metadata(table, rs, result.plan, loaded.watermark, assets.parquet),
        )
    return events


def _row_count(sync: TableSync, outcome: TableOutcome) -> Event:
    """The reconciliation. An error in it fails the check (ERROR), not the table: the table's
    rows are extracted and loaded by now, and its materializations stand."""
    asset, table = outcome.assets.warehouse, sync.table
    try:
        return row_count_result(
            asset, sync.source, sync.watermarks, sync.warehouse, table, sync.spec.partition_keys
        )
    except Exception as exc:
        sync.clients.discard_mine()  # a connection the error left broken is not reused
        outcome.log("error", f"row count check: {exc!r}\n{traceback.format_exc()}")
        return row_count_event(asset, table_error(table, exc))


def _materializations(
    run: SyncRun,
    key: dg.AssetKey,
    results: Sequence[object],
    metadata: Callable[[Sequence], Metadata],
) -> list[Event]:
    """One materialization per table, or per partition with that window's own figures.

    Recorded as materialization events, not as the op's outputs: an output costs Dagster a
    second event and a data-version lookup (~20 ms of CPU a table on a no-op run)."""
    if not run.windows:
        return [dg.AssetMaterialization(asset_key=key, metadata=metadata(results))]
    return [
        dg.AssetMaterialization(asset_key=key, partition=w.key, metadata=metadata([r]))
        for w, r in zip(run.windows, results, strict=True)
    ]
