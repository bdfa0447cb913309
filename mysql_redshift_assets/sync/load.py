"""Object store -> warehouse: load exactly the recorded files the ledger lacks."""

from __future__ import annotations

import logging
from dataclasses import replace

from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.extract.source import Source
from mysql_redshift_assets.load.alter import evolve_before_load
from mysql_redshift_assets.load.base import LoadRequest, LoadResult, Warehouse
from mysql_redshift_assets.load.evolve import SchemaChangeRefused
from mysql_redshift_assets.load.mysql_defaults import read_mysql_defaults
from mysql_redshift_assets.load.swap import swap_in
from mysql_redshift_assets.partitions import Window
from mysql_redshift_assets.state.watermark import FileRecord, Watermark, WatermarkStore
from mysql_redshift_assets.store.objectstore import ObjectStore

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


def physical_keys(
    table: TableConfig, watermark: Watermark
) -> tuple[str | None, tuple[str, list[str]] | None, list[str]]:
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
            sortkey = (table.sortkey.type, [c for c in columns if c])
    return distkey, sortkey, warnings


def replace_window(
    window: Window | None, watermark: Watermark
) -> tuple[str, object, object] | None:
    """The load's replace predicate for `window`: (warehouse column, lo, hi); `validate`
    restricts the warehouse side of a window to the same."""
    if window is None:
        return None
    if window.kind == "time":
        if watermark.cursor is None:
            return None
        return watermark.columns[watermark.cursor], window.lo, window.hi
    return watermark.columns[watermark.primary_key[0]], int(window.lo), int(window.hi)


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
    source: Source | None,
) -> LoadResult:
    """The schema preflight (load/alter.py: apply exactly, or refuse before any write), then
    the load. A generation that replaces the table is swapped in whole (load/swap.py): a
    resync's, or a full table's whose shape changed in a way no ALTER keeps exact."""
    generation = _unloaded_generation(warehouse, request, watermark)
    swapped = (
        swap_in(warehouse, store, replace(request, candidates=generation)) if generation else None
    )
    defaults = None
    if source is not None:
        defaults = read_mysql_defaults(
            source, request.table.source_schema, request.table.source_table
        )
    try:
        added = evolve_before_load(warehouse, store, request, defaults)
    except SchemaChangeRefused:
        if request.mode != "full":
            raise
        return swap_in(warehouse, store, request)
    result = warehouse.load(request, store)
    result.columns_added = [*added, *result.columns_added]
    if swapped is not None:
        result.rows_loaded += swapped.rows_loaded
        result.copies = [*swapped.copies, *result.copies]
        result.files_loaded = [*swapped.files_loaded, *result.files_loaded]
        result.seconds += swapped.seconds
    return result


def load_table(
    warehouse: Warehouse,
    store: ObjectStore,
    watermarks: WatermarkStore,
    table: TableConfig,
    *,
    run_id: str,
    window: Window | None = None,
    source: Source | None = None,
) -> tuple[LoadResult, list[str]]:
    """Load what the ledger lacks (for a partitioned table: the newest generation of `window`,
    replacing the window); returns the result and any warnings for the user. Given the MySQL
    `source`, an incremental table with `deletes: propagate` then has its delete pass
    (`sync/deletes.py`), counted in `rows_deleted`."""
    watermark = watermarks.load(table)
    if watermark is None:
        return LoadResult(), [table.error(None, "nothing extracted yet: no watermark in the store")]
    distkey, sortkey, warnings = physical_keys(table, watermark)
    for w in warnings:
        log.warning(w)
    request = LoadRequest(
        table=table,
        primary_key=[watermark.columns[k] for k in watermark.primary_key],
        cursor=watermark.columns.get(watermark.cursor) if watermark.cursor else None,
        candidates=candidate_files(table, watermark, window.key if window else None),
        run_id=run_id,
        distkey=distkey,
        sortkey=sortkey,
        window=replace_window(window, watermark),
        watermark=watermark,
    )
    result = _load_with_schema_changes(warehouse, store, request, watermark, source)
    if source is not None and table.mode == "incremental" and table.deletes == "propagate":
        from mysql_redshift_assets.sync.deletes import propagate_deletes  # it imports this module

        deletes = propagate_deletes(source, warehouse, watermarks, table, run_id=run_id)
        result.rows_deleted = deletes.deleted
        if not deletes.ran and deletes.note.endswith("carries the deletes"):
            warnings.append(table.error("deletes", f"no delete pass this run: {deletes.note}"))
        result.table_rows = warehouse.row_count(request.target_schema, request.target_table)
        warehouse.commit()
    return result, warnings
