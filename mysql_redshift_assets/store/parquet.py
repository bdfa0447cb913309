"""Parquet files written for Redshift COPY, and the facts read back from their footers.

Each file carries the planner's column list in its key-value metadata, so a loader can create a
staging table that mirrors *this file* (COPY ... FORMAT AS PARQUET fills columns in file order
with no column list) and files from before and after a schema change are never mixed.
Rows are counted from footers, never from a counter a code path could skip.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mysql_redshift_assets.extract.schema_types import JSON_SUPER, PlannedColumn
from mysql_redshift_assets.store.json_limits import check_batch
from mysql_redshift_assets.targets import REDSHIFT_MAX_VARCHAR, dialect_of

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
    # Set when the table says `text_overflow: truncate`: values are cut to this many bytes.
    truncate_bytes: int | None = None

    @classmethod
    def from_planned(cls, col: PlannedColumn, *, truncate_text: bool = False) -> FileColumn:
        return cls(
            name=col.name,
            source_name=col.source.name,
            column_type=col.source.column_type,
            redshift_type=col.redshift_type,
            duckdb_type=col.duckdb_type,
            postgres_type=col.postgres_type,
            truncate_bytes=(
                REDSHIFT_MAX_VARCHAR if truncate_text and col.redshift_type == CAPPED else None
            ),
        )

    @property
    def parsed_json(self) -> bool:
        """`json: super`: a JSON document, written and staged as text, parsed in the merge."""
        return self.redshift_type == JSON_SUPER.redshift

    @property
    def capped(self) -> bool:
        """A text column wider in MySQL than Redshift's VARCHAR limit: values may not fit."""
        return self.redshift_type == CAPPED


CAPPED = f"VARCHAR({REDSHIFT_MAX_VARCHAR})"
OVERSIZE_METADATA_KEY = b"mysql_redshift_assets.oversize"
TRUNCATED_METADATA_KEY = b"mysql_redshift_assets.truncated"
# The longest value, in bytes (UTF-8 for text), of each string and binary column: checked
# against the column's width before any COPY (load/widths.py `refuse_values_over_width`).
MAX_BYTES_METADATA_KEY = b"mysql_redshift_assets.max_bytes"
# The file's largest row: {"bytes": n, "row": index in the file}, checked against COPY's row
# limit before any COPY (load/widths.py `refuse_rows_over_limit`). A row's size is its string
# and binary values' bytes plus FIXED_VALUE_BYTES for every other value: no fixed-width
# Redshift type takes more (DECIMAL(38) is 16 bytes), so it bounds the row from above.
MAX_ROW_METADATA_KEY = b"mysql_redshift_assets.max_row"
FIXED_VALUE_BYTES = 16


def parquet_codec(target_kind: str) -> str:
    """The page codec for files a `target_kind` warehouse loads (its record's, `targets.py`:
    SNAPPY for Redshift and its PostgreSQL stand-in, ZSTD level 1 for DuckDB)."""
    return dialect_of(target_kind).parquet_codec


# Rows of the file at or before the position its run started from: read again by the
# late-commit window (the merge on the primary key makes that harmless).
REREAD_METADATA_KEY = b"mysql_redshift_assets.reread_rows"
# A hidden last column (not among the recorded columns, never in a target table): each row's
# place in its extraction, (file sequence << 32) + row index in the file. When one load holds
# two versions of a key, the merge's tie-break after the cursor (load/exactly_once.py); Redshift's
# COPY cannot tell which file or row a value came from, so the file must say. Files written
# before it have no such column (the footer's `ordered` is False).
ORDER_COLUMN = "mra$order"
ORDER_SEQ_SHIFT = 32  # a file holds fewer than 2**32 rows
ORDER_METADATA_KEY = b"mysql_redshift_assets.order"
ORDER_FILE_COLUMN = FileColumn(ORDER_COLUMN, "", "bigint", "BIGINT", "BIGINT", "BIGINT")
# A change file's (`capture: binlog`) hidden column before the order column: true where the row
# is a deleted key (its before image), false for a row's after image. The merge deletes every
# key a change touches and inserts the newest change of each key unless it is a delete.
DELETED_COLUMN = "mra$deleted"
DELETED_METADATA_KEY = b"mysql_redshift_assets.deleted"
DELETED_FILE_COLUMN = FileColumn(DELETED_COLUMN, "", "boolean", "BOOLEAN", "BOOLEAN", "BOOLEAN")


def columns_json(columns: list[FileColumn]) -> str:
    return json.dumps(
        [{k: v for k, v in c.__dict__.items() if v is not None} for c in columns],
        separators=(",", ":"),
        sort_keys=True,
    )


