"""Schema changes between MySQL and the warehouse: applied exactly, or refused before any write.

Three sides are compared: the columns the pending files carry (the planner's types, recorded in
each footer), the warehouse table's columns as its `information_schema` states them, and, for an
added column, MySQL's own DEFAULT (what MySQL wrote into the rows it already had). Each
difference is one `Change`:

    add       ADD COLUMN, NULL or MySQL's constant DEFAULT: existing rows equal MySQL's
    alter     ALTER COLUMN ... TYPE, a widening that keeps every value, where the target's
              record says it changes that type in place (PostgreSQL, DuckDB: any; Redshift:
              only VARCHAR(n) -> VARCHAR(m>n), run outside a transaction block)
    rebuild   any other widening (Redshift): new table, INSERT SELECT, swap, in one transaction
    refuse    anything whose exactness cannot be proven: a narrowing, a kind change
              (INT -> VARCHAR), a dropped or renamed column, an expression or implicit DEFAULT

A refusal raises `SchemaChangeRefused` naming table, column, old and new type and the command
that resolves it, before the load writes anything. docs/schema-changes.md lists every case.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

from mysql_redshift_assets.identifiers import KEY_IDENTITY, quote_ident
from mysql_redshift_assets.load.mysql_defaults import ColumnDefault
from mysql_redshift_assets.load.request import LoadError, LoadRequest
from mysql_redshift_assets.load.versions import KEPT_COLUMNS
from mysql_redshift_assets.store.parquet import FileColumn
from mysql_redshift_assets.targets import dialect_of

Action = Literal["add", "alter", "rebuild", "refuse"]

_KINDS = {
    "smallint": "smallint", "int2": "smallint", "integer": "integer", "int": "integer",
    "int4": "integer", "bigint": "bigint", "int8": "bigint", "numeric": "decimal",
    "decimal": "decimal", "real": "real", "float4": "real", "float": "real",
    "double precision": "double", "double": "double", "float8": "double",
    "boolean": "boolean", "bool": "boolean", "character varying": "varchar",
    "varchar": "varchar", "text": "varchar", "nvarchar": "varchar", "bytea": "binary",
    "blob": "binary", "varbyte": "binary", "varbinary": "binary", "binary varying": "binary",
    "date": "date", "timestamp": "timestamp", "timestamp without time zone": "timestamp",
    "timestamptz": "timestamptz", "timestamp with time zone": "timestamptz",
    # Redshift's other types (https://docs.aws.amazon.com/redshift/latest/dg/c_Supported_data_types.html),
    # which the loader does not create: named, so that a change to or from them is "another
    # kind of type" with its name.
    "character": "char", "char": "char", "bpchar": "char", "nchar": "char",
    "time": "time", "time without time zone": "time", "timetz": "timetz",
    "time with time zone": "timetz", "super": "super", "geometry": "geometry",
    "geography": "geography", "hllsketch": "hllsketch",
}  # fmt: skip
# Integer kinds by range, with the decimal digits each holds.
_INT_DIGITS = {"smallint": 5, "integer": 10, "bigint": 19}
_TYPE = re.compile(r"^\s*([a-z0-9 ]+?)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?\s*$")


@dataclass(frozen=True)
class SqlType:
    """A warehouse type as a kind and its size: what widening compares."""

    kind: str
    length: int | None = None  # varchar / binary: None is unbounded
    precision: int | None = None
    scale: int | None = None

    def widens_to(self, new: SqlType) -> bool:
        """Every value of `self` is the same value in `new`."""
        if self.kind in _INT_DIGITS:
            if new.kind in _INT_DIGITS:
                return _INT_DIGITS[new.kind] >= _INT_DIGITS[self.kind]
            return new.kind == "decimal" and _int_digits(new) >= _INT_DIGITS[self.kind]
        if self.kind != new.kind:
            return False
        if self.kind == "decimal":
            return (new.scale or 0) >= (self.scale or 0) and _int_digits(new) >= _int_digits(self)
        if self.kind == "binary" and self.length is None:
            # Redshift's VARBYTE always has a width (default 64,000,
            # https://docs.aws.amazon.com/redshift/latest/dg/r_VARBYTE_type.html); a catalog that
            # reports none is not taken for a narrowing, which would refuse every later load.
            return True
        if self.kind in ("varchar", "binary"):
            return new.length is None or (self.length is not None and new.length >= self.length)
        return self == new


def _int_digits(t: SqlType) -> int:
    return (t.precision or 18) - (t.scale or 0)


def parse_type(
    text: str, length: int | None = None, precision: int | None = None, scale: int | None = None
) -> SqlType:
    """`DECIMAL(12,4)`, `character varying` + length 40, `TIMESTAMP WITH TIME ZONE`, ..."""
    match = _TYPE.match(text.lower())
    if not match or match.group(1) not in _KINDS:
        return SqlType(text.strip().lower())
    kind = _KINDS[match.group(1)]
    a = int(match.group(2)) if match.group(2) else None
    b = int(match.group(3)) if match.group(3) else None
    if kind == "decimal":
        return SqlType(kind, precision=a or precision, scale=b if a else scale)
    if kind in ("varchar", "binary"):
        return SqlType(kind, length=a or length)
    return SqlType(kind)


@dataclass(frozen=True)
class Change:
    column: str
    action: Action
    old: str | None  # the warehouse's type (None: no such column)
    new: str | None  # the files' type (None: not in the files)
    sql_type: str | None = None  # the type to create or alter to, in the warehouse's words
    default: str | None = None  # ADD COLUMN ... DEFAULT <literal>
    reason: str = ""
    mysql_type: str | None = None  # the column's type in MySQL now, as the files record it


class SchemaChangeRefused(LoadError):
    """A change the loader cannot apply exactly; nothing was written."""


def plan_changes(
    dialect: str,
    existing: Mapping[str, tuple[SqlType, str]],
    files: Sequence[FileColumn],
    column_type: Mapping[str, str],
    defaults: Mapping[str, ColumnDefault] | None,
) -> list[Change]:
    """Compare the warehouse's columns (name -> (type, its text)) with one group of files.

    `dialect`: the warehouse's kind (which type changes it makes in place: its record);
    `column_type`: each file column's type in this warehouse; `defaults`: MySQL's defaults by
    MySQL column name, None when the load has no MySQL connection (added columns are then NULL
    for existing rows, as MySQL leaves them without a DEFAULT)."""
    in_place = dialect_of(dialect).changes_type_in_place
    changes = []
    names = {c.name for c in files}
    for name, (_t, text) in existing.items():
        if name not in names and name not in KEPT_COLUMNS:  # soft deletes' and history's
            changes.append(Change(name, "refuse", text, None, reason=_GONE))
    for col in files:
        new_text = column_type[col.name]
        new = parse_type(new_text)
        if col.name not in existing:
            added = _added(col.name, new_text, (defaults or {}).get(col.source_name))
            changes.append(replace(added, mysql_type=col.column_type))
            continue
        old, old_text = existing[col.name]
        if old == new or (old.widens_to(new) and new.widens_to(old)):
            continue
        if not old.widens_to(new):
            reason = _NARROWED if old.kind == new.kind else _KIND_CHANGED
            changes.append(
                Change(
                    col.name,
                    "refuse",
                    old_text,
                    new_text,
                    reason=reason,
                    mysql_type=col.column_type,
                )
            )
        elif not in_place(old.kind):
            changes.append(Change(col.name, "rebuild", old_text, new_text, new_text))
        else:
            changes.append(Change(col.name, "alter", old_text, new_text, new_text))
    return changes


_GONE = (
    "dropped or renamed in MySQL: a rename keeps its values and a drop + add does not, and the "
    "catalog cannot tell them apart"
)
_NARROWED = "narrowed in MySQL, which may have rounded or clipped the values it kept"
_KIND_CHANGED = "another kind of type: MySQL converted every value in place"


def _added(name: str, sql_type: str, default: ColumnDefault | None) -> Change:
    if default is None or default.kind == "null":
        return Change(name, "add", None, sql_type, sql_type)
    if default.kind == "literal":
        return Change(name, "add", None, sql_type, sql_type, default=default.sql)
    reason = (
        "added with an expression DEFAULT: MySQL evaluated it per row, once"
        if default.kind == "expression"
        else "added NOT NULL without a DEFAULT: MySQL filled its rows with the type's zero value"
    )
    return Change(name, "refuse", None, sql_type, reason=reason)


def refusal_message(table: str, fix: str, changes: Sequence[Change]) -> str:
    lines = [
        f"column {c.column!r}: {_display(c.old)} -> {_display(c.new)}"
        + (f" (MySQL {c.mysql_type})" if c.mysql_type else "")
        + f": {c.reason}"
        for c in changes
        if c.action == "refuse"
    ]
    return (
        f"schema change in {table} that the load cannot apply exactly: {'; '.join(lines)}. "
        f"Nothing was written. {fix}"
    )


# -- the warehouse side ----------------------------------------------------------------------
class Catalog(Protocol):
    """What reading a warehouse's columns takes (a `Warehouse` is one)."""

    ph: str

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...


