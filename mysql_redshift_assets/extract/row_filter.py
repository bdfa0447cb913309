"""A table's `where:` checked against MySQL's columns: the SQL every read adds, and the same
predicate evaluated in Python on a binlog row image (`sync/binlog.py`).

The SQL holds no text of the user's: column names are MySQL's own (matched, then quoted by the
source), numbers are re-rendered from their parsed value, strings are hex literals
(`_utf8mb4 X'...'`, `X'...'` for binary columns), dates and times are re-rendered from the
parsed value. So `where:` cannot inject SQL, whatever it holds.

Types: a number literal compares with an integer, DECIMAL, YEAR, FLOAT or DOUBLE column; a
string literal with a text or binary column; a `'YYYY-MM-DD[ HH:MM:SS[.ffffff]]'` string with a
DATE, DATETIME or TIMESTAMP column, read as a wall clock in the table's zone (`time_zone:`):
a TIMESTAMP literal is converted to UTC (our sessions run in `+00:00`; a wall clock skipped or
repeated by a DST change takes its first reading). Any other pairing (MySQL would convert one
side by rules few people remember), and columns of other types (BIT, ENUM, SET, TIME, JSON,
spatial), are refused.

Python evaluation follows MySQL: NULL makes a comparison unknown, unknown is not included
(three-valued AND/OR/NOT); integers and DECIMALs compare exactly, FLOAT/DOUBLE as doubles;
text only under a binary collation (`binary`, or `_bin` of utf8mb3/utf8mb4/ascii: code point
order, which is Python's; PAD SPACE collations compare as if the shorter were padded with
spaces, `_nopad_bin` as is). A binlog table filtering on a text column of another collation
(`_ci`, accent-insensitive, a national order) is refused: Python would not compare as MySQL does.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.config.row_filter import (
    BoolOp,
    Compare,
    Expr,
    InList,
    IsNull,
    Literal,
    Not,
)
from mysql_redshift_assets.extract.schema_types import SourceColumn

_EXACT = {"tinyint", "smallint", "mediumint", "int", "exact", "bigint", "year", "decimal"}
_FLOAT = {"float", "double", "real"}
_TEXT = {"char", "varchar", "tinytext", "text", "mediumtext", "longtext"}
_BYTES = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"}
_TEMPORAL = {"date", "datetime", "timestamp"}
_BIN_CHARSETS = {"utf8mb4", "utf8mb3", "utf8", "ascii"}
_WALL_CLOCK = re.compile(r"\d{4}-\d{2}-\d{2}( \d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?")


class FilterError(ValueError):
    """`where:` does not fit the table's columns (the message names the column and why)."""


@dataclass(frozen=True)
class RowFilter:
    """A table's filter: `sql` for MySQL (no parameters), `holds(image)` for a binlog image."""

    text: str
    sql: str
    holds: Callable[[Mapping[str, Any]], bool]


def bind_filter(
    text: str,
    expr: Expr,
    columns: Mapping[str, SourceColumn],
    *,
    quote: Callable[[str], str],
    zone: str,
    binlog: bool,
) -> RowFilter:
    """`expr` (parsed from `text`) checked against `columns` (MySQL's, by name)."""
    binder = _Binder(columns, quote, ZoneInfo(zone), binlog)
    sql, test = binder.bind(expr)
    return RowFilter(text, sql, lambda image: test(image) is True)


Test = Callable[[Mapping[str, Any]], "bool | None"]


