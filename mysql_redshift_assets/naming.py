"""Every name derived from a table spec or a pipeline, in exactly one place.

Object-store keys, warehouse tables, the load ledger, asset key paths and Dagster's op, job,
schedule, sensor and partitions names all come from here, so the parts of the system can never
disagree on what a thing is called (seed 003: components that normalised table names
differently could not find each other's files). Users have runs, schedules, cursors and
partitions stored under these names: change one only with a migration.

No Dagster import here: `defs/translator.py` turns an asset path into an AssetKey.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Literal, Protocol

from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.identifiers import (
    ascii_identifier,
    identifier_limit,
    normalize_identifier,
    short_hash,
)


class RecordedNames(Protocol):
    """What the names read of a table's watermark (`state/watermark.py`'s `Watermark`, which
    sits above this module): the warehouse names recorded for its YAML names."""

    @property
    def warehouse_names(self) -> Mapping[str, str]: ...


Layer = Literal["parquet", "redshift"]

# -- Assets -----------------------------------------------------------------------------------


# Dagster 1.13 takes any string in an AssetKey component, but a multi-asset names its output
# `AssetKey.to_python_identifier()` (`-` and `.` become `_`), which must be a valid name: so a
# component may hold letters, digits, `_`, `-` and `.`, nothing else.
_NOT_IN_A_KEY = re.compile(r"[^A-Za-z0-9_.-]")


def _key_component(raw: str) -> str:
    """`raw` if Dagster takes it as it is; else its other characters as `_` and a hash of `raw`,
    so that `order items`, `order_items` and `заказы` / `товары` stay apart."""
    if raw and not _NOT_IN_A_KEY.search(raw):
        return raw
    return f"{_NOT_IN_A_KEY.sub('_', raw)}_{short_hash(raw)}"


def asset_path(table: TableConfig, layer: Layer) -> list[str]:
    """The default key path of one of a table's assets, the table's name last in both (Dagster
    labels a lineage node with the last component):

    - `parquet`: `<pipeline>/<schema>/<table>`, the files in the store (kinds `parquet`, `s3`);
    - `redshift`: `<target_schema>/<table>`, keyed like the warehouse table it fills, so a dbt
      source over it lines up.

    `defs/translator.py` turns it into an AssetKey; a pipeline may override it there.
    """
    parts: tuple[str, ...] = (
        (table.pipeline, table.source_schema, table.source_table)
        if layer == "parquet"
        else target_table(table)
    )
    return [_key_component(p) for p in parts]


# -- Dagster names: groups, ops, jobs, schedules, sensors, partitions -------------------------

_NOT_IN_A_NAME = re.compile(r"[^A-Za-z0-9_]")


def dagster_name(raw: str) -> str:
    """`raw` as a valid Dagster name (`^[A-Za-z0-9_]+$`): any other character becomes `_`.

    `-` and `.` became `_` before any other character was allowed in a table name, and runs and
    cursors are stored under those names: they still do, plainly. A name holding anything else
    (a space, a non-Latin letter) also gets a hash of `raw`, so two such names stay apart. The
    names a plain `_` would merge (`a-b`, `a_b`) are refused when the definitions load.
    """
    name = _NOT_IN_A_NAME.sub("_", raw)
    return name if not _NOT_IN_A_KEY.search(raw) else f"{name}_{short_hash(raw)}"


def group_name(table: TableConfig) -> str:
    """The asset group of a table's assets: its pipeline."""
    return dagster_name(table.pipeline)


def _table_stem(table: TableConfig) -> str:
    """`<pipeline>__<schema>__<table>`, the unsanitised stem of a table's Dagster names."""
    return f"{table.pipeline}__{table.source_schema}__{table.source_table}"


def assets_op_name(pipeline: str, *qualifiers: str) -> str:
    """The one op running a pipeline's tables (both layers, their checks): `<pipeline>_tables`,
    qualified by source and partitions definition when a pipeline has several
    (`op_qualifiers`)."""
    return dagster_name("__".join([pipeline, *qualifiers]) + "_tables")


def op_qualifiers(table: TableConfig, *, several_sources: bool) -> tuple[str, ...]:
    """What puts a table in an op of its own within its pipeline: its source (when the pipeline
    reads several), then its partitions definition (tables sharing one can share an op)."""
    by_source = (table.source,) if several_sources else ()
    if table.mode == "id_range":  # a dynamic partitions definition of its own
        return (*by_source, f"{table.source_schema}__{table.source_table}__id_range")
    if table.partitioned and table.partitions is not None:
        spec = table.partitions
        return (*by_source, f"{spec.granularity}_{spec.start}_{spec.timezone or 'UTC'}")
    return by_source


