"""Object store -> warehouse: load exactly the recorded files the ledger lacks.

A load racing a resync. A load reads the watermark once, then stages its files without the
target's lock; meanwhile a resync may switch the watermark to a new lineage and swap its
generation in, and a merge of the files staged would put older rows over newer ones (issue 22).
So each request carries a fence (`watermark_fence`): under the lock, after the ledger re-check,
the watermark is read again and the request's identity compared: its lineage, and the
generation it takes (a full table's, a window's; every window's for a resync's swap). A
different one rolls the attempt back (StaleLoad) and the load starts over from the watermark
as it is then, at most FENCE_ATTEMPTS times. Why that suffices, for the steps R (the load reads
the watermark), S (it stages), W (the resync writes the watermark), X (the resync swaps, under
the lock) and L (the load locks, reads the fence, merges, commits): every write of a table's
rows holds its lock until it commits; an identity never comes back (lineages and generation ids
are new each time); W comes before X, whose request is read after W; the store reads its own
writes (S3 is strongly consistent, a folder is).
- W before R: the load reads the new identity; the generation is swapped in by whichever of the
  two gets the lock first, and the other finds it in the ledger.
- R before W before L (the issue's reproduction: W and X while the load stages, S): the fence
  reads the new identity: StaleLoad, nothing merged; the next attempt swaps the generation in
  or finds it in the ledger.
- L before W (the fence passed): X waits for the lock, so the load's commit comes first and the
  swap then replaces the whole table (every window): the older rows merged are gone.
The same argument holds for a window's or a full table's generation against a newer one of the
same lineage, and for the resync's own swap against a later resync. A schema change the stale
files would bring (`load/alter.py`) runs before the lock and is not fenced: it may add a column
of the old shape or widen one, and changes no value a row holds. On DuckDB the lock holds
against the other connections of one process (`load/duckdb.py`); no other process can open
the file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TypeVar

from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.load.alter import evolve_before_load
from mysql_redshift_assets.load.base import LoadRequest, LoadResult, Warehouse
from mysql_redshift_assets.load.evolve import SchemaChangeRefused
from mysql_redshift_assets.load.mysql_defaults import ColumnDefault
from mysql_redshift_assets.load.request import (
    Fence,
    LoadError,
    PhysicalKeys,
    ReplaceWindow,
    SortKey,
    StaleLoad,
)
from mysql_redshift_assets.load.swap import swap_in
from mysql_redshift_assets.partitions import Window
from mysql_redshift_assets.state.watermark import FileRecord, Watermark, WatermarkStore
from mysql_redshift_assets.store.objectstore import ObjectStore

T = TypeVar("T")
# Loads of one table started over because its watermark moved on under them, before failing.
FENCE_ATTEMPTS = 3

log = logging.getLogger(__name__)


def candidate_files(
    table: TableConfig, watermark: Watermark, partition: str | None = None
) -> list[FileRecord]:
    """Files a load may take: every recorded incremental file, or the newest complete generation
    (of the table, or of one partition).

    Never a prefix listing: a file exists for the loader only once the watermark records it,
    which happens only after it is durably stored.
    """
    if table.mode == "incremental":
        return watermark.files_of(None)
    generation = watermark.latest_complete_generation(partition)
    return watermark.files_of(generation.id) if generation else []


def _normalised(name: str, mapping: dict[str, str]) -> str | None:
    if name in mapping:
        return mapping[name]
    return name if name in mapping.values() else None


def physical_keys(table: TableConfig, watermark: Watermark) -> PhysicalKeys:
    """DISTKEY / SORTKEY from YAML, checked against the table; unknown names fall back to AUTO."""
    warnings: list[str] = []
    distkey = None
    if table.distkey:
        distkey = _normalised(table.distkey, watermark.columns)
        if distkey is None:
            warnings.append(
                table.error("distkey", f"unknown column {table.distkey!r}; using DISTSTYLE AUTO")
            )
    sortkey = None
    if table.sortkey:
        columns = [_normalised(c, watermark.columns) for c in table.sortkey.columns]
        unknown = [c for c, n in zip(table.sortkey.columns, columns, strict=True) if n is None]
        if unknown:
            warnings.append(
                table.error(
                    "sortkey", f"unknown column(s) {', '.join(unknown)}; using SORTKEY AUTO"
                )
            )
        else:
            sortkey = SortKey(table.sortkey.type, [c for c in columns if c])
    return PhysicalKeys(distkey, sortkey, warnings)


def replace_window(window: Window | None, watermark: Watermark) -> ReplaceWindow | None:
    """The load's replace predicate for `window`: (warehouse column, lo, hi); `validate`
    restricts the warehouse side of a window to the same."""
    if window is None:
        return None
    if window.kind == "time":
        if watermark.cursor is None:
            return None
        return ReplaceWindow(watermark.columns[watermark.cursor], window.lo, window.hi)
    return ReplaceWindow(
        watermark.columns[watermark.primary_key[0]], int(window.lo), int(window.hi)
    )


def _identity(watermark: Watermark, partitions: Sequence[str | None]) -> tuple[object, ...]:
    """What a request's files stand for: the lineage, and the newest complete generation of
    each partition it takes a generation of (None: the table's)."""
    newest = [watermark.latest_complete_generation(p) for p in partitions]
    return (watermark.lineage, *(g.id if g else None for g in newest))


def fence_partitions(table: TableConfig, window: Window | None) -> list[str | None]:
    """The partitions whose generation a load of `table` (`window`) takes: none for an
    incremental table (a resync's generation comes with a new lineage), else its window's."""
    return [] if table.mode == "incremental" else [window.key if window else None]


def watermark_fence(
    watermarks: WatermarkStore,
    table: TableConfig,
    watermark: Watermark,
    partitions: Sequence[str | None],
) -> Fence:
    """A request's fence: the watermark read again (under the lock) still has the identity of
    `watermark`, the one the request was built from."""
    expected = _identity(watermark, partitions)

    def fence() -> str | None:
        current = watermarks.load(table)
        if current is None:
            return f"the watermark of {table.qualified} was removed since this load read it"
        now = _identity(current, partitions)
        if now == expected:
            return None
        if now[0] != expected[0]:
            return (
                f"{table.qualified} was switched from lineage {expected[0]} to {now[0]} (a "
                "resync, or a new watermark) since this load read it"
            )
        return (
            f"a newer generation of {table.qualified} ({', '.join(map(str, now[1:]))}) replaced "
            f"{', '.join(map(str, expected[1:]))} since this load read it"
        )

    return fence


def load_request(
    table: TableConfig,
    watermark: Watermark,
    window: Window | None,
    *,
    run_id: str,
    fence: Fence | None,
    candidates: list[FileRecord] | None = None,
) -> LoadRequest:
    """The load of `table` (`window`) as `watermark` says: its files (or `candidates`), keys
    and physical keys (their warnings are `physical_keys`'s to report)."""
    distkey, sortkey, _ = physical_keys(table, watermark)
    if candidates is None:
        candidates = candidate_files(table, watermark, window.key if window else None)
    return LoadRequest(
        table=table,
        primary_key=[watermark.columns[k] for k in watermark.primary_key],
        cursor=watermark.columns.get(watermark.cursor) if watermark.cursor else None,
        candidates=candidates,
        run_id=run_id,
        distkey=distkey,
        sortkey=sortkey,
        window=replace_window(window, watermark),
        watermark=watermark,
        fence=fence,
    )


def with_fresh_watermark(
    watermarks: WatermarkStore, table: TableConfig, step: Callable[[Watermark], T]
) -> T | None:
    """`step` on the watermark as it is now; again on the watermark as it is then when a fence
    finds it moved on (StaleLoad), at most FENCE_ATTEMPTS times. None: no watermark."""
    for attempt in range(1, FENCE_ATTEMPTS + 1):
        watermark = watermarks.load(table)
        if watermark is None:
            return None
        try:
            return step(watermark)
        except StaleLoad as exc:
            if attempt == FENCE_ATTEMPTS:
                raise LoadError(
                    f"{table.qualified}: its watermark moved on under the load {attempt} times "
                    f"(resyncs or newer generations racing it; the last: {exc}). Run the load "
                    "again once they are done"
                ) from exc
            log.warning("%s; loading again from the watermark as it is now", exc)
    raise AssertionError("unreachable")


def _unloaded_generation(
    warehouse: Warehouse, request: LoadRequest, watermark: Watermark
) -> list[FileRecord]:
    """An incremental table's generation (a resync's) the ledger lacks: it replaces the table
    before the increments after it are merged."""
    generation = watermark.latest_complete_generation(None)
    if request.mode != "incremental" or generation is None:
        return []
    files = watermark.files_of(generation.id)
    loaded = warehouse.loaded_keys(request.target_schema, request.ledger_name)
    warehouse.commit()
    return [] if all(f.key in loaded for f in files) else files


def _load_with_schema_changes(
    warehouse: Warehouse,
    store: ObjectStore,
    request: LoadRequest,
    watermark: Watermark,
    defaults: Mapping[str, ColumnDefault] | None,
    done: list[LoadResult],
) -> None:
    """The schema preflight (load/alter.py: apply exactly, or refuse before any write), then
    the load. A generation that replaces the table is swapped in whole (load/swap.py): a
    resync's, or a full table's whose shape changed in a way no ALTER keeps exact. Each
    committed step's result is appended to `done`."""
    generation = _unloaded_generation(warehouse, request, watermark)
    if generation:
        done.append(swap_in(warehouse, store, replace(request, candidates=generation)))
    try:
        added = evolve_before_load(warehouse, store, request, defaults)
    except SchemaChangeRefused:
        if request.mode != "full":
            raise
        done.append(swap_in(warehouse, store, request))
        return
    result = warehouse.load(request, store)
    result.columns_added = [*added, *result.columns_added]
    done.append(result)


def _combined(done: list[LoadResult], attempts: int) -> LoadResult:
    """The last step's result, with every earlier step's rows, copies, files and time added
    (a swap before the merge; steps committed before a fence sent the load back)."""
    result = done[-1]
    for earlier in reversed(done[:-1]):
        result.rows_loaded += earlier.rows_loaded
        result.copies = [*earlier.copies, *result.copies]
        result.files_loaded = [*earlier.files_loaded, *result.files_loaded]
        result.seconds += earlier.seconds
    result.attempts += attempts - 1
    return result


def load_table(
    warehouse: Warehouse,
    store: ObjectStore,
    watermarks: WatermarkStore,
    table: TableConfig,
    *,
    run_id: str,
    window: Window | None = None,
    defaults: Mapping[str, ColumnDefault] | None = None,
) -> tuple[LoadResult, list[str]]:
    """Load what the ledger lacks (for a partitioned table: the newest generation of `window`,
    replacing the window), fenced against the watermark moving on (the module's docstring);
    returns the result and any warnings for the user. `defaults`: MySQL's DEFAULTs
    (`extract.plan.plan_defaults`), what a column MySQL added holds in the rows loaded before
    it; None: such a column is NULL there. The delete pass is a step of its own, after the
    load (`sync/deletes.py`, `sync/table.py`)."""
    done: list[LoadResult] = []
    warnings: list[str] = []
    attempts = 0

    def attempt(watermark: Watermark) -> None:
        nonlocal attempts, warnings
        attempts += 1
        warnings = physical_keys(table, watermark)[2]
        fence = watermark_fence(watermarks, table, watermark, fence_partitions(table, window))
        request = load_request(table, watermark, window, run_id=run_id, fence=fence)
        _load_with_schema_changes(warehouse, store, request, watermark, defaults, done)

    with_fresh_watermark(watermarks, table, attempt)
    if not attempts:
        return LoadResult(), [table.error(None, "nothing extracted yet: no watermark in the store")]
    for w in warnings:
        log.warning(w)
    return (_combined(done, attempts) if done else LoadResult()), warnings