def schema_fingerprint(
    columns: list[FileColumn], *, ordered: bool = False, changes: bool = False
) -> str:
    """Files of one fingerprint share a staging table: a file with the order column (or the
    change files' deleted column) never shares one with a file without it."""
    text = columns_json(columns) + (f"+{DELETED_COLUMN}" if changes else "")
    text += f"+{ORDER_COLUMN}" if ordered else ""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def parse_columns(raw: bytes | str) -> list[FileColumn]:
    return [FileColumn(**c) for c in json.loads(raw)]


def file_schema(
    schema: pa.Schema, columns: list[FileColumn], *, ordered: bool = False
) -> pa.Schema:
    """`schema` (the recorded columns, then a change file's deleted column) with the order
    column and the file's metadata."""
    changes = DELETED_COLUMN in schema.names
    metadata = {
        COLUMNS_METADATA_KEY: columns_json(columns).encode(),
        FINGERPRINT_METADATA_KEY: schema_fingerprint(
            columns, ordered=ordered, changes=changes
        ).encode(),
    }
    if changes:
        metadata[DELETED_METADATA_KEY] = DELETED_COLUMN.encode()
    if ordered:
        schema = schema.append(pa.field(ORDER_COLUMN, pa.int64(), nullable=False))
        metadata[ORDER_METADATA_KEY] = ORDER_COLUMN.encode()
    return schema.with_metadata(metadata)