class _Binder:
    def __init__(
        self,
        columns: Mapping[str, SourceColumn],
        quote: Callable[[str], str],
        zone: ZoneInfo,
        binlog: bool,
    ) -> None:
        self.by_lower = {name.lower(): c for name, c in columns.items()}
        self.quote, self.zone, self.binlog = quote, zone, binlog

    def bind(self, expr: Expr) -> tuple[str, Test]:
        if isinstance(expr, Not):
            sql, test = self.bind(expr.operand)
            return f"NOT ({sql})", lambda r: _not(test(r))
        if isinstance(expr, BoolOp):
            parts = [self.bind(p) for p in expr.operands]
            joined = f" {expr.op} ".join(f"({s})" for s, _ in parts)
            tests = [t for _, t in parts]
            combine = _and if expr.op == "AND" else _or
            return joined, lambda r: combine(t(r) for t in tests)
        column = self.column(expr.column)
        name, ref = column.name, self.quote(column.name)
        if isinstance(expr, IsNull):
            negated = expr.negated
            return (
                f"{ref} IS {'NOT ' if negated else ''}NULL",
                lambda r: r[name] is not None if negated else r[name] is None,
            )
        kind = _kind(column, self.binlog)
        if isinstance(expr, Compare):
            lit = self.literal(column, kind, expr.value)
            op = expr.op
            return f"{ref} {op} {lit.sql}", lambda r: _compare(kind, column, r[name], op, lit.value)
        if isinstance(expr, InList):
            lits = [self.literal(column, kind, v) for v in expr.values]
            listed = ", ".join(lit.sql for lit in lits)
            negated = expr.negated
            sql = f"{ref} {'NOT ' if negated else ''}IN ({listed})"

            def within(r: Mapping[str, Any]) -> bool | None:
                found = _or(_compare(kind, column, r[name], "=", lit.value) for lit in lits)
                return _not(found) if negated else found

            return sql, within
        low, high = (self.literal(column, kind, v) for v in (expr.low, expr.high))
        negated = expr.negated
        sql = f"{ref} {'NOT ' if negated else ''}BETWEEN {low.sql} AND {high.sql}"

        def between(r: Mapping[str, Any]) -> bool | None:
            v = r[name]
            inside = _and(
                [
                    _compare(kind, column, v, ">=", low.value),
                    _compare(kind, column, v, "<=", high.value),
                ]
            )
            return _not(inside) if negated else inside

        return sql, between

    def column(self, name: str) -> SourceColumn:
        column = self.by_lower.get(name.lower())
        if column is None:
            known = ", ".join(sorted(c.name for c in self.by_lower.values()))
            raise FilterError(f"unknown column {name!r} (columns: {known})")
        return column

    def literal(self, column: SourceColumn, kind: str, value: Literal) -> _Lit:
        if kind in ("exact", "float"):
            if not isinstance(value, Decimal):
                raise _mismatch(column, "a number", value)
            text = format(value, "f")
            return _Lit(text, value if kind == "exact" else float(value))
        if not isinstance(value, str):
            raise _mismatch(column, "a 'quoted string'", value)
        if kind == "bytes":
            raw = value.encode()
            return _Lit(f"X'{raw.hex()}'" if raw else "''", raw)
        if kind == "text":
            raw = value.encode()
            return _Lit(f"_utf8mb4 X'{raw.hex()}'" if raw else "''", value)
        return self.temporal(column, value)

    def temporal(self, column: SourceColumn, value: str) -> _Lit:
        try:
            if not _WALL_CLOCK.fullmatch(value):  # not Python's other ISO forms (weeks, T)
                raise ValueError(value)
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            raise FilterError(
                f"column {column.name!r} is {column.data_type}: compare it with "
                f"'YYYY-MM-DD' or 'YYYY-MM-DD HH:MM:SS[.ffffff]' (a wall clock in the table's "
                f"zone, no offset), not {value!r}"
            ) from None
        if column.data_type == "timestamp":
            moment = moment.replace(tzinfo=self.zone).astimezone(dt.UTC)
            moment = moment.replace(tzinfo=None)
        return _Lit(f"'{moment.isoformat(sep=' ')}'", moment)


@dataclass(frozen=True)
class _Lit:
    sql: str
    value: Any


def check_filter_unchanged(table: TableConfig, recorded: str | None) -> None:
    """An increment reads through the filter the table was copied with: after `where:` changed,
    rows the new filter adds would arrive only when they change, and rows it drops would stay
    (a binlog table's, or any with `deletes: ignore`). A resync starts the table over."""
    if recorded == table.where:
        return
    was = f"`{recorded}`" if recorded is not None else "no filter"
    now = f"`{table.where}`" if table.where is not None else "no filter"
    raise ConfigError(
        table.error(
            "where",
            f"the table was copied with {was} and is now configured with {now}; its rows "
            "would mix both. Run `mysql-redshift resync "
            f"-p {table.pipeline} -t {table.qualified}` to copy it again through the new filter",
        )
    )


