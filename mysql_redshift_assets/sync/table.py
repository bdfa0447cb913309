"""What happens to a table on a sync: its steps, in order, each returning its result.

    with Clients(project) as clients:
        result = TableSync(table, clients, SyncRun(run_id)).run(check_schema=True)

`run` takes the steps in this order (each is also a method of its own):
1. `plan()`: the table planned against MySQL now (`extract/plan.py`), before anything else: an
   unknown table or column fails here. (Only with an extraction: it gives the warehouse asset its
   column schema.)
2. `check_schema() -> SchemaCheck` (`sync/drift.py`): MySQL now, the files the ledger lacks and
   the warehouse table; a change the load would refuse stops the table here (`BlockedByCheck`),
   before it writes anything.
3. `extract() -> list[ExtractResult]` (`sync/extract.py`): MySQL -> Parquet files in the store,
   each recorded in the watermark as it is stored; one extraction a window of a partitioned run.
4. `load() -> Loaded` (`sync/load.py`): the recorded files the ledger lacks -> the warehouse,
   exactly once, a window at a time, one load a warehouse at a time (`LoadLocks`). MySQL's
   DEFAULTs come with it as data (`extract.plan.plan_defaults`): the load reads no MySQL.
5. `propagate_deletes() -> DeletePass` (`sync/deletes.py`): an incremental table with `deletes:
   propagate` has the keys MySQL no longer has deleted from the warehouse, after its load.

A step that raises ends the run: `TableSyncResult.failed` names the step and holds the error;
what the steps before it did stands in the result (a load that fails leaves the extraction's
files recorded). The row-count reconciliation reads every row of both sides and is not a step:
`maintenance/validate.py`. `defs/table_run.py` turns a result into Dagster events; the CLI's
`sync` runs it through Dagster; `maintenance/resync.py` uses the load and delete steps.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.extract import TablePlan, plan_table
from mysql_redshift_assets.extract.plan import plan_defaults
from mysql_redshift_assets.extract.slots import SourceSlots
from mysql_redshift_assets.extract.source import Source
from mysql_redshift_assets.load.base import Warehouse
from mysql_redshift_assets.load.deletes import minutes_since_last_pass
from mysql_redshift_assets.load.mysql_defaults import column_defaults
from mysql_redshift_assets.load.request import LoadResult
from mysql_redshift_assets.naming import SCHEMA_DRIFT_CHECK, target_table
from mysql_redshift_assets.partitions import Window
from mysql_redshift_assets.state.watermark import FileRecord, Watermark, WatermarkStore
from mysql_redshift_assets.store.objectstore import ObjectStore
from mysql_redshift_assets.sync import drift, noop, progress
from mysql_redshift_assets.sync.binlog import BinlogCapture
from mysql_redshift_assets.sync.binlog_copy import copy_at_position
from mysql_redshift_assets.sync.clients import TableClients
from mysql_redshift_assets.sync.deletes import DeletePass, propagate_deletes
from mysql_redshift_assets.sync.drift import SchemaCheck
from mysql_redshift_assets.sync.extract import ExtractResult, extract_table
from mysql_redshift_assets.sync.load import load_table
from mysql_redshift_assets.sync.shaping_guard import refuse_changed_shaping

T = TypeVar("T")
log = logging.getLogger(__name__)
Step = Literal["plan", "check_schema", "extract", "load", "propagate_deletes"]
Note = tuple[Literal["info", "warning"], str]  # (level, message) for the run's log


class LoadLocks:
    """Loads into one warehouse run one at a time: tables extract side by side, but concurrent
    DDL on the shared ledger conflicts (DuckDB: "Catalog write-write conflict"; PostgreSQL's
    CREATE TABLE IF NOT EXISTS races the same way). A no-op load is one ledger query."""

    def __init__(self) -> None:
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def lock(self, target: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(target, threading.Lock())


@dataclass(frozen=True)
class SyncRun:
    """What every table of one run shares."""

    run_id: str
    windows: list[Window] = field(default_factory=list)  # a partitioned run's; [] otherwise
    max_rows: int | None = None  # each table stops after this many rows
    page_rows: int | None = None  # rows a MySQL query, this run only (None: `chunk_rows`)
    load_locks: LoadLocks = field(default_factory=LoadLocks)
    # A slot of the source's pool held on the MySQL server while a table reads it (its
    # extraction, its delete pass): `extract/slots.py`. None: no bound (a library caller's).
    slots: SourceSlots | None = None
    # `capture: binlog` tables: one binlog stream per source for the run (`sync/binlog.py`).
    binlog: BinlogCapture = field(default_factory=BinlogCapture)

    @property
    def each_window(self) -> list[Window | None]:
        """What each step runs over: the run's windows, or the whole table (None)."""
        return list(self.windows) or [None]

    @property
    def partition_keys(self) -> list[str] | None:
        """The run's partition keys (a partitioned run); None: a table's run."""
        return [w.key for w in self.windows] or None


class BlockedByCheck(RuntimeError):
    """A blocking check failed: the table goes no further in this run."""


