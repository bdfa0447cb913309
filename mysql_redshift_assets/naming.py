"""Every name derived from a table spec, in exactly one place.

Object-store keys, the warehouse table name and the asset key path all come from here, so the
parts of the system can never disagree on what a table is called (seed 003: components that
normalised table names differently could not find each other's files).
"""

from __future__ import annotations

import re

from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.identifiers import normalize_identifier

WATERMARK_FILE = "watermark.json"
_SEQ = re.compile(r"/(\d{10})\.parquet$")


def asset_path(table: TableConfig, layer: str) -> list[str]:
    """`<pipeline>/<schema>/<table>/<layer>`; the Dagster translator turns it into an AssetKey."""
    return [table.pipeline, table.source_schema, table.source_table, layer]


def table_base(table: TableConfig) -> str:
    """One table's folder, relative to the store's own prefix: `[<prefix>/]<pipeline>/<schema>/<table>`."""
    parts = [table.store_prefix.strip("/"), table.pipeline, table.source_schema, table.source_table]
    return "/".join(p for p in parts if p)


def lease_key(table: TableConfig) -> str:
    return f"{table_base(table)}/_lease.json"


def watermark_key(table: TableConfig) -> str:
    return f"{table_base(table)}/{WATERMARK_FILE}"


def incremental_file_key(table: TableConfig, seq: int) -> str:
    """Deterministic: a run that died after uploading file N rewrites the same key on resume."""
    return f"{table_base(table)}/incremental/{seq:010d}.parquet"


def snapshot_file_key(table: TableConfig, snapshot: str, seq: int) -> str:
    return f"{table_base(table)}/full/{snapshot}/{seq:010d}.parquet"


def partition_file_key(table: TableConfig, partition: str, generation: str, seq: int) -> str:
    """A partition's files live under their generation: a re-run writes a new one beside it."""
    return f"{table_base(table)}/partitions/{partition}/{generation}/{seq:010d}.parquet"


def manifest_key(table: TableConfig, run_id: str, group: int) -> str:
    return f"{table_base(table)}/_manifests/{run_id}-{group:03d}.manifest"


def seq_of(key: str) -> int | None:
    match = _SEQ.search(key)
    return int(match.group(1)) if match else None


def target_table(table: TableConfig) -> tuple[str, str]:
    """(schema, table) in the warehouse, both normalised like every other identifier."""
    name = table.target_table or table.source_table
    return normalize_identifier(table.target_schema), normalize_identifier(name)


# The load ledger: one table a warehouse schema, one row a loaded file.
LEDGER_TABLE = "mysql_redshift_loads"


def ledger_table(table: TableConfig) -> tuple[str, str]:
    """(schema, table) of the load ledger that records this table's files."""
    return target_table(table)[0], LEDGER_TABLE


def ledger_entry_name(table: TableConfig) -> str:
    """The value of the ledger's `table_name` column for this table's files."""
    schema, name = target_table(table)
    return f"{schema}.{name}"