# Redshift: each column's type as format_type prints it, width included, read from pg_attribute as
# AWS's own v_generate_tbl_ddl admin view does (awslabs/amazon-redshift-utils). Not PG_TABLE_DEF,
# which "only returns information about tables that are visible to the user" on the search_path
# (https://docs.aws.amazon.com/redshift/latest/dg/r_PG_TABLE_DEF.html), nor information_schema,
# whose VARBYTE length is unverified. Parameters: schema, table.
FORMAT_TYPE_SQL = (
    "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
    "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 ORDER BY a.attnum"
)


def typed_columns(rows: Sequence[tuple[Any, ...]]) -> dict[str, tuple[SqlType, str]]:
    """(column, type text as format_type prints it) rows -> name -> (type, its text)."""
    out = {}
    for name, text in rows:
        t = parse_type(str(text))
        out[str(name)] = (t, _type_text(t, str(text)))
    return out


def warehouse_columns(
    warehouse: Catalog, schema: str, table: str
) -> dict[str, tuple[SqlType, str]]:
    sql = getattr(warehouse, "catalog_types_sql", None)
    if sql:  # Redshift
        return typed_columns(warehouse.fetchall(sql, (schema, table)))
    rows = warehouse.fetchall(
        "SELECT column_name, data_type, character_maximum_length, numeric_precision, "
        "numeric_scale FROM information_schema.columns "
        f"WHERE table_schema = {warehouse.ph} AND table_name = {warehouse.ph} "
        "ORDER BY ordinal_position",
        (schema, table),
    )
    out = {}
    for name, data_type, length, precision, scale in rows:
        t = parse_type(str(data_type), length, precision, scale)
        out[str(name)] = (t, _type_text(t, str(data_type)))
    return out


