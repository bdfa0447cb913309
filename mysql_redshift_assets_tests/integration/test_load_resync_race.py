"""A load racing a resync (issue 22, defect 2): an older file is never merged over a newer
generation, on DuckDB and PostgreSQL, ending row by row against MySQL.

Each race is arranged the same way: the table synced, then three rounds of `UPDATE t SET v=v+1`
each extracted and not loaded, then rows 1-300 changed again and not extracted. A load (a thread
of its own) takes the three rounds' files; a resync re-reads the table into a new generation.
Barriers the test controls, never a sleep, decide who goes first:

- the load held in staging while the resync runs to its end (the issue's reproduction): the
  load must find, under its lock, that the table moved to a new lineage, and merge nothing;
- the load held under its lock, its fence passed, until the resync (extracted, the watermark
  switched) waits for the lock to swap: the load merges and commits, the swap then replaces it.

Three shapes: an incremental table (its increments vs the resync's generation), a full table
(its newest generation vs the resync's) and an id_range window (the window's generation vs the
resync's swap of every window).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import pytest

from mysql_redshift_assets.connect import open_source, open_store, open_warehouse
from mysql_redshift_assets.load.base import Warehouse
from mysql_redshift_assets.load.duckdb import DuckDBWarehouse
from mysql_redshift_assets.load.postgres import PostgresWarehouse
from mysql_redshift_assets.load.request import LoadError, LoadResult, StaleLoad
from mysql_redshift_assets.load.swap import swap_in
from mysql_redshift_assets.maintenance.resync import ResyncResult, resync_table
from mysql_redshift_assets.maintenance.windows import window_of
from mysql_redshift_assets.naming import ledger_entry_name
from mysql_redshift_assets.partitions import Window
from mysql_redshift_assets.state.watermark import FileRecord, Watermark, WatermarkStore
from mysql_redshift_assets.sync import load as sync_load
from mysql_redshift_assets.sync.clients import OpenClients
from mysql_redshift_assets.sync.extract import extract_table
from mysql_redshift_assets.sync.load import candidate_files, load_request
from mysql_redshift_assets.sync.table import SyncRun, TableSync
from mysql_redshift_assets_tests.conftest import pg_query
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows
from mysql_redshift_assets_tests.integration.late_sessions import TARGETS, sync_on

pytestmark = [pytest.mark.mariadb]

COLUMNS = ["id", "v", "updated_at"]
ROWS = 400
SHAPES: dict[str, dict[str, Any]] = {
    "incremental": {"cursor": "updated_at"},
    "full": {"mode": "full"},
    "id_range": {"mode": "id_range", "id_range": {"size": 250}},
}
RACING_WINDOW = "0-250"  # the id_range window the racing load loads
WAIT = 120  # seconds a barrier waits before the test fails instead of hanging


@dataclass
class Race:
    """One table of the race: extract, load and resync it in process, each on its own
    connections (the load and the resync run in different threads)."""

    sync: Sync
    window: Window | None  # the window the racing load loads (id_range)

    def _open(self) -> tuple[Any, Any, Warehouse]:
        table = self.sync.table
        project = self.sync.project
        return (
            open_store(project, table.store),
            open_source(project, table.source),
            open_warehouse(project, table.target),
        )

    def extract(self, run_id: str, window: Window | None = None) -> None:
        store, source, warehouse = self._open()
        try:
            watermarks = WatermarkStore(store)
            extract_table(source, store, watermarks, self.sync.table, run_id=run_id, window=window)
        finally:
            source.close()
            warehouse.close()

    def load(self, run_id: str, window: Window | None = None) -> LoadResult:
        store, source, warehouse = self._open()
        try:
            # The warehouse asset's work: the load, then the delete pass.
            clients = OpenClients(source, store, warehouse)
            run = SyncRun(run_id, windows=[window] if window else [])
            sync = TableSync(self.sync.table, clients, run)
            return sync.run(extract=False).raise_failure().load_result()
        finally:
            source.close()
            warehouse.close()

    def resync(self, run_id: str) -> ResyncResult:
        store, source, warehouse = self._open()
        try:
            return resync_table(source, store, warehouse, self.sync.table, run_id=run_id)
        finally:
            source.close()
            warehouse.close()

    def watermark(self) -> Watermark:
        watermark = WatermarkStore(open_store(self.sync.project, self.sync.table.store)).load(
            self.sync.table
        )
        assert watermark is not None
        return watermark

    def ledger(self) -> list[tuple[str, Any]]:
        """(file key, loaded_at) of the table's ledger rows, oldest first."""
        warehouse = open_warehouse(self.sync.project, self.sync.table.target)
        try:
            schema = self.sync.table.target_schema
            return [
                (key, at)
                for key, at in warehouse.fetchall(
                    f'SELECT "file_key", "loaded_at" FROM {warehouse.ledger(schema)} '
                    f'WHERE "table_name" = {warehouse.ph} ORDER BY "loaded_at", "file_key"',
                    (ledger_entry_name(self.sync.table),),
                )
            ]
        finally:
            warehouse.close()