def source_pool_name(source: str) -> str:
    """The Dagster pool of the ops reading one MySQL source (it limits the queries at once)."""
    return f"mysql-{source}"


def automation_sensor_name(pipeline: str) -> str:
    """The declarative-automation sensor of a pipeline's assets (its runs carry the pipeline tag)."""
    return dagster_name(f"automation_{pipeline}")


def pipeline_job_name(pipeline: str) -> str:
    """The job over every unpartitioned table of a pipeline: `sync_<pipeline>`."""
    return dagster_name(f"sync_{pipeline}")


def reconcile_job_name(pipeline: str) -> str:
    """The job running the asset checks of a pipeline's unpartitioned tables."""
    return dagster_name(f"reconcile_{pipeline}")


def table_job_name(table: TableConfig) -> str:
    """The job over one table's two assets: `sync_<pipeline>__<schema>__<table>`."""
    return dagster_name(f"sync_{_table_stem(table)}")


def schedule_name(job_name: str) -> str:
    """The schedule of a job: `<job>_schedule`, the name Dagster itself would give it."""
    return dagster_name(f"{job_name}_schedule")


def new_data_sensor_name(table: TableConfig) -> str:
    """The sensor that starts a run when MySQL has rows past the watermark."""
    return dagster_name(f"{_table_stem(table)}__new_data")


def id_range_sensor_name(table: TableConfig) -> str:
    """The sensor that adds id-range partitions as the table grows."""
    return dagster_name(f"{_table_stem(table)}__id_ranges")


def dynamic_partitions_name(table: TableConfig) -> str:
    """The instance's name for a table's id-range partitions (dots become `_`, nothing else)."""
    # Not dagster_name(): Dagster does not restrict this name, and the partitions already added
    # are stored under it; sanitising more would orphan them for a table named e.g. `a-b`.
    return f"{_table_stem(table)}__id_range".replace(".", "_")


def s3clean_job_name(pipeline: str) -> str:
    """The maintenance job that deletes a pipeline's loaded, superseded and orphan files."""
    return dagster_name(f"s3clean_{pipeline}")


def s3clean_op_name(pipeline: str) -> str:
    """The one op of the s3clean job; its schedule's run config is keyed by this name."""
    return dagster_name(f"s3clean_{pipeline}_files")


def resync_job_name(pipeline: str) -> str:
    """The maintenance job that re-extracts one table of a pipeline and swaps it in."""
    return dagster_name(f"resync_{pipeline}")


def resync_op_name(pipeline: str) -> str:
    """The one op of the resync job; its run config is keyed by this name."""
    return dagster_name(f"resync_{pipeline}_table")


def check_target_job_name(pipeline: str) -> str:
    """The job that runs `check-target`, the live self-test of a pipeline's target and store."""
    return dagster_name(f"check_target_{pipeline}")


def check_target_op_name(pipeline: str) -> str:
    return dagster_name(f"check_target_{pipeline}_op")


def s3clean_schedule_name(pipeline: str) -> str:
    """The optional schedule of the s3clean job."""
    return schedule_name(s3clean_job_name(pipeline))


# Asset check names: one each per asset, so they need no table in them.
ROW_COUNT_CHECK = "row_count_reconciled"
SCHEMA_DRIFT_CHECK = "schema_drift"
FRESHNESS_CHECK = "freshness"

# -- Object-store keys ------------------------------------------------------------------------

WATERMARK_FILE = "watermark.json"
# Beside it: what the last load left all in the ledger (`sync/noop.py`).
LOADED_MARKER_FILE = "_loaded.json"
_SEQ = re.compile(r"/(\d{10})\.parquet$")


def table_base(table: TableConfig) -> str:
    """One table's folder, relative to the store's own prefix: `[<prefix>/]<pipeline>/<schema>/<table>`."""
    parts = [table.store_prefix.strip("/"), table.pipeline, table.source_schema, table.source_table]
    return "/".join(p for p in parts if p)


def lease_key(table: TableConfig) -> str:
    """The lease that keeps two runs of one table from writing at once."""
    return f"{table_base(table)}/_lease.json"


def watermark_key(table: TableConfig) -> str:
    """The table's watermark: its position and the files it has written."""
    return f"{table_base(table)}/{WATERMARK_FILE}"


