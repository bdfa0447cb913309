"""MySQL's own identity of a primary key, carried where the warehouse's equality differs.

Under a case- or accent-insensitive collation, or a PAD SPACE one (every MariaDB default and
`utf8mb4_bin` too), MySQL holds ONE row for 'abc', 'ABC', 'àbc' and 'abc  ': an UPDATE that
changes only case, accents or trailing spaces keeps the row's identity. The warehouse compares
bytes, so a merge on the key value would keep both versions. A key indexed on a prefix
(`PRIMARY KEY (b(16))`) has the same problem: MySQL's identity is the first 16 bytes.

So for such keys each row carries one more column, `mra$key`: MySQL's identity of the key as
text, computed by MySQL itself in the SELECT, and the loader merges and deduplicates on it:

    collated text   HEX(WEIGHT_STRING(c)), trailing space weights removed under PAD SPACE
                    (two strings are equal under a collation iff their weight strings are)
    prefix          the same of LEFT(c, n) (characters for text, bytes for binary)
    any other       HEX(CAST(c AS CHAR)) (HEX(c) for binary and BIT): exact already
    several         the pieces joined by '.', which no hex piece contains

The name cannot collide with a user column: `identifiers.normalize_identifier` only ever gives
`[a-z0-9_]`. The plan runs no SQL; MySQL evaluates these expressions while the rows are read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import pyarrow as pa

from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.extract.schema_types import (
    BINARY_TYPES,
    MAX_VARCHAR,
    PlannedColumn,
    SourceColumn,
)
from mysql_redshift_assets.identifiers import KEY_IDENTITY, quote_mysql_ident

IDENTITY_TYPE = "key identity"  # the identity column's data_type: no MySQL type has a space
_COLLATED = {"char", "varchar", "tinytext", "text", "mediumtext", "longtext"}
_NAME = re.compile(r"^[A-Za-z0-9_]+$")
# MySQL sorts strings on their first max_sort_length bytes (1024 by default) when no index
# gives the order, and a prefix key never does: a longer prefix could tie in ORDER BY while
# `>` still tells the rows apart. 4 bytes a character is the widest weight per character.
MAX_SORT_BYTES = 1024


def exact_collation(collation: str) -> bool:
    """Equal under `collation` iff equal bytes: a binary collation without PAD SPACE."""
    name = collation.lower()
    return name.endswith("_bin") and ("_nopad_" in name or "_0900_" in name)


def _weighted(col: SourceColumn) -> bool:
    return (
        col.data_type in _COLLATED
        and col.collation is not None
        and not exact_collation(col.collation)
    )


def _piece(col: SourceColumn, prefix: int | None) -> str:
    quoted = quote_mysql_ident(col.name)
    arg = quoted if prefix is None else f"LEFT({quoted}, {int(prefix)})"
    if _weighted(col):
        weights = f"WEIGHT_STRING({arg})"
        collation = col.collation or ""
        if "_nopad_" not in collation and "_0900_" not in collation:  # PAD SPACE
            space = f"WEIGHT_STRING(_{col.charset} ' ' COLLATE {collation})"
            weights = f"TRIM(TRAILING {space} FROM {weights})"
        return f"HEX({weights})"
    if col.data_type in BINARY_TYPES or col.data_type == "bit":
        return f"HEX({arg})"
    return f"HEX(CAST({arg} AS CHAR))"


def _hex_length(col: SourceColumn, prefix: int | None) -> int:
    octets = col.char_octet_length or 64
    if prefix is not None:
        octets = min(octets, prefix * 4)
    # A weight string takes at most 8 bytes an octet (expansions); hex doubles it.
    return 16 * octets if _weighted(col) else 2 * octets


def identity_column(
    table: TableConfig,
    columns: Sequence[SourceColumn],
    key: Sequence[str],
    prefixes: Mapping[str, int],
) -> PlannedColumn | None:
    """The `mra$key` column for a key MySQL compares otherwise than bytes; None when every
    key column's equality is the warehouse's already."""
    by_name = {c.name: c for c in columns}
    parts = [by_name[k] for k in key]
    if not any(_weighted(c) or c.name in prefixes for c in parts):
        return None
    _refuse_unusable(table, parts, prefixes, by_name)
    pieces = [_piece(c, prefixes.get(c.name)) for c in parts]
    expr = pieces[0] if len(pieces) == 1 else "CONCAT_WS('.', " + ", ".join(
        f"COALESCE({p}, '-')" for p in pieces
    ) + ")"  # fmt: skip
    size = min(MAX_VARCHAR, sum(_hex_length(c, prefixes.get(c.name)) + 1 for c in parts))
    what = ", ".join(
        f"{c.name} ({c.collation or c.data_type}"
        + (f", prefix {prefixes[c.name]}" if c.name in prefixes else "")
        + ")"
        for c in parts
    )
    source = SourceColumn(
        name=KEY_IDENTITY,
        data_type=IDENTITY_TYPE,
        column_type=f"key identity of {what}",
        nullable=False,
        char_octet_length=size,
        numeric_precision=None,
        numeric_scale=None,
        datetime_precision=None,
        ordinal=max(c.ordinal for c in columns) + 1,
    )
    return PlannedColumn(
        source=source,
        name=KEY_IDENTITY,
        arrow_type=pa.string(),
        redshift_type=f"VARCHAR({size})",
        duckdb_type="VARCHAR",
        postgres_type=f"VARCHAR({size})",
        select_expr=expr,
        rule="MySQL's identity of the primary key (collation weights / key prefix), merged on.",
    )


def _refuse_unusable(
    table: TableConfig,
    parts: Sequence[SourceColumn],
    prefixes: Mapping[str, int],
    by_name: Mapping[str, SourceColumn],
) -> None:
    if KEY_IDENTITY in by_name:
        raise ConfigError(
            table.error(
                "primary_key",
                f"column {KEY_IDENTITY!r} is the name this project gives MySQL's key identity "
                "(the key compares case/accent/space-insensitively or on a prefix); rename the "
                "MySQL column",
            )
        )
    for col in parts:
        for value in (col.collation, col.charset):
            if _weighted(col) and not (value and _NAME.match(value)):
                raise ConfigError(
                    table.error(
                        "primary_key",
                        f"key column {col.name!r}: unexpected collation {col.collation!r} / "
                        f"character set {col.charset!r}; name a binary-collated key with "
                        "`primary_key:`",
                    )
                )
        prefix = prefixes.get(col.name)
        width = None if prefix is None else prefix * (1 if col.data_type in BINARY_TYPES else 4)
        if width is not None and width > MAX_SORT_BYTES:
            raise ConfigError(
                table.error(
                    "primary_key",
                    f"key column {col.name!r} ({col.column_type}) is unique only on its first "
                    f"{prefix} {'bytes' if col.data_type in BINARY_TYPES else 'characters'}; "
                    f"MySQL sorts only the first {MAX_SORT_BYTES} bytes of such a value, so "
                    "keyset pages could skip rows. Name a unique column of your own with "
                    f"`primary_key:` (an id), or index at most {MAX_SORT_BYTES} bytes",
                )
            )


def check_loaded_with_identity(
    table: TableConfig,
    identity: PlannedColumn | None,
    loaded_names: Mapping[str, str],
    extracted_before: bool,
) -> None:
    """A table extracted before `mra$key` existed: its warehouse rows cannot be matched by it.

    `extracted_before`: the watermark has a position (a reset clears it: then the table is
    read from the start again, and every row gets its identity)."""
    if identity is None or not extracted_before or KEY_IDENTITY in loaded_names:
        return
    raise ConfigError(
        table.error(
            "primary_key",
            f"the key ({identity.source.column_type[len('key identity of ') :]}) compares "
            "case-, accent- or trailing-space-insensitively (or on a prefix) in MySQL, and this "
            "table was extracted before the project carried MySQL's key identity "
            f"({KEY_IDENTITY!r}), so rows already in the warehouse cannot be matched by it. "
            "Drop the warehouse table and run `mysql-redshift watermark reset -t "
            f"{table.qualified}`, then sync again (nothing was written)",
        )
    )
