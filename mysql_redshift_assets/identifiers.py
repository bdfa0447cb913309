"""The one place where identifiers are normalised and quoted.

Every name that reaches Redshift, PostgreSQL or DuckDB goes through ``normalize_identifier`` and
is then *always* written with ``quote_ident``. Because every identifier is quoted, reserved words
(``select``, ``order``, ``user``, ``group``, ``table``, ...) need no special casing: ``"order"``
is an ordinary column name once quoted.

What a name keeps, and why (each target's rule):

- Redshift, "Names and identifiers" (https://docs.aws.amazon.com/redshift/latest/dg/r_names.html):
  identifiers consist of UTF-8 printable characters; a standard (unquoted) identifier may hold
  ASCII letters, digits, `_`, `$` and "UTF-8 multibyte characters two to four bytes long"; ASCII
  letters, and only they, are folded to lowercase, in standard and in delimited identifiers
  alike; at most 127 bytes.
- PostgreSQL, "Identifiers and Key Words"
  (https://www.postgresql.org/docs/15/sql-syntax-lexical.html#SQL-SYNTAX-IDENTIFIERS): letters
  include "letters with diacritical marks and non-Latin letters" (the lexer takes every
  non-ASCII byte as a letter), a quoted identifier any character but NUL, and only
  NAMEDATALEN - 1 = 63 bytes are kept (a longer name is truncated with a NOTICE). In a UTF-8
  database unquoted names fold ASCII letters only.
- DuckDB, "Keywords and Identifiers"
  (https://duckdb.org/docs/stable/sql/dialect/keywords_and_identifiers): a quoted identifier
  may hold any character; names resolve case-insensitively for ASCII letters (DuckDB 2.0 keeps
  `"Ä"` and `"ä"` apart).

So a normalised name lowercases ASCII letters, keeps ASCII digits and `_`, and keeps every
printable non-ASCII character as it is (``订单`` stays ``订单``, ``Größe`` becomes ``größe``): the
quoted form means what the unquoted one means in all three, and people can query the tables
without quotes when the name is not reserved. Any other ASCII character becomes `_`, as it
always has (``order-items`` -> ``order_items``; names in use everywhere). A character no target
takes (a control or format character, a non-ASCII space, a private-use or unassigned code point)
becomes `_` and the name gets ``_`` and 8 hex digits of a hash of the whole source name (the
hash the asset keys use), so two such names stay apart.

Each warehouse has its own identifier limit in bytes (its ``targets.TargetDialect``). A normalised name
longer than its target allows is shortened deterministically (a prefix cut at a character
boundary, ``_``, and 8 hex digits of a hash), never cut by the database: PostgreSQL silently
truncates at 63 bytes, after which the loader can no longer find the column it created.

A name in use never changes: the mapping a table's columns were loaded under is recorded in its
watermark (``columns``), and so are its warehouse schema and table names (``warehouse_names``);
a watermark written before names kept non-ASCII characters keeps the names ``ascii_identifier``
gave them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence

from mysql_redshift_assets.targets import DIALECTS, REDSHIFT, dialect_of

# Redshift rejects identifiers longer than 127 bytes (UTF-8).
MAX_IDENTIFIER_BYTES = REDSHIFT.identifier_limit

#: Bytes each kind of warehouse keeps of an identifier (its record's `identifier_limit`).
IDENTIFIER_LIMITS = {kind: d.identifier_limit for kind, d in DIALECTS.items()}

HASH_CHARS = 8

_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_]")
_ASCII_KEPT = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")
_ASCII_DIGITS = frozenset("0123456789")

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
    return dialect_of(target_kind).identifier_limit


def short_hash(text: str, chars: int = HASH_CHARS) -> str:
    """A few hex digits of SHA-256: stable across processes and versions (unlike `hash()`)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:chars]


def _with_hash(stem: str, digest: str, limit: int) -> str:
    """`stem`, cut at a character boundary so that `_<digest>` fits in `limit` bytes, then it."""
    room = limit - len(digest) - 1
    return stem.encode()[:room].decode("utf-8", "ignore") + "_" + digest


def shorten(name: str, limit: int) -> str:
    """`name` if it fits in `limit` bytes, else its first characters, `_` and a hash of all of it.

    Cut in bytes, never inside a multibyte character. Two names that share a long prefix still
    differ by their hashes.
    """
    if len(name.encode()) <= limit:
        return name
    return _with_hash(name, short_hash(name), limit)


def _stem(name: str) -> tuple[str, bool]:
    """`name` with ASCII letters lowercased, other ASCII but digits and `_` as `_`, printable
    non-ASCII characters kept; and whether a non-ASCII character had to go (became `_`)."""
    kept, lost = [], False
    for char in name:
        if char.isascii():
            lower = char.lower()
            kept.append(lower if lower in _ASCII_KEPT else "_")
        elif char.isprintable():  # not Cc, Cf, Cs, Co, Cn, Zl, Zp, Zs: Redshift's "printable"
            kept.append(char)
        else:
            kept.append("_")
            lost = True
    return "".join(kept), lost


def _too_long(normalized: str, name: str) -> IdentifierError:
    return IdentifierError(
        f"identifier {normalized!r} (from {name!r}) is {len(normalized.encode())} bytes long; "
        f"Redshift allows at most {MAX_IDENTIFIER_BYTES}"
    )


def normalize_identifier(name: str, limit: int | None = None) -> str:
    """Return the warehouse name for a MySQL name (the rules: this module's docstring).

    ASCII letters lowercased, printable non-ASCII characters kept (``"订单"`` stays ``"订单"``,
    ``"Prix €"`` becomes ``"prix_€"``), any other ASCII character `_`; a leading ASCII digit
    gets a ``col_`` prefix because an identifier that starts with one is not portable
    (``190_time`` -> ``col_190_time``). A character no target takes becomes `_` and the name
    gets `_` and a hash of `name` (``a``, a zero-width space, ``b`` -> ``a_b_<hash>``). With
    `limit` (the target's, see `identifier_limit`), a longer name is shortened (`shorten`);
    without, a name over Redshift's 127 bytes is an error.
    """
    normalized, lost = _stem(name)
    if not normalized:
        raise IdentifierError("an empty name cannot be used as an identifier")
    if normalized[0] in _ASCII_DIGITS:
        normalized = "col_" + normalized
    if limit is None and len(normalized.encode()) > MAX_IDENTIFIER_BYTES:
        raise _too_long(normalized, name)
    if lost:
        return _with_hash(normalized, short_hash(name), limit or MAX_IDENTIFIER_BYTES)
    return shorten(normalized, limit) if limit is not None else normalized


def ascii_identifier(name: str, limit: int | None = None) -> str:
    """The normalisation before non-ASCII characters were kept: every character outside
    ``[A-Za-z0-9_]`` one `_` (``"订单"`` -> ``"__"``). Only for a table whose watermark was
    written then: its warehouse names are these (``state/watermark.py``), so nothing moves."""
    # Replace before lowercasing: str.lower() maps some non-ASCII letters (the Kelvin sign)
    # to ASCII ones and expands others to two code points.
    normalized = _NOT_ALLOWED.sub("_", name).lower()
    if not normalized:
        raise IdentifierError("an empty name cannot be used as an identifier")
    if normalized[0].isdigit():
        normalized = "col_" + normalized
    if limit is not None:
        return shorten(normalized, limit)
    if len(normalized.encode()) > MAX_IDENTIFIER_BYTES:
        raise _too_long(normalized, name)
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
                f"{normalized!r}; rename one of them in MySQL or leave one out with the table's "
                f"`exclude_columns: [{source}]`"
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