@dataclass
class Loaded:
    """The load step: one result a window (the table's: one), its warnings for the user, and
    the watermark as it is after the load (the warehouse names it recorded)."""

    results: list[LoadResult]
    warnings: list[str]
    watermark: Watermark | None


@dataclass
class StepFailed:
    step: Step
    error: Exception
    trace: str  # the traceback, for the run's log

    @property
    def message(self) -> str:
        return f"{type(self.error).__name__}: {self.error}".strip()


@dataclass
class TableSyncResult:
    """Each step's result (None: not run), and the step that failed, if one did."""

    table: TableConfig
    plan: TablePlan | None = None
    schema: SchemaCheck | None = None
    extracted: list[ExtractResult] | None = None
    loaded: Loaded | None = None
    deletes: DeletePass | None = None
    notes: list[Note] = field(default_factory=list)  # files stored, warnings: the run's log
    failed: StepFailed | None = None

    def raise_failure(self) -> TableSyncResult:
        """The result, or the failed step's error raised again."""
        if self.failed is not None:
            raise self.failed.error
        return self

    def load_result(self) -> LoadResult:
        """The load as one result (a table's run loads one window: the table)."""
        assert self.loaded is not None and len(self.loaded.results) == 1
        return self.loaded.results[0]


class _Stopped(Exception):
    def __init__(self, failed: StepFailed) -> None:
        self.failed = failed


def _step(name: Step, run: Callable[[], T]) -> T:
    try:
        return run()
    except Exception as exc:
        raise _Stopped(StepFailed(name, exc, traceback.format_exc())) from exc