def through_filter(
    row_filter: RowFilter | None, keyed: bool, before: Any, after: Any
) -> tuple[Any, Any]:
    """A binlog change's (before, after) images seen through the table's filter: an after
    image outside it is no row (an update out of the filter then deletes its before key, an
    insert outside is dropped); a before image outside it is no delete, except a keyed
    update's (a key the warehouse may hold: deleting an absent key is harmless)."""
    if row_filter is None:
        return before, after
    updated = before is not None and after is not None
    if after is not None and not row_filter.holds(after):
        after = None
    if before is not None and not row_filter.holds(before) and not (updated and keyed):
        before = None
    return before, after


def _kind(column: SourceColumn, binlog: bool) -> str:
    data_type = column.data_type
    if data_type in _EXACT:
        return "exact"
    if data_type in _FLOAT:
        return "float"
    if data_type in _BYTES:
        return "bytes"
    if data_type in _TEMPORAL:
        return "temporal"
    if data_type in _TEXT:
        collation = (column.collation or "").lower()
        charset = collation.split("_", 1)[0]
        if binlog and not (collation.endswith("_bin") and charset in _BIN_CHARSETS):
            raise FilterError(
                f"column {column.name!r} has collation {collation or '?'}: a binlog table's "
                "filter is also evaluated on each row image in Python, which compares text "
                "exactly as only a binary collation does (binary, or utf8mb4_bin / "
                "utf8mb3_bin / ascii_bin); filter on another column, or use a cursor"
            )
        return "text"
    raise FilterError(
        f"column {column.name!r} is {data_type}: a filter compares numbers, text, binary "
        "strings, DATE, DATETIME and TIMESTAMP columns only"
    )


def _mismatch(column: SourceColumn, wanted: str, value: Literal) -> FilterError:
    return FilterError(
        f"column {column.name!r} is {column.data_type}: compare it with {wanted}, not "
        f"{value!r} (MySQL would convert one side, by rules the filter does not rely on)"
    )


def _compare(kind: str, column: SourceColumn, value: Any, op: str, literal: Any) -> bool | None:
    if value is None:
        return None
    left, right = _comparable(kind, column, value, literal)
    if op == "=":
        return bool(left == right)
    if op == "<>":
        return bool(left != right)
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def _comparable(kind: str, column: SourceColumn, value: Any, literal: Any) -> tuple[Any, Any]:
    if kind == "exact":
        return Decimal(value), literal
    if kind == "float":
        return float(value), literal
    if kind == "bytes":
        return bytes(value), literal
    if kind == "temporal":
        if not isinstance(value, dt.date):  # a zero date: before every date, as in MySQL
            return dt.datetime.min, literal
        if not isinstance(value, dt.datetime):
            value = dt.datetime(value.year, value.month, value.day)
        return value, literal
    text = value.decode() if isinstance(value, bytes) else str(value)
    if _no_pad(column.collation or ""):
        return text, literal
    width = max(len(text), len(literal))  # PAD SPACE: the shorter padded with spaces
    return text.ljust(width), str(literal).ljust(width)


def _no_pad(collation: str) -> bool:
    """NO PAD: MariaDB's `_nopad_` collations and MySQL 8's `_0900_` ones (utf8mb4_0900_bin,
    MySQL 8's binary utf8mb4 collation, is NO PAD; utf8mb4_bin is PAD SPACE on both)."""
    return "_nopad_" in collation or "_0900_" in collation


def _not(value: bool | None) -> bool | None:
    return None if value is None else not value


def _and(values: Any) -> bool | None:
    unknown = False
    for value in values:
        if value is False:
            return False
        unknown = unknown or value is None
    return None if unknown else True


def _or(values: Any) -> bool | None:
    unknown = False
    for value in values:
        if value is True:
            return True
        unknown = unknown or value is None
    return None if unknown else False
