"""Row-by-row comparison of a MySQL table and its warehouse table, for every exactness test.

    sync = Sync.of(make_project, mysql_db, "orders", {"cursor": "updated_at"}, target="postgres")
    sync.run()                                    # extract + load, in process
    assert_same_rows(mysql, sync)                 # every row, every value, nothing extra

Values are compared after one normalisation that loses nothing: datetimes as naive UTC (MySQL
DATETIME read in the zone the test says the application wrote, TIMESTAMP read by a UTC session),
decimals as `Decimal`, binary as `bytes`, everything else as the driver returns it. A date or
timestamp Python cannot hold (year 0, which the warehouses hold as 1 BC) is its ISO text with the
astronomical year on both sides: `0000-01-01`, `0000-12-31 23:59:59.999999`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import psycopg.types.datetime as pg_datetime
import pymysql
from psycopg.types.string import TextLoader

from mysql_redshift_assets.config.loader import Project
from mysql_redshift_assets.config.pipelines import DEFAULT_LATE_COMMIT_WINDOW_SECONDS
from mysql_redshift_assets.config.resolve import TableConfig, table_config
from mysql_redshift_assets.connect import open_store, open_warehouse
from mysql_redshift_assets.identifiers import quote_ident, quote_mysql_ident
from mysql_redshift_assets.load.base import Warehouse
from mysql_redshift_assets.load.request import LoadResult
from mysql_redshift_assets.naming import target_table
from mysql_redshift_assets.partitions import Window
from mysql_redshift_assets.state.watermark import Watermark, WatermarkStore
from mysql_redshift_assets.sync.clients import Clients
from mysql_redshift_assets.sync.extract import ExtractResult
from mysql_redshift_assets.sync.table import SyncRun, TableSync

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

    def extract(
        self, run_id: str = "run", *, window: Window | None = None, max_rows: int | None = None
    ) -> ExtractResult:
        """The Parquet asset's work: the extraction step of the table's sync (`window`: one
        partition's)."""
        run = SyncRun(run_id, windows=[window] if window else [], max_rows=max_rows)
        with Clients(self.project) as clients:
            return TableSync(self.table, clients, run).extract()[0]

    def load(self, run_id: str = "run") -> LoadResult:
        """The warehouse asset's work: the load, then (incremental tables with `deletes:
        propagate`, the default) the delete pass against MySQL."""
        with Clients(self.project) as clients:
            sync = TableSync(self.table, clients, SyncRun(run_id))
            return sync.run(extract=False).raise_failure().load_result()

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
    cur = warehouse.cursor()
    if warehouse.dialect == "postgres":  # psycopg raises on a date before year 1: read its text
        for pg_type, loader in _PG_TEMPORAL.items():
            cur.adapters.register_loader(pg_type, loader)
        # jsonb as its text: psycopg's own loader parses numbers into floats
        cur.adapters.register_loader("jsonb", TextLoader)
    cur.execute(f"SELECT {cols} FROM {warehouse.ref(schema, name)} ORDER BY {order}")
    temporal = [str(d[1]) in _TEMPORAL_TYPES for d in cur.description]
    return [
        tuple(_normal(v, None, t) for v, t in zip(row, temporal, strict=True))
        for row in cur.fetchall()
    ]


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
            _normal(v, zone if t == datetime_type else None, t in _MYSQL_TEMPORAL)
            for v, t in zip(r, types, strict=True)
        )
        for r in rows
    ]


def _text_when_out_of_range(base: type[psycopg.adapt.Loader]) -> type[psycopg.adapt.Loader]:
    class Loader(base):  # type: ignore[valid-type, misc]
        def load(self, data: Any) -> Any:
            try:
                return super().load(data)
            except psycopg.DataError:  # "date too small (before year 1)"
                return bytes(data).decode()

    return Loader


_PG_TEMPORAL = {
    "date": _text_when_out_of_range(pg_datetime.DateLoader),
    "timestamp": _text_when_out_of_range(pg_datetime.TimestampLoader),
    "timestamptz": _text_when_out_of_range(pg_datetime.TimestamptzLoader),
}
# cursor.description's type codes: DuckDB's type names, PostgreSQL's type OIDs.
_TEMPORAL_TYPES = {"DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "1082", "1114", "1184"}
_MYSQL_TEMPORAL = {pymysql.constants.FIELD_TYPE.DATE, pymysql.constants.FIELD_TYPE.DATETIME,
                   pymysql.constants.FIELD_TYPE.TIMESTAMP, pymysql.constants.FIELD_TYPE.NEWDATE}  # fmt: skip
# MySQL's '0000-01-01 00:00:00', PostgreSQL's '0001-01-01 00:00:00.5+00 BC', DuckDB's
# '0001-01-01 (BC) 00:00:00.5+00': year, month, day, clock, fraction (UTC sessions only).
_TEMPORAL_TEXT = re.compile(
    r"(\d{4,})-(\d\d)-(\d\d)(?: \(BC\))?(?: (\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?)?(?:\+00)?( BC)?"
)


def _astronomical(text: str) -> str:
    """A date / timestamp the driver gave as text (Python cannot hold it) as ISO text with the
    astronomical year (1 BC = 0000); a zero date ('0000-00-00') stays as MySQL wrote it."""
    match = _TEMPORAL_TEXT.fullmatch(text)
    if not match or match[2] == "00" or match[3] == "00":
        return text
    year = int(match[1])
    if "BC" in text:
        year = 1 - year
    day = (
        f"{year:04d}-{match[2]}-{match[3]}" if year >= 0 else f"-{-year:04d}-{match[2]}-{match[3]}"
    )
    return day if match[4] is None else f"{day} {match[4]}.{(match[5] or '').ljust(6, '0')}"


def _normal(value: Any, zone: ZoneInfo | None, temporal: bool = False) -> Any:
    if temporal and isinstance(value, str):
        return _astronomical(value)
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
    json_columns: Sequence[str] = (),
) -> None:
    """MySQL's table == the warehouse table, row by row and value by value; `json_columns`
    compare as JSON documents (key order aside, numbers exact: `as_document`)."""
    table = f"{quote_mysql_ident(sync.table.source_schema)}.{quote_mysql_ident(sync.table.source_table)}"
    want = read_mysql(mysql, table, columns, key, datetime_zone=datetime_zone)
    got = sync.warehouse_rows(columns, key)
    if json_columns:
        docs = [list(columns).index(c) for c in json_columns]
        want, got = ([_documents(r, docs) for r in rows] for rows in (want, got))
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


def as_document(text: str | None) -> Any:
    """A JSON text as a document: objects as dicts (key order aside), every number exact (a
    fraction as `Decimal`, an integer as `int`), a repeated key's last value (Python's)."""
    return None if text is None else json.loads(text, parse_float=Decimal)


def _documents(row: Row, indexes: Sequence[int]) -> Row:
    return tuple(as_document(v) if i in indexes else v for i, v in enumerate(row))
