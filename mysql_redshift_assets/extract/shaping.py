"""What a table's `exclude_columns:` and `hash_columns:` make of its columns, before any value
is read.

Excluded columns are never planned: no SELECT names them, no file, log line or metadata entry
holds them; binlog row images (which carry every column) lose them on receipt (`shape_image`),
before their shape is checked or a value converted.

Hashed columns are planned as the lowercase hex of HMAC-SHA-256(key, the value's bytes), 64
characters (VARCHAR(64)); NULL stays NULL. Keyed, because a plain hash of a low-entropy value (an
email, a phone number) is reversed by hashing every candidate: without the key no dictionary can
be built. MySQL computes it in the SELECT (`hmac_sql`), so the raw values never enter this
process on query capture; the binlog carries them anyway, and they are hashed on receipt
(`shape_image`), before any file. The bytes hashed are the same on both paths, so a value has one
hash whatever captured it, run after run (joins on it work):

    text (CHAR, VARCHAR, *TEXT, ENUM, SET, JSON)   its UTF-8 bytes
    integers                                       its decimal digits
    BINARY, VARBINARY, *BLOB                       its bytes

Other types (dates, decimals, floats, ...) have no one text on both paths: refused.

The key (`hash_key: ${VAR}`) travels to MySQL inside the query text as the two padded keys
(K xor ipad, K xor opad: HMAC's definition, RFC 2104, built from SHA2 and UNHEX). The project
never logs query text; an error message that could quote it is scrubbed (`redact`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from mysql_redshift_assets.config.env import interpolate
from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.extract.binlog.convert import mysql_text
from mysql_redshift_assets.extract.schema_types import (
    BINARY_TYPES,
    INTEGER_TYPES,
    TEXT_TYPES,
    PlannedColumn,
    SourceColumn,
)
from mysql_redshift_assets.identifiers import quote_mysql_ident

if TYPE_CHECKING:
    from mysql_redshift_assets.extract.binlog.stream import RowChange

HASHED_TYPE = "hmac sha256"  # a hashed column's data_type: no MySQL type has a space
HASH_HEX = 64  # SHA-256's hex digits: the column's VARCHAR(64)
_BLOCK = 64  # SHA-256's block size in bytes (RFC 2104's B)
_HASHABLE = TEXT_TYPES | {"json"} | INTEGER_TYPES | BINARY_TYPES
# Every padded key planned in this process: scrubbed from any message that could quote a query.
_KEY_MATERIAL: set[str] = set()


def redact(text: str) -> str:
    """`text` without any hash key material (a query's text quoted in an error)."""
    for secret in _KEY_MATERIAL:
        for form in (secret, secret.lower()):
            text = text.replace(form, "***")
    return text


def shape_columns(
    table: TableConfig, columns: Sequence[SourceColumn], primary_key: Sequence[str]
) -> list[SourceColumn]:
    """`columns` without the excluded ones, after checking both lists against them: a key, the
    cursor, or a column MySQL does not have is refused, naming the file, table and key."""
    names = {c.name: c for c in columns}
    keys = {*primary_key, *(c for c in (table.cursor, table.cursor_fallback) if c)}
    for option, listed in (
        ("exclude_columns", table.exclude_columns),
        ("hash_columns", table.hash_columns),
    ):
        unknown = [c for c in listed if c not in names]
        if unknown:
            raise ConfigError(
                table.error(
                    option,
                    f"unknown column(s) {', '.join(unknown)} (columns: {', '.join(sorted(names))})",
                )
            )
        used = [c for c in listed if c in keys]
        if used:
            raise ConfigError(
                table.error(
                    option,
                    f"{', '.join(used)} is the primary key or the cursor: the sync reads and "
                    "merges on it, so it cannot be "
                    + ("excluded" if option == "exclude_columns" else "hashed"),
                )
            )
    for name in table.hash_columns:
        if names[name].data_type not in _HASHABLE:
            raise ConfigError(
                table.error(
                    "hash_columns",
                    f"column {name!r} is {names[name].column_type}: only text, integer and "
                    "binary columns are hashed (their bytes are the same whichever capture "
                    "reads them)",
                )
            )
    excluded = set(table.exclude_columns)
    return [c for c in columns if c.name not in excluded]


def hash_key(table: TableConfig) -> bytes | None:
    """The table's hash key from its environment variable; None without `hash_columns:`."""
    if not table.hash_columns:
        return None
    if table.hash_key is None:
        raise ConfigError(table.error("hash_key", "`hash_columns:` needs `hash_key: ${VAR}`"))
    key = interpolate(table.hash_key, where=table.error("hash_key", "").rstrip(": "))
    if not key:
        raise ConfigError(table.error("hash_key", "the environment variable is empty"))
    return key.encode()


def _pads(key: bytes) -> tuple[bytes, bytes]:
    block = hashlib.sha256(key).digest() if len(key) > _BLOCK else key
    block = block.ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)