class ParquetFileWriter:
    """Writes record batches to one local Parquet file, one row group at a time (bounded memory)."""

    def __init__(
        self,
        path: Path,
        schema: pa.Schema,
        columns: list[FileColumn],
        *,
        compression: str = "zstd",
        order_base: int | None = None,  # the file's first ORDER_COLUMN value; None: no column
        key: Sequence[str] = (),  # the primary key's columns: a refused JSON document names them
        where: str = "",  # the table, in a refusal
    ) -> None:
        self.path = path
        # `json: super`: each document is checked against SUPER's limits (`json_limits.py`);
        # MariaDB's (LONGTEXT) may repeat a key, MySQL's binary JSON cannot.
        self._json = {c.name: c.column_type != "json" for c in columns if c.parsed_json}
        self._key, self._where = key, where or path.name
        self._order_base = order_base
        self.rows = 0
        self._columns = columns
        self._capped = [i for i, c in enumerate(columns) if c.capped]
        self.oversize: dict[str, int] = {}
        self.truncated: dict[str, int] = {}
        self.max_bytes: dict[str, int] = {}
        self.max_row: tuple[int, int] = (0, 0)  # (bytes, row index) of the largest row
        self._sized = [
            i
            for i, f in enumerate(schema)
            if pa.types.is_string(f.type) or pa.types.is_binary(f.type)
            or pa.types.is_large_string(f.type) or pa.types.is_large_binary(f.type)
        ]  # fmt: skip
        self.reread_rows = 0  # set by the writer's owner (FileSink) before close
        self._writer = pq.ParquetWriter(
            path,
            file_schema(schema, columns, ordered=order_base is not None),
            compression=compression,
            # Measured by `make bench`: dictionary pages on unique strings (ids, text, JSON)
            # doubled the writer's CPU and grew files 57%; zstd level 1 keeps up with MySQL.
            compression_level=1 if compression == "zstd" else None,
            use_dictionary=False,
            # Redshift COPY reads INT64 microsecond timestamps; never INT96, never nanoseconds.
            coerce_timestamps="us",
            use_deprecated_int96_timestamps=False,
            version="2.6",
            write_statistics=True,
        )

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows:
            if self._json:
                check_batch(batch, self._json, self._key, self._where)
            batch = self._with_order(self._fit_text(batch))
            self._measure(batch)
            self._writer.write_batch(batch, row_group_size=max(batch.num_rows, 1))
            self.rows += batch.num_rows

    def _with_order(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        if self._order_base is None:
            return batch
        start = self._order_base + self.rows
        order = pa.array(range(start, start + batch.num_rows), pa.int64())
        return batch.append_column(pa.field(ORDER_COLUMN, pa.int64(), nullable=False), order)

    def _fit_text(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Count (and, where the table asks, cut) text longer than Redshift's VARCHAR limit."""
        arrays = list(batch.columns)
        for i in self._capped:
            col = self._columns[i]
            over = pc.greater(pc.binary_length(arrays[i]), REDSHIFT_MAX_VARCHAR)
            n = pc.sum(over).as_py() or 0
            if not n:
                continue
            if col.truncate_bytes is None:
                self.oversize[col.name] = self.oversize.get(col.name, 0) + n
                continue
            values = arrays[i].to_pylist()
            limit = col.truncate_bytes
            cut = [
                v.encode()[:limit].decode("utf-8", "ignore") if o else v
                for v, o in zip(values, over.to_pylist(), strict=True)
            ]
            arrays[i] = pa.array(cut, arrays[i].type)
            self.truncated[col.name] = self.truncated.get(col.name, 0) + n
        return pa.RecordBatch.from_arrays(arrays, schema=batch.schema) if self._capped else batch

    def _measure(self, batch: pa.RecordBatch) -> None:
        """Keep the longest value (bytes) of each string and binary column, and the largest row."""
        sizes: Any = None
        for i in self._sized:
            lengths = pc.binary_length(batch.column(i))
            longest = pc.max(lengths).as_py()
            if longest is not None:
                name = batch.schema.field(i).name
                self.max_bytes[name] = max(longest, self.max_bytes.get(name, 0))
                lengths = pc.fill_null(lengths, 0)
                sizes = lengths if sizes is None else pc.add(sizes, lengths)
        fixed = FIXED_VALUE_BYTES * (batch.num_columns - len(self._sized))
        if sizes is None:
            biggest, row = fixed, 0
        else:
            most = pc.max(sizes).as_py()
            biggest, row = most + fixed, pc.index(sizes, most).as_py()
        if biggest > self.max_row[0]:
            self.max_row = (biggest, self.rows + row)

    def close(self) -> None:
        facts = {
            REREAD_METADATA_KEY: str(self.reread_rows).encode(),
            MAX_BYTES_METADATA_KEY: json.dumps(self.max_bytes, sort_keys=True).encode(),
            MAX_ROW_METADATA_KEY: json.dumps(
                {"bytes": self.max_row[0], "row": self.max_row[1]}
            ).encode(),
        }
        if self.oversize:
            facts[OVERSIZE_METADATA_KEY] = json.dumps(self.oversize).encode()
        if self.truncated:
            facts[TRUNCATED_METADATA_KEY] = json.dumps(self.truncated).encode()
        self._writer.add_key_value_metadata(facts)
        self._writer.close()


@dataclass(frozen=True)
class Footer:
    rows: int
    columns: list[FileColumn]
    fingerprint: str
    oversize: dict[str, int]  # values too long for Redshift, per column (not truncated)
    truncated: dict[str, int]  # values cut to Redshift's limit, per column
    reread_rows: int = 0  # rows read again by the late-commit window
    ordered: bool = False  # the file ends with ORDER_COLUMN
    changes: bool = False  # a change file: DELETED_COLUMN follows the recorded columns

    @property
    def staging_columns(self) -> list[FileColumn]:
        """The file's columns in file order, as a staging table mirrors them."""
        hidden = [DELETED_FILE_COLUMN] if self.changes else []
        return [*self.columns, *hidden, *([ORDER_FILE_COLUMN] if self.ordered else [])]

    # Longest value in bytes per string/binary column; None: a file written before it was kept.
    max_bytes: dict[str, int] | None = None
    # The largest row's size in bytes and its index in the file; None: written before it was kept.
    max_row_bytes: int | None = None
    max_row_index: int | None = None


def read_footer(source: Any, filesystem: Any = None) -> Footer:
    """Rows and recorded columns of a Parquet file (path, or path + pyarrow filesystem)."""
    if filesystem is not None:
        with filesystem.open_input_file(source) as handle:
            meta = pq.read_metadata(handle)
    else:
        meta = pq.read_metadata(source)
    kv = meta.metadata or {}
    max_row = json.loads(kv[MAX_ROW_METADATA_KEY]) if MAX_ROW_METADATA_KEY in kv else {}
    columns = parse_columns(kv[COLUMNS_METADATA_KEY]) if COLUMNS_METADATA_KEY in kv else []
    fingerprint = kv.get(FINGERPRINT_METADATA_KEY, b"").decode()
    return Footer(
        rows=meta.num_rows,
        columns=columns,
        fingerprint=fingerprint,
        oversize=json.loads(kv.get(OVERSIZE_METADATA_KEY, b"{}")),
        truncated=json.loads(kv.get(TRUNCATED_METADATA_KEY, b"{}")),
        reread_rows=int(kv.get(REREAD_METADATA_KEY, b"0")),
        ordered=ORDER_METADATA_KEY in kv,
        changes=DELETED_METADATA_KEY in kv,
        max_bytes=json.loads(kv[MAX_BYTES_METADATA_KEY]) if MAX_BYTES_METADATA_KEY in kv else None,
        max_row_bytes=max_row.get("bytes"),
        max_row_index=max_row.get("row"),
    )