@pytest.fixture(params=TARGETS)
def target(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _arrange(request, make_project, mysql, mysql_db, target: str, shape: str) -> Race:
    """Synced; three rounds extracted and not loaded; rows 1-300 changed, not extracted."""
    with mysql.cursor() as cur:
        cur.execute(
            "CREATE TABLE t (id INT PRIMARY KEY, v BIGINT NOT NULL, "
            "updated_at DATETIME(6) NOT NULL, KEY (updated_at, id))"
        )
        cur.executemany(
            "INSERT INTO t VALUES (%s, %s, '2024-01-01')", [(i, i) for i in range(1, ROWS + 1)]
        )
    sync = sync_on(
        request, make_project, mysql_db, "t", SHAPES[shape], target,
        late_commit_window_seconds=0, upper_bound_lag_seconds=0,
    )  # fmt: skip
    race = Race(sync, window_of(sync.table, RACING_WINDOW) if shape == "id_range" else None)
    windows = [window_of(sync.table, k) for k in ("0-250", "250-500")] if race.window else [None]
    for window in windows:
        race.extract("first", window)
        race.load("first", window)
    assert_same_rows(mysql, sync, COLUMNS, ["id"])
    for day in (2, 3, 4):
        with mysql.cursor() as cur:
            cur.execute(f"UPDATE t SET v = v + 1, updated_at = '2024-01-0{day}'")
        race.extract(f"round-{day}", race.window)
    with mysql.cursor() as cur:
        cur.execute("UPDATE t SET v = v + 1000000, updated_at = '2024-01-05' WHERE id <= 300")
    return race


def _old_files(race: Race) -> list[FileRecord]:
    """The files the racing load takes: what the ledger lacks of its candidates."""
    watermark = race.watermark()
    loaded = {key for key, _ in race.ledger()}
    files = candidate_files(race.sync.table, watermark, race.window.key if race.window else None)
    return [f for f in files if f.key not in loaded]


def _in_thread(prefix: str) -> bool:
    return threading.current_thread().name.startswith(prefix)


@pytest.fixture
def warehouse_class(target: str) -> type[Warehouse]:
    return PostgresWarehouse if target == "postgres" else DuckDBWarehouse


@dataclass
class Barrier:
    """`reached` is set when the held thread gets there; it waits for `release`."""

    reached: threading.Event
    release: threading.Event

    @classmethod
    def new(cls) -> Barrier:
        return cls(threading.Event(), threading.Event())

    def hold(self) -> None:
        if not self.reached.is_set():
            self.reached.set()
            assert self.release.wait(WAIT), "the barrier was never released"


@pytest.fixture
def held() -> Iterator[Barrier]:
    barrier = Barrier.new()
    yield barrier
    barrier.release.set()  # never leave a thread waiting


@pytest.mark.parametrize("shape", list(SHAPES))
def test_a_load_held_in_staging_while_a_resync_swaps_merges_nothing_old(
    request, make_project, mysql, mysql_db, target: str, shape: str,
    warehouse_class: type[Warehouse], held: Barrier, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The issue's reproduction: the load reads the watermark and stages the three rounds;
    the resync extracts, switches the watermark and swaps its generation in; then the load
    takes its lock. It must merge none of its files, and MySQL == the warehouse."""
    race = _arrange(request, make_project, mysql, mysql_db, target, shape)
    old = {f.key for f in _old_files(race)}
    assert old
    real_copy = warehouse_class.copy_into_staging

    def copy_then_hold(self, *args, **kwargs):
        copied = real_copy(self, *args, **kwargs)
        if _in_thread("stale-load"):
            held.hold()  # staged, the staging transaction still open, no lock held
        return copied

    monkeypatch.setattr(warehouse_class, "copy_into_staging", copy_then_hold)
    with ThreadPoolExecutor(1, thread_name_prefix="stale-load") as pool:
        load = pool.submit(race.load, "stale-load", race.window)
        assert held.reached.wait(WAIT), "the load never staged"
        try:
            resynced = race.resync("resync")
        finally:
            held.release.set()
        loaded = load.result(timeout=WAIT)

    assert_same_rows(mysql, race.sync, COLUMNS, ["id"])
    ledger = race.ledger()
    assert not old & {key for key, _ in ledger}, "a file the resync superseded was loaded"
    assert not old & set(loaded.files_loaded)
    assert loaded.attempts == 2  # its fence sent it back once, to the resync's watermark
    # Nothing of the old life is recorded after the generation.
    new = {f.key for f in resynced.files}
    first_new = min(at for key, at in ledger if key in new)
    assert all(key in new for key, at in ledger if at >= first_new)


def _waiting_for_the_lock(
    race: Race, target: str, monkeypatch: pytest.MonkeyPatch
) -> Callable[[], bool]:
    """True once the resync's thread waits for the target's lock, which the load holds:
    PostgreSQL shows an ungranted lock on the table; DuckDB's table mutex is asked for while
    it is held."""
    if target == "postgres":
        schema = race.sync.table.target_schema

        def ungranted() -> bool:
            return bool(
                pg_query(
                    "SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE NOT l.granted AND n.nspname = %s AND c.relname = 't'",
                    (schema,),
                )
            )

        return ungranted
    asked = threading.Event()
    real_mutex = DuckDBWarehouse._table_mutex

    def table_mutex(self, table: str) -> threading.Lock:
        mutex = real_mutex(self, table)
        if _in_thread("resync") and mutex.locked():
            asked.set()
        return mutex

    monkeypatch.setattr(DuckDBWarehouse, "_table_mutex", table_mutex)
    return asked.is_set


@pytest.mark.parametrize("shape", list(SHAPES))
def test_a_resync_swap_waits_for_a_load_merging_older_files_then_replaces_them(
    request, make_project, mysql, mysql_db, target: str, shape: str,
    warehouse_class: type[Warehouse], held: Barrier, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The other order: the load holds its lock, its fence passed (the resync had not switched
    the watermark yet), about to merge the three rounds; the resync extracts, switches the
    watermark and asks for the lock to swap. The swap must wait for the load's commit, then
    replace it all."""
    race = _arrange(request, make_project, mysql, mysql_db, target, shape)
    old = [f.key for f in _old_files(race)]
    real_delete = warehouse_class._delete_replaced_rows

    def hold_then_delete(self, *args, **kwargs):
        if _in_thread("stale-load"):
            held.hold()  # under the lock, the fence passed, nothing written yet
        real_delete(self, *args, **kwargs)

    monkeypatch.setattr(warehouse_class, "_delete_replaced_rows", hold_then_delete)
    waiting = _waiting_for_the_lock(race, target, monkeypatch)
    with (
        ThreadPoolExecutor(1, thread_name_prefix="stale-load") as loads,
        ThreadPoolExecutor(1, thread_name_prefix="resync") as resyncs,
    ):
        load = loads.submit(race.load, "stale-load", race.window)
        assert held.reached.wait(WAIT), "the load never took its lock"
        try:
            resync = resyncs.submit(race.resync, "resync")
            # Until the resync waits for the lock or (a lock that holds nothing) is done.
            deadline = time.monotonic() + WAIT
            while not (waiting() or resync.done()):
                assert time.monotonic() < deadline, "the resync neither waited nor ended"
                time.sleep(0.02)
            waited = not resync.done()
        finally:
            held.release.set()
        loaded = load.result(timeout=WAIT)
        resynced = resync.result(timeout=WAIT)

    assert waited, "the resync swapped while the load held the target's lock"
    assert_same_rows(mysql, race.sync, COLUMNS, ["id"])
    assert loaded.files_loaded == old and loaded.attempts == 1
    ledger = [key for key, _ in race.ledger()]
    new = [f.key for f in resynced.files]
    assert set(new) <= set(ledger)
    assert max(ledger.index(k) for k in old) < min(ledger.index(k) for k in new)


# -- the fence itself ---------------------------------------------------------------------------


def _stale(reason: str, calls: list[str]) -> Callable[[], str | None]:
    def fence() -> str | None:
        calls.append(reason)
        return reason

    return fence


def test_a_stale_fence_rolls_back_the_merge_and_the_swap_unretried(
    request, make_project, mysql, mysql_db, target: str
) -> None:
    """A fence that says the table moved on: the merge and the swap roll back under the lock,
    each after one call (never retried with the same request); target and ledger unchanged."""
    race = _arrange(request, make_project, mysql, mysql_db, target, "incremental")
    before = (race.sync.warehouse_rows(COLUMNS, ["id"]), race.ledger())
    store = open_store(race.sync.project, race.sync.table.store)
    watermark = race.watermark()
    warehouse = open_warehouse(race.sync.project, race.sync.table.target)
    calls: list[str] = []
    try:
        stale = load_request(
            race.sync.table, watermark, None, run_id="stale",
            fence=_stale("a resync switched it to lineage x", calls),
        )  # fmt: skip
        with pytest.raises(StaleLoad, match="a resync switched it to lineage x"):
            warehouse.load(stale, store)
        assert calls == ["a resync switched it to lineage x"]
        with pytest.raises(StaleLoad, match="lineage x"):
            swap_in(warehouse, store, replace(stale, candidates=_old_files(race)))
        assert len(calls) == 2
    finally:
        warehouse.close()
    assert (race.sync.warehouse_rows(COLUMNS, ["id"]), race.ledger()) == before


def test_a_table_that_moves_on_at_every_attempt_fails_the_load_naming_it(
    request, make_project, mysql, mysql_db, target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """load_table starts over from a fresh watermark when its fence trips, a bounded number of
    times, then fails naming the table; nothing is loaded. Then an ordinary load is exact."""
    race = _arrange(request, make_project, mysql, mysql_db, target, "incremental")
    before = (race.sync.warehouse_rows(COLUMNS, ["id"]), race.ledger())
    real_load = WatermarkStore.load
    reads: list[str] = []

    def a_new_lineage_at_every_read(self, table):
        watermark = real_load(self, table)
        reads.append(f"lineage-{len(reads)}")
        return watermark.model_copy(update={"lineage": reads[-1]})

    with monkeypatch.context() as patched:
        patched.setattr(WatermarkStore, "load", a_new_lineage_at_every_read)
        with pytest.raises(LoadError, match=rf"{race.sync.table.qualified}.*moved on") as failed:
            race.load("always-stale")
    assert not isinstance(failed.value, StaleLoad)
    # The no-op check's read (sync/noop.py: the table was loaded before), then each attempt:
    # its read, its fence's.
    assert len(reads) == 1 + 2 * sync_load.FENCE_ATTEMPTS
    assert (race.sync.warehouse_rows(COLUMNS, ["id"]), race.ledger()) == before

    race.extract("after")
    race.load("after")
    assert_same_rows(mysql, race.sync, COLUMNS, ["id"])