def message_sql(col: SourceColumn) -> str:
    """The bytes HMAC'd, in MySQL: the same as `message_py` of the binlog's value."""
    quoted = quote_mysql_ident(col.name)
    if col.data_type in BINARY_TYPES:
        return quoted
    if col.data_type in INTEGER_TYPES:
        return f"CAST({quoted} AS CHAR)"
    return f"CONVERT({quoted} USING utf8mb4)"


def hmac_sql(col: SourceColumn, key: bytes) -> str:
    """HMAC-SHA-256(key, value) as 64 lowercase hex digits, computed by MySQL; NULL for NULL."""
    inner, outer = (pad.hex().upper() for pad in _pads(key))
    _KEY_MATERIAL.update((inner, outer))
    message = f"CAST({message_sql(col)} AS BINARY)"
    digest = f"UNHEX(SHA2(CONCAT(X'{inner}', {message}), 256))"
    return f"LOWER(SHA2(CONCAT(X'{outer}', {digest}), 256))"


def hmac_hex(key: bytes, message: str | bytes) -> str:
    data = message.encode() if isinstance(message, str) else message
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def key_id(key: bytes) -> str:
    """A key's name in the files' column types: its HMAC of a constant, cut to 12 hex digits.
    It tells two keys apart (a changed key is refused: old and new hashes would not join) and
    says nothing of the key itself."""
    return hmac_hex(key, b"mysql_redshift_assets hash key id")[:12]


def hash_column(col: PlannedColumn, key: bytes) -> PlannedColumn:
    """`col` planned as its HMAC: hex text of 64 characters, computed in the SELECT."""
    source = dataclasses.replace(
        col.source,
        data_type=HASHED_TYPE,
        column_type=f"{HASHED_TYPE} key {key_id(key)} of {col.source.column_type}",
        char_octet_length=HASH_HEX,
        charset="ascii",
        collation=None,
    )
    sql = f"VARCHAR({HASH_HEX})"
    return dataclasses.replace(
        col,
        source=source,
        arrow_type=pa.string(),
        redshift_type=sql,
        duckdb_type="VARCHAR",
        postgres_type=sql,
        select_expr=hmac_sql(col.source, key),
        rule="hash_columns: HMAC-SHA-256 as 64 hex characters, computed by MySQL.",
    )


@dataclasses.dataclass(frozen=True)
class ImageShaper:
    """A binlog row image as the plan reads it: excluded columns dropped, hashed ones hashed."""

    excluded: frozenset[str]
    hashed: Mapping[str, Any]  # column name -> a function: the image's value -> its message
    key: bytes | None

    def __call__(self, image: dict[str, Any] | None) -> dict[str, Any] | None:
        if image is None or not (self.excluded or self.hashed):
            return image
        shaped = {k: v for k, v in image.items() if k not in self.excluded}
        for name, message in self.hashed.items():
            if shaped.get(name) is not None:
                assert self.key is not None
                shaped[name] = hmac_hex(self.key, message(shaped[name]))
        return shaped

    def change(self, change: RowChange) -> RowChange:
        if not (self.excluded or self.hashed):
            return change
        return dataclasses.replace(change, before=self(change.before), after=self(change.after))


def image_shaper(
    table: TableConfig, originals: Iterable[PlannedColumn], key: bytes | None
) -> ImageShaper:
    """The shaper of `table`'s images; `originals`: the hashed columns as planned unhashed."""

    def message(col: PlannedColumn) -> Any:
        return lambda value: mysql_text(col, value)

    return ImageShaper(
        frozenset(table.exclude_columns),
        {c.source.name: message(c) for c in originals},
        key,
    )
