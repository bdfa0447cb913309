"""One table's share of a pipeline op: its checks, extraction and load, as the events to yield.

Runs in a worker thread of the op (`defs/assets.py`), so it touches no Dagster context: what it
would log it returns with its events, and the op logs and yields them as the table finishes. A
table that fails returns its error; the selected checks it could not evaluate fail with it.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
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
from mysql_redshift_assets.defs.resources import ConnectionsResource
from mysql_redshift_assets.extract import TablePlan, plan_table
from mysql_redshift_assets.extract.source import Source
from mysql_redshift_assets.load.base import Warehouse
from mysql_redshift_assets.maintenance.validate import table_error
from mysql_redshift_assets.naming import FRESHNESS_CHECK, ROW_COUNT_CHECK, SCHEMA_DRIFT_CHECK
from mysql_redshift_assets.partitions import Window
from mysql_redshift_assets.state.watermark import WatermarkStore
from mysql_redshift_assets.sync.extract import ExtractResult, extract_table
from mysql_redshift_assets.sync.load import load_table

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


@dataclass(frozen=True)
class RunSpec:
    """What every table of one op run shares."""

    run_id: str
    connections: ConnectionsResource
    clients: Clients
    windows: Sequence[tuple[str, Window] | None]  # (partition key, window), or [None]
    max_rows: int | None = None
    chunk_rows: int | None = None
    # Loads into one warehouse run one at a time: tables extract side by side, but concurrent
    # DDL on the shared ledger conflicts (DuckDB: "Catalog write-write conflict"; PostgreSQL's
    # CREATE TABLE IF NOT EXISTS races the same way). A no-op load is one ledger query.
    _load_locks: dict[str, threading.Lock] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def load_lock(self, target: str) -> threading.Lock:
        with self._guard:
            return self._load_locks.setdefault(target, threading.Lock())


@dataclass
class TableOutcome:
    assets: TableAssets
    events: list[Event] = field(default_factory=list)
    logs: list[tuple[Level, str]] = field(default_factory=list)  # (level, message)
    error: str | None = None
    cause: str | None = None  # the error as one line for a user (causes.cause_of)

    def log(self, level: Level, message: str) -> None:
        self.logs.append((level, message))


class Clients:
    """MySQL and warehouse connections, one per worker thread and name, reused table after
    table and closed when the op ends (opening one costs more than a no-op table's queries:
    a pymysql connection builds an SSL context, ~70 ms of CPU). A table that fails closes its
    thread's connections, so the next table starts on fresh ones."""

    def __init__(self, connections: ConnectionsResource) -> None:
        self._connections = connections
        self._local = threading.local()
        self._all: list[Source | Warehouse] = []
        self._lock = threading.Lock()

    def _mine(self) -> tuple[dict[str, Source], dict[str, Warehouse]]:
        if not hasattr(self._local, "clients"):
            self._local.clients = ({}, {})
        return self._local.clients

    def _opened(self, client: Source | Warehouse) -> None:
        with self._lock:
            self._all.append(client)

    def source(self, name: str) -> Source:
        sources = self._mine()[0]
        if name not in sources:
            sources[name] = self._connections.source(name)
            self._opened(sources[name])
        return sources[name]

    def warehouse(self, name: str) -> Warehouse:
        warehouses = self._mine()[1]
        if name not in warehouses:
            warehouses[name] = self._connections.warehouse(name)
            self._opened(warehouses[name])
        return warehouses[name]

    def discard_mine(self) -> None:
        for group in self._mine():
            for client in group.values():
                _close_quietly(client)
                with self._lock:
                    self._all.remove(client)
            group.clear()

    def close_all(self) -> None:
        with self._lock:
            clients, self._all = self._all, []
        for client in clients:
            _close_quietly(client)


def _close_quietly(client: Source | Warehouse) -> None:
    try:
        client.close()
    except Exception:  # a broken connection: nothing left to release
        pass


@dataclass
class _Work:
    """The table's view of the op's connections."""

    spec: RunSpec
    table: TableConfig

    def mysql(self) -> Source:
        return self.spec.clients.source(self.table.source)

    def target(self) -> Warehouse:
        return self.spec.clients.warehouse(self.table.target)


def run_table(
    spec: RunSpec, assets: TableAssets, layers: set[str], checks: set[str]
) -> TableOutcome:
    """Evaluate `checks` (names) and materialize `layers` of one table."""
    outcome = TableOutcome(assets)
    work = _Work(spec, assets.table)
    done: set[str] = set()
    try:
        _run(work, outcome, layers, checks, done)
    except Exception as exc:  # one table's failure must not stop the others
        spec.clients.discard_mine()
        outcome.error = f"{type(exc).__name__}: {exc}".strip()
        outcome.cause = cause_of(exc)
        outcome.log("error", f"failed: {outcome.error}\n{traceback.format_exc()}")
        outcome.events += [
            not_evaluated(assets.check_key(name), outcome.error) for name in checks - done
        ]
    return outcome


