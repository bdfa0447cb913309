"""Parquet files written for Redshift COPY, and the facts read back from their footers.

Each file carries the planner's column list in its key-value metadata, so a loader can create a
staging table that mirrors *this file* (COPY ... FORMAT AS PARQUET fills columns in file order
with no column list) and files from before and after a schema change are never mixed.
Rows are counted from footers, never from a counter a code path could skip.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from mysql_redshift_assets.extract.schema_types import PlannedColumn

COLUMNS_METADATA_KEY = b"mysql_redshift_assets.columns"
FINGERPRINT_METADATA_KEY = b"mysql_redshift_assets.fingerprint"


@dataclass(frozen=True)
class FileColumn:
    """What a loader needs of one column, as recorded in the file."""

    name: str
    source_name: str
    column_type: str
    redshift_type: str
    duckdb_type: str
    postgres_type: str

    @classmethod
    def from_planned(cls, col: PlannedColumn) -> FileColumn:
        return cls(
            name=col.name,
            source_name=col.source.name,
            column_type=col.source.column_type,
            redshift_type=col.redshift_type,
            duckdb_type=col.duckdb_type,
            postgres_type=col.postgres_type,
        )


def columns_json(columns: list[FileColumn]) -> str:
    return json.dumps([c.__dict__ for c in columns], separators=(",", ":"), sort_keys=True)


def schema_fingerprint(columns: list[FileColumn]) -> str:
    return hashlib.sha256(columns_json(columns).encode()).hexdigest()[:16]


def parse_columns(raw: bytes | str) -> list[FileColumn]:
    return [FileColumn(**c) for c in json.loads(raw)]


def file_schema(schema: pa.Schema, columns: list[FileColumn]) -> pa.Schema:
    return schema.with_metadata(
        {
            COLUMNS_METADATA_KEY: columns_json(columns).encode(),
            FINGERPRINT_METADATA_KEY: schema_fingerprint(columns).encode(),
        }
    )


class ParquetFileWriter:
    """Writes record batches to one local Parquet file, one row group at a time (bounded memory)."""

    def __init__(self, path: Path, schema: pa.Schema, columns: list[FileColumn]) -> None:
        self.path = path
        self.rows = 0
        self._writer = pq.ParquetWriter(
            path,
            file_schema(schema, columns),
            compression="zstd",
            compression_level=3,
            # Redshift COPY reads INT64 microsecond timestamps; never INT96, never nanoseconds.
            coerce_timestamps="us",
            use_deprecated_int96_timestamps=False,
            version="2.6",
            write_statistics=True,
        )

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows:
            self._writer.write_batch(batch, row_group_size=max(batch.num_rows, 1))
            self.rows += batch.num_rows

    def close(self) -> None:
        self._writer.close()


@dataclass(frozen=True)
class Footer:
    rows: int
    columns: list[FileColumn]
    fingerprint: str


def read_footer(source: Any, filesystem: Any = None) -> Footer:
    """Rows and recorded columns of a Parquet file (path, or path + pyarrow filesystem)."""
    if filesystem is not None:
        with filesystem.open_input_file(source) as handle:
            meta = pq.read_metadata(handle)
    else:
        meta = pq.read_metadata(source)
    kv = meta.metadata or {}
    columns = parse_columns(kv[COLUMNS_METADATA_KEY]) if COLUMNS_METADATA_KEY in kv else []
    fingerprint = kv.get(FINGERPRINT_METADATA_KEY, b"").decode()
    return Footer(rows=meta.num_rows, columns=columns, fingerprint=fingerprint)