class TableSync:
    """One table's run over `clients` (opened by name as a step needs them)."""

    def __init__(self, table: TableConfig, clients: TableClients, spec: SyncRun) -> None:
        self.table, self.clients, self.spec = table, clients, spec
        self.skipped_warehouse = False  # nothing new: no warehouse session (`noop.py`)

    @property
    def source(self) -> Source:
        return self.clients.source(self.table.source)

    @property
    def store(self) -> ObjectStore:
        return self.clients.store(self.table.store)

    @property
    def warehouse(self) -> Warehouse:
        return self.clients.warehouse(self.table.target)

    @property
    def watermarks(self) -> WatermarkStore:
        return WatermarkStore(self.store)

    def watermark(self) -> Watermark | None:
        return self.watermarks.load(self.table)

    # -- the steps --------------------------------------------------------------------------
    def plan(self) -> TablePlan:
        watermark = self.watermark()
        return plan_table(self.source, self.table, watermark.columns if watermark else None)

    def check_schema(self) -> SchemaCheck:
        return drift.check_schema(self.source, self.store, self.warehouse, self.table)

    def slot(self) -> contextlib.AbstractContextManager[str | None]:
        """A slot of the source's pool while the block reads MySQL (none without `slots`)."""
        if self.spec.slots is None:
            return contextlib.nullcontext()
        return self.spec.slots.hold(self.source, self.table.qualified)

    def extract(self, on_file: Callable[[FileRecord], None] | None = None) -> list[ExtractResult]:
        refuse_changed_shaping(self.store, self.table, self.watermark())  # issue 27
        with self.slot():
            if self.table.binlog:
                return [self._binlog_changes(on_file)]
            return self._extract_windows(on_file)

    def _binlog_changes(self, on_file: Callable[[FileRecord], None] | None) -> ExtractResult:
        """`capture: binlog`: the initial copy at a binlog position, or the changes since."""
        watermark, spec = self.watermark(), self.spec
        if watermark is None or watermark.binlog_position is None:
            spec.binlog.copying(self.table)
            copied = copy_at_position(
                self.source, self.store, self.watermarks, self.table, run_id=spec.run_id
            )
            for record in copied.files if on_file else []:
                on_file(record)  # type: ignore[misc]
            return copied
        return spec.binlog.extract(
            self.source, self.store, self.table, run_id=spec.run_id, on_file=on_file
        )

    def _extract_windows(self, on_file: Callable[[FileRecord], None] | None) -> list[ExtractResult]:
        spec = self.spec
        return [
            extract_table(
                self.source,
                self.store,
                self.watermarks,
                self.table,
                run_id=spec.run_id,
                max_rows=spec.max_rows,
                page_rows=spec.page_rows,
                window=window,
                on_file=on_file,
            )
            for window in spec.each_window
        ]

    def load(self) -> Loaded:
        table, spec = self.table, self.spec
        marker = noop.read_marker(self.store, table) if noop.applies(table) else None
        if marker is not None:
            watermark = self.watermark()
            if noop.nothing_to_load(table, watermark, marker):
                self.skipped_warehouse = True
                return Loaded([LoadResult(table_rows=marker.table_rows)], [], watermark)
        defaults = column_defaults(plan_defaults(self.source, table))
        results, warnings = [], []
        for window in spec.each_window:
            # Waiting for the lock counts as loading.
            progress.report(progress.Step(table.qualified, "loading"))
            with spec.load_locks.lock(table.target):
                result, warned = load_table(
                    self.warehouse,
                    self.store,
                    self.watermarks,
                    table,
                    run_id=spec.run_id,
                    window=window,
                    defaults=defaults,
                )
            progress.report(progress.Step(table.qualified, "loaded", rows=result.rows_loaded))
            results.append(result)
            warnings += warned
        return Loaded(results, list(dict.fromkeys(warnings)), self.watermark())

    def propagate_deletes(self) -> DeletePass:
        # The load lock first, then the slot: a table holding a slot never waits for a load lock.
        with self.spec.load_locks.lock(self.table.target), self.slot():
            return propagate_deletes(
                self.source, self.warehouse, self.watermarks, self.table, run_id=self.spec.run_id
            )

    # -- the run ----------------------------------------------------------------------------
    def run(
        self, *, extract: bool = True, load: bool = True, check_schema: bool = False
    ) -> TableSyncResult:
        """The steps in order (the module's docstring); `check_schema`: the drift check first,
        which stops the table on a change the load would refuse."""
        result = TableSyncResult(self.table)
        try:
            if extract:  # the warehouse's column schema (a load alone records none)
                result.plan = _step("plan", self.plan)
            if check_schema:
                result.schema = _step("check_schema", self.check_schema)
                _step("check_schema", lambda: _stop_if_refused(result.schema))
            if extract:
                result.extracted = _step("extract", lambda: self._extract(result))
            if load:
                result.loaded = _step("load", self.load)
                if self._deletes_due(result.loaded):
                    result.deletes = _step("propagate_deletes", lambda: self._deletes(result))
                self._warn_loaded(result, result.loaded)
                self._remember(result)
        except _Stopped as stopped:
            self.clients.discard_mine()  # a connection the error left broken is not reused
            result.failed = stopped.failed
        return result

    def _extract(self, result: TableSyncResult) -> list[ExtractResult]:
        def stored(record: FileRecord) -> None:
            result.notes.append(("info", f"stored {record.key} ({record.rows:,} rows)"))

        extracted = self.extract(on_file=stored)
        self._warn(result, [w for r in extracted for w in r.warnings])
        return extracted

    def _remember(self, result: TableSyncResult) -> None:
        """After a load: record in the store whether every file it takes is in the ledger,
        so that the next sync with nothing new opens no warehouse session (`noop.py`)."""
        if self.skipped_warehouse:
            result.notes.append(("info", "nothing new since the last load: no warehouse session"))
            return
        if not noop.applies(self.table) or result.loaded is None:
            return
        try:
            watermark, warehouse = self.watermark(), self.warehouse
            if watermark is None:
                return
            loaded = warehouse.loaded_files(self.table, watermark)
            age = minutes_since_last_pass(warehouse, self.table, watermark)
            warehouse.commit()
            rows = result.loaded.results[-1].table_rows
            marker = noop.marker_after_load(watermark, loaded, rows, age)
            if marker is None:
                noop.forget(self.store, self.table)
            else:
                noop.write_marker(self.store, self.table, marker)
        except Exception as exc:  # only an optimisation: the next sync reads the ledger
            log.warning("%s: not recorded as loaded (%s)", self.table.qualified, exc)

    def _deletes_due(self, loaded: Loaded) -> bool:
        """An incremental table with `deletes: propagate` that has loaded (has a watermark)."""
        if self.skipped_warehouse:
            return False
        table = self.table
        # A binlog table's deletes come with its changes: no delete pass.
        propagate = (
            table.mode == "incremental"
            and table.deletes in ("propagate", "soft")
            and not table.binlog
        )
        return propagate and loaded.watermark is not None

    def _deletes(self, result: TableSyncResult) -> DeletePass:
        """The delete pass, counted in the load's result: its rows, the table's rows after it."""
        assert result.loaded is not None
        deletes = self.propagate_deletes()
        last = result.loaded.results[-1]
        last.rows_deleted = deletes.deleted
        if not deletes.ran and deletes.note.endswith("carries the deletes"):
            note = f"no delete pass this run: {deletes.note}"
            result.loaded.warnings.append(self.table.error("deletes", note))
        if deletes.deleted:  # else the load's count stands
            last.table_rows = self.warehouse.row_count(
                *target_table(self.table, result.loaded.watermark)
            )
            self.warehouse.commit()
        return deletes

    def _warn_loaded(self, result: TableSyncResult, loaded: Loaded) -> None:
        self._warn(result, loaded.warnings)
        truncated = {c: n for r in loaded.results for c, n in r.truncated.items()}
        if truncated:
            self._warn(result, [f"text values truncated to 65,535 bytes: {truncated}"])

    @staticmethod
    def _warn(result: TableSyncResult, warnings: list[str]) -> None:
        result.notes += [("warning", w) for w in dict.fromkeys(warnings)]


def _stop_if_refused(schema: SchemaCheck | None) -> None:
    """A change the load would refuse stops the table before it writes anything, the way
    Dagster stops what follows a failed blocking check; the other tables go on."""
    if schema is not None and not schema.passed:
        raise BlockedByCheck(f"blocking check {SCHEMA_DRIFT_CHECK} failed: {schema.describe()}")