def _display(text: str | None) -> str:
    """One spelling for every dialect: DECIMAL(10,2), VARCHAR(40), INTEGER."""
    return "(absent)" if text is None else _type_text(parse_type(text), text)


def _type_text(t: SqlType, raw: str) -> str:
    if t.kind == "decimal":
        return f"DECIMAL({t.precision},{t.scale})"
    if t.kind == "varchar" and t.length:
        return f"VARCHAR({t.length})"
    if t.kind == "binary" and t.length:
        return f"VARBYTE({t.length})"
    return raw.upper()


def alter_type_sql(target: str, column: str, sql_type: str) -> str:
    return f"ALTER TABLE {target} ALTER COLUMN {quote_ident(column)} TYPE {sql_type}"


def add_column_sql(target: str, column: str, sql_type: str, default: str | None) -> str:
    tail = f" DEFAULT {default}" if default is not None else ""
    return f"ALTER TABLE {target} ADD COLUMN {quote_ident(column)} {sql_type}{tail}"


def check_identity(request: LoadRequest, changes: Sequence[Change], has_rows: bool) -> None:
    if has_rows and any(c.column == KEY_IDENTITY and c.action == "add" for c in changes):
        raise LoadError(loaded_without_identity(request))


def loaded_without_identity(request: LoadRequest) -> str:
    target = f"{request.target_schema}.{request.target_table}"
    return (
        f"{target} holds rows loaded before the project carried MySQL's key identity "
        f"({KEY_IDENTITY!r}: the key of {request.table.qualified} compares case-, accent- or "
        "trailing-space-insensitively, or on a prefix, in MySQL); they cannot be matched by it. "
        f"Drop {target} and run `mysql-redshift watermark reset -t {request.table.qualified}`, "
        "then sync again; nothing was loaded"
    )
