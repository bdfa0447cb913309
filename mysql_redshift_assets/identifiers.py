"""The one place where identifiers are normalised and quoted.

Every name that reaches Redshift, PostgreSQL or DuckDB goes through ``normalize_identifier`` and
is then *always* written with ``quote_ident``. Because every identifier is quoted, reserved words
(``select``, ``order``, ``user``, ``group``, ``table``, ...) need no special casing: ``"order"``
is an ordinary column name once quoted. Normalised names are lowercase ASCII so that the quoted
form means the same thing as the unquoted one in Redshift (which folds unquoted names to
lowercase), and people can query the tables without quotes when the name is not reserved.

Each warehouse has its own identifier limit (``IDENTIFIER_LIMITS``). A normalised name longer
than its target allows is shortened deterministically (a prefix, ``_``, and 8 hex digits of a
hash of the whole normalised name), never cut by the database: PostgreSQL silently truncates
at 63 bytes, after which the loader can no longer find the column it created. The mapping a
table used is recorded in its watermark (``columns``) and kept from then on.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence

# Redshift rejects identifiers longer than 127 bytes (UTF-8).
MAX_IDENTIFIER_BYTES = 127

#: Bytes a warehouse keeps of an identifier. PostgreSQL: NAMEDATALEN - 1 = 63, longer names are
#: truncated with only a NOTICE. DuckDB has no limit (5,000 characters tried): it takes
#: Redshift's, so a pipeline tried on DuckDB gets the names it will have in Redshift.
IDENTIFIER_LIMITS = {"redshift": 127, "postgres": 63, "duckdb": 127}

HASH_CHARS = 8

_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_]")

#: Names kept for system columns: a CREATE TABLE with one of them fails even quoted, in
#: PostgreSQL (https://www.postgresql.org/docs/15/ddl-system-columns.html) and in Redshift,
#: which inherits them from PostgreSQL 8.0 (`oid` included). Such a column gets the `col_`
#: prefix, recorded like every other rename.
SYSTEM_COLUMNS = frozenset({"oid", "tableoid", "xmin", "cmin", "xmax", "cmax", "ctid"})

# The one column this project adds to a user's table: MySQL's identity of a primary key that
# MySQL compares otherwise than bytes (extract/key_identity.py). `$` is outside what
# `normalize_identifier` ever returns, so no user column can take this name.
KEY_IDENTITY = "mra$key"


class IdentifierError(ValueError):
    """A name cannot be turned into a safe, unique warehouse identifier."""


def identifier_limit(target_kind: str) -> int:
    """The longest identifier (in bytes) the target `target_kind` keeps whole."""
    return IDENTIFIER_LIMITS.get(target_kind, MAX_IDENTIFIER_BYTES)


def short_hash(text: str, chars: int = HASH_CHARS) -> str:
    """A few hex digits of SHA-256: stable across processes and versions (unlike `hash()`)."""
    return hashlib.sha256(text.encode()).hexdigest()[:chars]


def shorten(name: str, limit: int) -> str:
    """`name` if it fits in `limit` bytes, else its first characters, `_` and a hash of all of it.

    `name` is a normalised (ASCII) name, so characters are bytes. Two names that share a long
    prefix still differ by their hashes.
    """
    if len(name.encode()) <= limit:
        return name
    suffix = "_" + short_hash(name)
    return name[: limit - len(suffix)] + suffix


def normalize_identifier(name: str, limit: int | None = None) -> str:
    """Return the warehouse name for a MySQL name.

    Lowercase; every character outside ``[a-z0-9_]`` becomes ``_``, one per code point, so
    ``"Prix €"`` becomes ``"prix__"``; a leading digit gets a ``col_`` prefix because an
    identifier that starts with a digit is not portable (``190_time`` -> ``col_190_time``).
    With `limit` (the target's, see `identifier_limit`), a longer name is shortened
    (`shorten`); without, a name over Redshift's 127 bytes is an error.
    """
    # Replace before lowercasing: str.lower() maps some non-ASCII letters (the Kelvin sign)
    # to ASCII ones and expands others to two code points, which would make results surprising.
    normalized = _NOT_ALLOWED.sub("_", name).lower()
    if not normalized:
        raise IdentifierError("an empty name cannot be used as an identifier")
    if normalized[0].isdigit():
        normalized = "col_" + normalized
    if limit is not None:
        return shorten(normalized, limit)
    if len(normalized.encode()) > MAX_IDENTIFIER_BYTES:
        raise IdentifierError(
            f"identifier {normalized!r} (from {name!r}) is {len(normalized)} bytes long; "
            f"Redshift allows at most {MAX_IDENTIFIER_BYTES}"
        )
    return normalized


def column_identifier(name: str, limit: int | None = None) -> str:
    """`normalize_identifier` for a column: a system column's name gets the `col_` prefix
    (``oid`` -> ``col_oid``, ``XMin`` -> ``col_xmin``)."""
    normalized = normalize_identifier(name, limit)
    return "col_" + normalized if normalized in SYSTEM_COLUMNS else normalized


def normalize_columns(
    source_names: Sequence[str],
    *,
    table: str,
    limit: int | None = None,
    recorded: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Map each source column name to its warehouse name, keeping the order given.

    A name in `recorded` (the mapping earlier runs loaded under) is kept as it is; any other is
    normalised (and shortened to `limit`). Two source names that end as one name (``Amount`` and
    ``amount``, ``a-b`` and ``a_b``, two long names with one shortened form) would silently
    overwrite each other in the warehouse, so that is an error naming both.
    """
    recorded = recorded or {}
    result: dict[str, str] = {}
    owner: dict[str, str] = {}
    for source in source_names:
        if source in result:
            raise IdentifierError(f"table {table!r} lists column {source!r} twice")
        normalized = recorded.get(source) or column_identifier(source, limit)
        if normalized in owner:
            raise IdentifierError(
                f"table {table!r}: columns {owner[normalized]!r} and {source!r} both become "
                f"{normalized!r}; rename one of them in MySQL or exclude it"
            )
        owner[normalized] = source
        result[source] = normalized
    return result


def quote_ident(name: str) -> str:
    """Quote a name for Redshift, PostgreSQL or DuckDB (ANSI double quotes, ``"`` doubled)."""
    _check_quotable(name)
    return '"' + name.replace('"', '""') + '"'


def quote_mysql_ident(name: str) -> str:
    """Quote a name for MySQL/MariaDB (backticks, embedded backtick doubled)."""
    _check_quotable(name)
    return "`" + name.replace("`", "``") + "`"


def qualified(schema: str, table: str) -> str:
    """``"schema"."table"``; both parts are quoted as given (normalise them first)."""
    return f"{quote_ident(schema)}.{quote_ident(table)}"


def _check_quotable(name: str) -> None:
    # No quoting makes these safe: every engine rejects an empty identifier, and a NUL byte
    # would end the statement text early in the C client libraries.
    if not name:
        raise IdentifierError("an empty name cannot be quoted")
    if "\x00" in name:
        raise IdentifierError(f"name {name!r} contains a NUL character")
