"""The one place where identifiers are normalised and quoted.

Every name that reaches Redshift, PostgreSQL or DuckDB goes through ``normalize_identifier`` and
is then *always* written with ``quote_ident``. Because every identifier is quoted, reserved words
(``select``, ``order``, ``user``, ``group``, ``table``, ...) need no special casing: ``"order"``
is an ordinary column name once quoted. Normalised names are lowercase ASCII so that the quoted
form means the same thing as the unquoted one in Redshift (which folds unquoted names to
lowercase), and people can query the tables without quotes when the name is not reserved.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# Redshift rejects identifiers longer than 127 bytes (UTF-8).
MAX_IDENTIFIER_BYTES = 127

_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_]")

# The one column this project adds to a user's table: MySQL's identity of a primary key that
# MySQL compares otherwise than bytes (extract/key_identity.py). `$` is outside what
# `normalize_identifier` ever returns, so no user column can take this name.
KEY_IDENTITY = "mra$key"


class IdentifierError(ValueError):
    """A name cannot be turned into a safe, unique warehouse identifier."""


def normalize_identifier(name: str) -> str:
    """Return the warehouse name for a MySQL name.

    Lowercase; every character outside ``[a-z0-9_]`` becomes ``_``, one per code point, so
    ``"Prix €"`` becomes ``"prix__"``; a leading digit gets a ``col_`` prefix because an
    identifier that starts with a digit is not portable (``190_time`` -> ``col_190_time``).
    """
    # Replace before lowercasing: str.lower() maps some non-ASCII letters (the Kelvin sign)
    # to ASCII ones and expands others to two code points, which would make results surprising.
    normalized = _NOT_ALLOWED.sub("_", name).lower()
    if not normalized:
        raise IdentifierError("an empty name cannot be used as an identifier")
    if normalized[0].isdigit():
        normalized = "col_" + normalized
    if len(normalized.encode()) > MAX_IDENTIFIER_BYTES:
        raise IdentifierError(
            f"identifier {normalized!r} (from {name!r}) is {len(normalized)} bytes long; "
            f"Redshift allows at most {MAX_IDENTIFIER_BYTES}"
        )
    return normalized


def normalize_columns(source_names: Sequence[str], *, table: str) -> dict[str, str]:
    """Map each source column name to its normalised name, keeping the order given.

    Two source names that normalise to one name (``Amount`` and ``amount``, ``a-b`` and
    ``a_b``) would silently overwrite each other in the warehouse, so that is an error.
    """
    result: dict[str, str] = {}
    owner: dict[str, str] = {}
    for source in source_names:
        if source in result:
            raise IdentifierError(f"table {table!r} lists column {source!r} twice")
        normalized = normalize_identifier(source)
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