def new_lineage() -> str:
    """The id of one life of a table's store state, made with a new watermark.

    Part of every increment's key, so that a table started over (its folder or watermark
    removed) never writes a key the ledger already holds: the loader would skip the new file as
    loaded, and its rows would be lost.
    """
    return secrets.token_hex(6)


def incremental_file_key(table: TableConfig, seq: int, lineage: str | None = None) -> str:
    """Deterministic within a lineage: a run that died after uploading file N rewrites the same
    key on resume. `lineage` None: a watermark from before lineages, whose keys stay as they were."""
    folder = "incremental" if lineage is None else f"incremental/{lineage}"
    return f"{table_base(table)}/{folder}/{seq:010d}.parquet"


def generation_id(run_id: str) -> str:
    """A new generation's id: when (UTC, to the second), the run, and random digits.

    The random part keeps the generations of one run apart: a single-run backfill extracts many
    windows within a second, and windows sharing an id would overwrite each other's record.
    """
    when = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{when}-{run_id[:8]}-{secrets.token_hex(3)}"


def generation_file_key(table: TableConfig, generation: str, seq: int) -> str:
    """File `seq` of one full copy of the table."""
    return f"{table_base(table)}/full/{generation}/{seq:010d}.parquet"


def partition_file_key(table: TableConfig, partition: str, generation: str, seq: int) -> str:
    """A partition's files live under their generation: a re-run writes a new one beside it."""
    return f"{table_base(table)}/partitions/{partition}/{generation}/{seq:010d}.parquet"


def manifest_key(table: TableConfig, run_id: str, group: int) -> str:
    """The COPY manifest listing one group of files of one load."""
    return f"{table_base(table)}/_manifests/{run_id}-{group:03d}.manifest"


def seq_of(key: str) -> int | None:
    """The file number in a Parquet key, or None for any other key."""
    match = _SEQ.search(key)
    return int(match.group(1)) if match else None


# -- Warehouse --------------------------------------------------------------------------------


def _target_raw(table: TableConfig) -> tuple[str, str]:
    """The target schema and table as the YAML gives them (not normalised)."""
    return table.target_schema, table.target_table or table.source_table


def target_table(table: TableConfig, watermark: RecordedNames | None = None) -> tuple[str, str]:
    """(schema, table) in the warehouse: the names `watermark` recorded for the table's target
    schema and table (`Watermark.warehouse_names`: a name in use never changes), else both
    normalised like every other identifier and shortened (deterministically) to what the target
    keeps. Without a watermark (the definitions, the collision check): the configured names,
    which are the recorded ones for every table but one extracted before non-ASCII characters
    were kept (`identifiers.ascii_identifier`)."""
    limit = identifier_limit(table.target_kind)
    recorded = watermark.warehouse_names if watermark is not None else {}

    def name(raw: str) -> str:
        kept = recorded.get(raw)
        # A name recorded for a target with a longer limit (the pipeline moved) would be cut.
        if kept and len(kept.encode()) <= limit:
            return kept
        return normalize_identifier(raw, limit)

    schema, table_name = _target_raw(table)
    return name(schema), name(table_name)


def warehouse_names(
    table: TableConfig, watermark: RecordedNames | None = None, *, legacy: bool = False
) -> dict[str, str]:
    """{YAML name: warehouse name} of the target schema and table, as a watermark records them:
    those `target_table` gives; `legacy`: those a watermark written before the record existed
    was loaded under (non-ASCII characters were `_` then)."""
    if legacy:
        limit = identifier_limit(table.target_kind)
        return {raw: ascii_identifier(raw, limit) for raw in _target_raw(table)}
    return dict(zip(_target_raw(table), target_table(table, watermark), strict=True))


# The load ledger: one table a warehouse schema, one row a loaded file.
LEDGER_TABLE = "mysql_redshift_loads"


def ledger_table(table: TableConfig, watermark: RecordedNames | None = None) -> tuple[str, str]:
    """(schema, table) of the load ledger that records this table's files."""
    return target_table(table, watermark)[0], LEDGER_TABLE


def ledger_entry_name(table: TableConfig, watermark: RecordedNames | None = None) -> str:
    """The value of the ledger's `table_name` column for this table's files."""
    schema, name = target_table(table, watermark)
    return f"{schema}.{name}"


def deletes_ledger_name(table: TableConfig, watermark: RecordedNames | None = None) -> str:
    """The ledger's `table_name` of a table's delete passes (kept apart from its files)."""
    return ledger_entry_name(table, watermark) + "#deletes"


def side_table_name(name: str) -> str:
    """The table a rebuild or a resync fills beside the target before swapping it in."""
    return f"{name[:48]}__mra_new"