def _run(
    work: _Work, outcome: TableOutcome, layers: set[str], checks: set[str], done: set[str]
) -> None:
    table, assets = work.table, outcome.assets
    store = work.spec.connections.store(table.store)
    watermarks = WatermarkStore(store)
    watermark = watermarks.load(table)
    plan: TablePlan | None = None
    if "parquet" in layers:
        # The one planner gives the Columns tab its schema (a load alone records none).
        plan = plan_table(work.mysql(), table, watermark.columns if watermark else None)
    if SCHEMA_DRIFT_CHECK in checks:
        drift = schema_drift_result(assets.parquet, work.mysql(), store, work.target(), table)
        outcome.events.append(drift)
        done.add(SCHEMA_DRIFT_CHECK)
        _stop_if_blocking(assets, drift)
    if "parquet" in layers:
        _extract(work, outcome, watermarks)
    if "redshift" in layers:
        _load(work, outcome, watermarks, plan)
    if FRESHNESS_CHECK in checks and table.freshness_hours:
        outcome.events.append(
            freshness_result(assets.parquet, watermarks.load(table), table.freshness_hours)
        )
        done.add(FRESHNESS_CHECK)
    if ROW_COUNT_CHECK in checks:
        outcome.events.append(_row_count(work, outcome, watermarks))
        done.add(ROW_COUNT_CHECK)


def _row_count(work: _Work, outcome: TableOutcome, watermarks: WatermarkStore) -> Event:
    """The reconciliation. An error in it fails the check (ERROR), not the table: the table's
    rows are extracted and loaded by now, and its materializations stand."""
    asset, table = outcome.assets.warehouse, work.table
    try:
        return row_count_result(asset, work.mysql(), watermarks, work.target(), table, _keys(work))
    except Exception as exc:
        work.spec.clients.discard_mine()  # a connection the error left broken is not reused
        outcome.log("error", f"row count check: {exc!r}\n{traceback.format_exc()}")
        return row_count_event(asset, table_error(table, exc))


def _keys(work: _Work) -> list[str] | None:
    """The run's partition keys (a partitioned run); None: every window extracted."""
    keys = [w[0] for w in work.spec.windows if w is not None]
    return keys or None


class BlockedByCheck(RuntimeError):
    """A blocking check failed: the table goes no further in this run."""


def _stop_if_blocking(assets: TableAssets, result: dg.AssetCheckResult) -> None:
    """A failed blocking check (ERROR) stops its table before it writes anything, the way
    Dagster stops what follows a blocking check; the other tables go on."""
    blocking = {c.name for c in assets.checks if c.blocking}
    failed = not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
    if failed and result.check_name in blocking:
        raise BlockedByCheck(f"blocking check {result.check_name} failed: {result.description}")


def _materializations(
    work: _Work,
    key: dg.AssetKey,
    results: Sequence[object],
    metadata: Callable[[Sequence], Metadata],
) -> list[Event]:
    """One materialization per table, or per partition with that window's own figures.

    Recorded as materialization events, not as the op's outputs: an output costs Dagster a
    second event and a data-version lookup (~20 ms of CPU a table on a no-op run)."""
    windows = work.spec.windows
    if windows[0] is None:
        return [dg.AssetMaterialization(asset_key=key, metadata=metadata(results))]
    return [
        dg.AssetMaterialization(asset_key=key, partition=w[0], metadata=metadata([r]))
        for w, r in zip(windows, results, strict=True)
        if w is not None
    ]


def _extract(work: _Work, outcome: TableOutcome, watermarks: WatermarkStore) -> None:
    spec, table = work.spec, work.table
    store = spec.connections.store(table.store)
    run_table = replace(table, chunk_rows=spec.chunk_rows) if spec.chunk_rows else table
    results: list[ExtractResult] = []
    for window in spec.windows:
        results.append(
            extract_table(
                work.mysql(),
                store,
                watermarks,
                run_table,
                run_id=spec.run_id,
                max_rows=spec.max_rows,
                window=window[1] if window else None,
                on_file=lambda f: outcome.log("info", f"stored {f.key} ({f.rows:,} rows)"),
            )
        )
    for warning in dict.fromkeys(w for r in results for w in r.warnings):
        outcome.log("warning", warning)
    outcome.events += _materializations(
        work, outcome.assets.parquet, results, lambda rs: parquet_metadata(table, store, rs)
    )


def _load(
    work: _Work, outcome: TableOutcome, watermarks: WatermarkStore, plan: TablePlan | None
) -> None:
    spec, table = work.spec, work.table
    store = spec.connections.store(table.store)
    results, warnings = [], []
    for window in spec.windows:
        with spec.load_lock(table.target):
            result, warned = load_table(
                work.target(),
                store,
                watermarks,
                table,
                run_id=spec.run_id,
                window=window[1] if window else None,
                # MySQL for the delete pass after the load (sync/deletes.py) and the DEFAULT
                # of a column MySQL added (load/mysql_defaults.py).
                source=work.mysql(),
            )
        results.append(result)
        warnings += warned
    for warning in dict.fromkeys(warnings):
        outcome.log("warning", warning)
    truncated = {c: n for r in results for c, n in r.truncated.items()}
    if truncated:
        outcome.log("warning", f"text values truncated to 65,535 bytes: {truncated}")
    watermark = watermarks.load(table)  # the warehouse names it recorded
    outcome.events += _materializations(
        work,
        outcome.assets.warehouse,
        results,
        lambda rs: warehouse_metadata(table, rs, plan, watermark),
    )
