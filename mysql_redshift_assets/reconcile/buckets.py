"""Buckets of keys and the SQL that summarises them, the same on every dialect.

A single integer key is bucketed by key range: the bucket of `k` is `k - MOD(k, w)` (exact
integer arithmetic, truncating toward zero on all four dialects, so bucket 0 holds -(w-1)..w-1),
and a differing bucket is re-read as the range `k BETWEEN lo AND hi`, which MySQL answers from
its primary-key index. Any other key (composite, text, binary, DECIMAL, temporal) is bucketed by
the first hex digits of the MD5 of its canonical text. Per bucket each side returns
`COUNT(*)`, the sum of a 60-bit piece of each key's hash and, when values are compared, the sum
of a piece of each row's hash.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from mysql_redshift_assets.extract.schema_types import INTEGER_TYPES, PlannedColumn
from mysql_redshift_assets.identifiers import quote_ident, quote_mysql_ident
from mysql_redshift_assets.reconcile.canonical import (
    Canonical,
    Dialect,
    canonical,
    concat,
    hashed_parts,
    piece,
    text_of,
)
from mysql_redshift_assets.targets import dialect_of

TOP_BUCKETS = 4096  # key-range buckets of the first pass
FANOUT = 16  # a differing key-range bucket is split into this many
LEAF_WIDTH = 64  # a key-range bucket this narrow is read key by key
ROWS_PER_HASH_BUCKET = 1000  # hash-prefix buckets: about this many keys each
Restrict = list[tuple[int, int]] | list[str] | None


@dataclass(frozen=True)
class Level:
    """One level of buckets: key ranges `width` wide, or hash prefixes `prefix` digits long."""

    width: int = 0
    prefix: int = 0
    fanout: int = FANOUT
    leaf_width: int = LEAF_WIDTH

    @property
    def is_leaf(self) -> bool:
        return self.prefix > 0 or self.width <= self.leaf_width

    def child(self) -> Level:
        return Level(width=math.ceil(self.width / self.fanout), fanout=self.fanout,
                     leaf_width=self.leaf_width)  # fmt: skip

    def restrict(self, labels: Sequence[Any]) -> Restrict:
        if self.prefix:
            return sorted(str(x) for x in labels)
        return merge_ranges([bucket_range(int(x), self.width) for x in labels])


def first_level(
    int_key: bool, lo: int | None, hi: int | None, rows: int, top_buckets: int = TOP_BUCKETS,
    fanout: int = FANOUT, leaf_width: int = LEAF_WIDTH,
) -> Level:  # fmt: skip
    if int_key:
        span = 1 if lo is None or hi is None else hi - lo + 1
        return Level(width=max(1, math.ceil(span / top_buckets)), fanout=fanout,
                     leaf_width=leaf_width)  # fmt: skip
    digits = math.ceil(math.log(max(rows, 1) / ROWS_PER_HASH_BUCKET, 16)) if rows > 1000 else 1
    return Level(prefix=min(max(digits, 1), 6))


def bucket_range(label: int, width: int) -> tuple[int, int]:
    """The keys of the bucket labelled `label` = k - MOD(k, width) (truncating division)."""
    if label > 0:
        return label, label + width - 1
    if label < 0:
        return label - width + 1, label
    return -(width - 1), width - 1


def merge_ranges(ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


def int_keyed(key: Sequence[PlannedColumn]) -> bool:
    return len(key) == 1 and key[0].source.data_type in INTEGER_TYPES


@dataclass(frozen=True)
class Shape:
    """A table as one dialect sees it: its key and row expressions, ready to summarise."""

    dialect: Dialect
    table_ref: str
    ph: str
    key: list[Canonical]
    values: list[Canonical] = field(default_factory=list)  # empty: keys only
    key_type: str = ""  # the int key's type in this dialect (Redshift's MOD wants both alike)
    # A predicate every query of this side adds (a partition's window), and its parameters.
    scope: str = ""
    scope_params: tuple[Any, ...] = ()

    @classmethod
    def of(cls, dialect: Dialect, table_ref: str, ph: str, key: Sequence[PlannedColumn],
           columns: Sequence[PlannedColumn] = ()) -> Shape:  # fmt: skip
        values = [c for c in (canonical(col) for col in columns) if c.kind is not None]
        key_type = ""
        if int_keyed(key):
            key_type = (
                key[0].source.column_type
                if dialect == "mysql"
                else dialect_of(dialect).column_type(key[0])
            )
        return cls(dialect, table_ref, ph, [canonical(c) for c in key], values, key_type)

    def within(self, predicate: str, params: Sequence[Any]) -> Shape:
        """The same table, only its rows where `predicate` holds (e.g. a partition's window)."""
        return replace(self, scope=predicate, scope_params=tuple(params))

    @property
    def int_key(self) -> bool:
        return bool(self.key_type)

    def ref(self, c: Canonical) -> str:
        return (
            quote_mysql_ident(c.source_name)
            if self.dialect == "mysql"
            else quote_ident(c.column.name)
        )

    def key_text(self) -> str:
        if self.int_key:
            return text_of(self.dialect, self.key[0])
        return hashed_parts(self.dialect, self.key)

    def bucket(self, level: Level) -> str:
        if level.prefix:
            return f"SUBSTRING(MD5({self.key_text()}), 1, {level.prefix})"
        k = self.ref(self.key[0])
        width = (
            str(level.width)
            if self.dialect == "mysql"
            else f"CAST({level.width} AS {self.key_type})"
        )
        return f"{k} - MOD({k}, {width})"

    def row_md5(self) -> str:
        return f"MD5({concat(self.dialect, [self.key_text(), hashed_parts(self.dialect, self.values)])})"

    def where(self, restrict: Restrict) -> tuple[str, list[Any]]:
        terms, params = ([f"({self.scope})"], list(self.scope_params)) if self.scope else ([], [])
        if restrict and isinstance(restrict[0], tuple):
            k = self.ref(self.key[0])
            ranges = [f"{k} BETWEEN {self.ph} AND {self.ph}" for _ in restrict]
            terms.append("(" + " OR ".join(ranges) + ")" if self.scope else " OR ".join(ranges))
            params += [v for r in restrict for v in r]
        elif restrict:
            marks = ", ".join([self.ph] * len(restrict))
            terms.append(f"SUBSTRING(MD5({self.key_text()}), 1, {len(restrict[0])}) IN ({marks})")
            params += list(restrict)
        return (" WHERE " + " AND ".join(terms) if terms else ""), params

    def summary_sql(self, level: Level, restrict: Restrict) -> tuple[str, list[Any]]:
        cols = [
            self.bucket(level),
            "COUNT(*)",
            f"SUM({piece(self.dialect, f'MD5({self.key_text()})')})",
        ]
        if self.values:
            cols.append(f"SUM({piece(self.dialect, self.row_md5())})")
        where, params = self.where(restrict)
        return f"SELECT {', '.join(cols)} FROM {self.table_ref}{where} GROUP BY 1", params

    def leaf_sql(self, restrict: Restrict, extra: Sequence[str] = ()) -> tuple[str, list[Any]]:
        """Each row's key text, row hash (or NULL) and `extra` expressions (typed key columns,
        a watermark flag)."""
        row = self.row_md5() if self.values else "NULL"
        where, params = self.where(restrict)
        cols = ", ".join([self.key_text(), row, *extra])
        return f"SELECT {cols} FROM {self.table_ref}{where}", params

    def bounds_sql(self, *, count: bool) -> tuple[str, list[Any]]:
        """MIN/MAX of an integer key (MySQL answers from the index's ends) and, where asked,
        the row count (cheap in a warehouse, a full index scan in MySQL: never asked there)."""
        k = self.ref(self.key[0])
        cols = [f"MIN({k})", f"MAX({k})"] if self.int_key else ["NULL", "NULL"]
        where, params = self.where(None)
        select = ", ".join(cols + (["COUNT(*)"] if count else []))
        return f"SELECT {select} FROM {self.table_ref}{where}", params
