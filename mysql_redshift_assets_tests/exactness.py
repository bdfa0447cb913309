"""Row-by-row comparison of a MySQL table and its warehouse table, for every exactness test.

    sync = Sync.of(make_project, mysql_db, "orders", {"cursor": "updated_at"}, target="postgres")
    sync.run()                                    # extract + load, in process
    assert_same_rows(mysql, sync)                 # every row, every value, nothing extra

Values are compared after one normalisation that loses nothing: datetimes as naive UTC (MySQL
DATETIME read in the zone the test says the application wrote, TIMESTAMP read by a UTC session),
decimals as `Decimal`, binary as `bytes`, everything else as the driver returns it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pymysql

from mysql_redshift_assets.config.loader import Project
from mysql_redshift_assets.config.models import DEFAULT_LATE_COMMIT_WINDOW_SECONDS
from mysql_redshift_assets.config.resolve import TableConfig, table_config
from mysql_redshift_assets.connect import open_source, open_store, open_warehouse
from mysql_redshift_assets.identifiers import quote_ident, quote_mysql_ident
from mysql_redshift_assets.load.base import Warehouse
from mysql_redshift_assets.load.request import LoadResult
from mysql_redshift_assets.naming import target_table
from mysql_redshift_assets.state.watermark import Watermark, WatermarkStore
from mysql_redshift_assets.sync.extract import ExtractResult, extract_table
from mysql_redshift_assets.sync.load import load_table

Row = tuple[Any, ...]


@dataclass
class Sync:
    """One table of a test pipeline: extract and load it in process, read it back."""

    project: Project
    table: TableConfig

    @classmethod
    def of(
        cls,
        make_project: Callable[..., Project],
        mysql_db: str,
        name: str,
        spec: dict[str, Any],
        **pipeline: Any,
    ) -> Sync:
        pipeline.setdefault("store", "local")
        pipeline.setdefault("upper_bound_lag_seconds", 0)
        # The production default: re-reads are part of what the comparison checks.
        pipeline.setdefault("late_commit_window_seconds", DEFAULT_LATE_COMMIT_WINDOW_SECONDS)
        project = make_project({f"{mysql_db}.{name}": spec}, **pipeline)
        return cls(project, table_config(project.pipeline("testpipe"), f"{mysql_db}.{name}"))

    def extract(self, run_id: str = "run", **kwargs: Any) -> ExtractResult:
        store = open_store(self.project, self.table.store)
        source = open_source(self.project, self.table.source)
        try:
            return extract_table(
                source, store, WatermarkStore(store), self.table, run_id=run_id, **kwargs
            )
        finally:
            source.close()

    def load(self, run_id: str = "run") -> LoadResult:
        """The warehouse asset's work: the load, then (incremental tables with `deletes:
        propagate`, the default) the delete pass against MySQL."""
        store = open_store(self.project, self.table.store)
        warehouse = open_warehouse(self.project, self.table.target)
        source = open_source(self.project, self.table.source)
        try:
            result, _ = load_table(
                warehouse, store, WatermarkStore(store), self.table, run_id=run_id, source=source
            )
            return result
        finally:
            warehouse.close()
            source.close()

    def run(self, run_id: str = "run") -> tuple[ExtractResult, LoadResult]:
        return self.extract(run_id), self.load(run_id)

    def warehouse_rows(self, columns: Sequence[str], key: Sequence[str]) -> list[Row]:
        """The warehouse table's rows (`columns`, in MySQL's names), ordered by `key`."""
        store = open_store(self.project, self.table.store)
        watermark = WatermarkStore(store).load(self.table)
        warehouse = open_warehouse(self.project, self.table.target)
        try:
            names = watermark.columns if watermark else None
            return read_warehouse(warehouse, self.table, columns, key, names, watermark)
        finally:
            warehouse.close()


def read_warehouse(
    warehouse: Warehouse,
    table: TableConfig,
    columns: Sequence[str],
    key: Sequence[str],
    names: Mapping[str, str] | None = None,
    watermark: Watermark | None = None,
) -> list[Row]:
    """`names`: MySQL name -> warehouse name as recorded (the watermark's `columns`); a column
    not in it is read under its lowercased name. The table: the one `watermark` recorded."""
    schema, name = target_table(table, watermark)
    if not warehouse.table_columns(schema, name):
        return []
    names = names or {}
    cols = ", ".join(quote_ident(names.get(c, c.lower())) for c in columns)
    order = ", ".join(quote_ident(names.get(c, c.lower())) for c in key)
    rows = warehouse.fetchall(f"SELECT {cols} FROM {warehouse.ref(schema, name)} ORDER BY {order}")
    return [tuple(_normal(v, None) for v in row) for row in rows]


def read_mysql(
    mysql: pymysql.Connection,
    table: str,
    columns: Sequence[str],
    key: Sequence[str],
    *,
    datetime_zone: str = "UTC",
) -> list[Row]:
    """`table`'s rows as a UTC session reads them; DATETIME values are wall clocks in
    `datetime_zone` (the zone the application wrote them in), made naive UTC."""
    cols = ", ".join(quote_mysql_ident(c) for c in columns)
    order = ", ".join(quote_mysql_ident(c) for c in key)
    with mysql.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
        cur.execute(f"SELECT {cols} FROM {table} ORDER BY {order}")
        types = [d[1] for d in cur.description]
        rows = cur.fetchall()
    zone = ZoneInfo(datetime_zone)
    datetime_type = pymysql.constants.FIELD_TYPE.DATETIME
    return [
        tuple(
            _normal(v, zone if t == datetime_type else None) for v, t in zip(r, types, strict=True)
        )
        for r in rows
    ]


def _normal(value: Any, zone: ZoneInfo | None) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None and zone is not None:
            value = value.replace(tzinfo=zone)
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    return value  # Decimal('1.50') == Decimal('1.5'): a lost digit still differs


def assert_same_rows(
    mysql: pymysql.Connection,
    sync: Sync,
    columns: Sequence[str],
    key: Sequence[str],
    *,
    datetime_zone: str = "UTC",
) -> None:
    """MySQL's table == the warehouse table, row by row and value by value."""
    table = f"{quote_mysql_ident(sync.table.source_schema)}.{quote_mysql_ident(sync.table.source_table)}"
    want = read_mysql(mysql, table, columns, key, datetime_zone=datetime_zone)
    got = sync.warehouse_rows(columns, key)
    # MySQL orders by its collation (and ENUM by index), the warehouse by bytes: the same rows
    # may come in another order, so both sides are also compared as sorted multisets.
    if want == got or sorted(want, key=repr) == sorted(got, key=repr):
        return
    k = [list(columns).index(c) for c in key]
    want_by = {tuple(r[i] for i in k): r for r in want}
    got_by = {tuple(r[i] for i in k): r for r in got}
    missing = sorted(set(want_by) - set(got_by), key=repr)[:10]
    extra = sorted(set(got_by) - set(want_by), key=repr)[:10]
    changed = [
        (want_by[x], got_by[x]) for x in want_by.keys() & got_by.keys() if want_by[x] != got_by[x]
    ]
    duplicates = len(got) - len(got_by)
    raise AssertionError(
        f"warehouse != MySQL for {table}: {len(want)} rows in MySQL, {len(got)} in the warehouse; "
        f"missing keys {missing}; extra keys {extra}; duplicated keys {duplicates}; "
        f"changed (mysql, warehouse) {changed[:5]}"
    )
