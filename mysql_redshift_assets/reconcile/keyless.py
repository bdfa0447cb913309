"""A table without a primary key, compared as a multiset of rows: nothing pairs a MySQL row
with a warehouse row, so what can be compared is how many times each row occurs.

Each side returns `COUNT(*)` and the sum of a 60-bit piece of each row's MD5 over the canonical
text of its values (`canonical.py`, the same row hash the keyed comparison uses, without the
key): a row lost, doubled or changed changes the sum, and identical rows count once each. Where
the sums differ, the rows are bucketed by the first hex digits of their hash, and the differing
buckets are read as (row hash, occurrences) on both sides: a hash MySQL holds more often is
missing from the warehouse, one the warehouse holds more often is extra. A few of those rows
are read back as text to name them.

The SQL is the keyed comparison's (`buckets.py`): MD5, SUBSTRING, the 60-bit piece summed as
DECIMAL(38,0) on Redshift, GROUP BY 1; the Redshift functions are cited in `canonical.py`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from mysql_redshift_assets.extract.mysql_text import raw_text
from mysql_redshift_assets.extract.schema_types import PlannedColumn
from mysql_redshift_assets.extract.source import Source
from mysql_redshift_assets.load.base import Warehouse
from mysql_redshift_assets.reconcile.canonical import (
    Canonical,
    Dialect,
    canonical,
    hashed_parts,
    piece,
    text_of,
)
from mysql_redshift_assets.reconcile.compare import Diff

ROWS_PER_BUCKET = 1000  # rows a hash-prefix bucket holds, about
CHUNK = 500  # bucket prefixes per query
EXAMPLES = 5  # rows named in a result


@dataclass(frozen=True)
class Rows:
    """A keyless table as one dialect sees it: its comparable columns, within a scope."""

    dialect: Dialect
    table_ref: str
    ph: str
    values: list[Canonical]
    scope: str = ""  # a predicate every query adds (a partition's window), and its parameters
    scope_params: tuple[Any, ...] = ()

    @classmethod
    def of(
        cls, dialect: Dialect, table_ref: str, ph: str, columns: Sequence[PlannedColumn]
    ) -> Rows:
        values = [c for c in (canonical(col) for col in columns) if c.kind is not None]
        return cls(dialect, table_ref, ph, values)

    def within(self, predicate: str, params: Sequence[Any]) -> Rows:
        return replace(self, scope=predicate, scope_params=tuple(params))

    def row_md5(self) -> str:
        return f"MD5({hashed_parts(self.dialect, self.values)})"

    def where(self, prefix: int = 0, labels: Sequence[str] = ()) -> tuple[str, list[Any]]:
        terms, params = ([f"({self.scope})"], list(self.scope_params)) if self.scope else ([], [])
        if labels:
            marks = ", ".join([self.ph] * len(labels))
            terms.append(f"SUBSTRING({self.row_md5()}, 1, {prefix}) IN ({marks})")
            params += list(labels)
        return (" WHERE " + " AND ".join(terms) if terms else ""), params

    def total_sql(self) -> tuple[str, list[Any]]:
        hashed = f", SUM({piece(self.dialect, self.row_md5())})" if self.values else ""
        where, params = self.where()
        return f"SELECT COUNT(*){hashed} FROM {self.table_ref}{where}", params

    def buckets_sql(self, prefix: int) -> tuple[str, list[Any]]:
        label = f"SUBSTRING({self.row_md5()}, 1, {prefix})"
        where, params = self.where()
        sql = (
            f"SELECT {label}, COUNT(*), SUM({piece(self.dialect, self.row_md5())}) "
            f"FROM {self.table_ref}{where} GROUP BY 1"
        )
        return sql, params

    def hashes_sql(self, prefix: int, labels: Sequence[str]) -> tuple[str, list[Any]]:
        where, params = self.where(prefix, labels)
        return f"SELECT {self.row_md5()}, COUNT(*) FROM {self.table_ref}{where} GROUP BY 1", params

    def rows_sql(self, hashes: Sequence[str]) -> tuple[str, list[Any]]:
        """The canonical text of each value of the rows whose hash is one of `hashes`."""
        where, params = self.where(32, hashes)
        texts = ", ".join(text_of(self.dialect, c) for c in self.values)
        return f"SELECT {self.row_md5()}, {texts} FROM {self.table_ref}{where}", params


def _int(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal):
        return int(value)
    return int(raw_text(value))


class _Sides:
    """The two sides' queries, each run on its own connection."""

    def __init__(self, source: Source, mine: Rows, warehouse: Warehouse, theirs: Rows) -> None:
        self.source, self.mine, self.warehouse, self.theirs = source, mine, warehouse, theirs

    def mysql(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return [tuple(raw_text(v) if isinstance(v, bytes) else v for v in row)
                for batch in self.source.stream(sql, params, 10_000) for row in batch]  # fmt: skip

    def target(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self.warehouse.fetchall(sql, params)]


def compare_rows(source: Source, mine: Rows, warehouse: Warehouse, theirs: Rows) -> Diff:
    """MySQL's rows (`mine`) vs the warehouse's (`theirs`), as multisets."""
    sides = _Sides(source, mine, warehouse, theirs)
    a, b = sides.mysql(*mine.total_sql())[0], sides.target(*theirs.total_sql())[0]
    diff = Diff(_int(a[0]), _int(b[0]), values_compared=bool(mine.values), keyed=False)
    if not mine.values:
        gap = diff.mysql_rows - diff.warehouse_rows
        diff.missing, diff.extra = max(gap, 0), max(-gap, 0)
        return diff
    if (diff.mysql_rows, _int(a[1])) == (diff.warehouse_rows, _int(b[1])):
        return diff
    rows = max(diff.mysql_rows, diff.warehouse_rows)
    prefix = min(max(math.ceil(math.log(max(rows, 1) / ROWS_PER_BUCKET, 16)), 1), 6)
    ours = {
        raw_text(r[0]): (_int(r[1]), _int(r[2])) for r in sides.mysql(*mine.buckets_sql(prefix))
    }
    their = {str(r[0]): (_int(r[1]), _int(r[2])) for r in sides.target(*theirs.buckets_sql(prefix))}
    labels = sorted(x for x in ours.keys() | their.keys() if ours.get(x) != their.get(x))
    counts: dict[str, list[int]] = {}
    for i in range(0, len(labels), CHUNK):
        chunk = labels[i : i + CHUNK]
        for side, (run, shape) in enumerate(((sides.mysql, mine), (sides.target, theirs))):
            for row in run(*shape.hashes_sql(prefix, chunk)):
                counts.setdefault(str(row[0]), [0, 0])[side] += _int(row[1])
    missing = [h for h, (m, w) in counts.items() if m > w]
    extra = [h for h, (m, w) in counts.items() if w > m]
    diff.missing = sum(counts[h][0] - counts[h][1] for h in missing)
    diff.extra = sum(counts[h][1] - counts[h][0] for h in extra)
    _examples(diff, "missing", sides.mysql, mine, sorted(missing)[:EXAMPLES])
    _examples(diff, "extra", sides.target, theirs, sorted(extra)[:EXAMPLES])
    return diff


def _examples(diff: Diff, kind: str, run: Any, shape: Rows, hashes: list[str]) -> None:
    """A few of the rows that differ, named by their values' canonical text."""
    if not hashes:
        return
    shown: dict[str, str] = {}
    for row in run(*shape.rows_sql(hashes)):
        values = ", ".join("NULL" if v is None else str(v) for v in row[1:])
        shown.setdefault(str(row[0]), f"({values})")
    diff.examples[kind] = [shown[h] for h in hashes if h in shown]


def rows_note(diff: Diff, what: str) -> str:
    """One line: which comparison was made of `what` (e.g. "the window's rows"), and its result."""
    how = (
        "count and a multiset hash of every row's values"
        if diff.values_compared
        else "count only (no column has a text every dialect hashes alike)"
    )
    if diff.same:
        return f"no primary key: {what} match by {how} ({diff.mysql_rows:,} rows)"
    problems = [
        f"{n:,} {kind}" for n, kind in ((diff.missing, "missing"), (diff.extra, "extra")) if n
    ]
    shown = "; ".join(f"{k}: {' '.join(v)}" for k, v in diff.examples.items() if v)
    return (
        f"no primary key, {what} compared by {how}: warehouse has "
        f"{diff.warehouse_rows - diff.mysql_rows:+,} rows against MySQL; rows "
        + ", ".join(problems)
        + (f" (rows {shown})" if shown else "")
    )
