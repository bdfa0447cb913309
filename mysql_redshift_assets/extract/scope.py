"""A scope: the rows of one table where a predicate holds, and MySQL's count of them.

A reconciliation compares a scope of MySQL's table with a scope of the warehouse's (a whole
table is one scope, a partitioned table one per window, `reconcile/scope.py`); each side spells
its own predicate in its own SQL and quotes its own table name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from mysql_redshift_assets.extract.mysql_text import raw_text
from mysql_redshift_assets.extract.plan import TablePlan
from mysql_redshift_assets.extract.source import Source


@dataclass(frozen=True)
class Scope:
    """`schema`.`table` (the names on its own side), its rows where `where` holds ("": every
    row), `params` bound to `where`'s placeholders (the side's own placeholder)."""

    schema: str
    table: str
    where: str = ""
    params: tuple[Any, ...] = ()

    def within(self, where: str, params: Sequence[Any] = ()) -> Scope:
        """These rows where `where` also holds (a table's row filter stays)."""
        if self.where and where:
            return replace(
                self, where=f"({self.where}) AND ({where})", params=(*self.params, *params)
            )
        return replace(self, where=where or self.where, params=(*self.params, *params))

    @property
    def whole(self) -> bool:
        return not self.where

    @property
    def predicate(self) -> str:
        """`where`, or a predicate every row meets."""
        return self.where or "1 = 1"


def source_scope(plan: TablePlan) -> Scope:
    """Every row of the MySQL table `plan` reads: with a row filter (`where:`), its rows where
    the filter holds."""
    where = plan.row_filter.sql if plan.row_filter is not None else ""
    return Scope(plan.table.source_schema, plan.table.source_table, where)


def count_in(source: Source, scope: Scope) -> int:
    """MySQL's `COUNT(*)` of the scope's rows."""
    ref = source.table_ref(scope.schema, scope.table)
    row = source.query_one(f"SELECT COUNT(*) FROM {ref} WHERE {scope.predicate}", scope.params)
    return int(raw_text(row[0])) if row and row[0] is not None else 0
