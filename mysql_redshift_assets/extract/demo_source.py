"""The embedded demo source: MySQL-shaped tables in SQLite files, one file a schema.

Columns are declared with MySQL types (`BIGINT UNSIGNED`, `DECIMAL(15,4)`, `DATETIME(6)`), so the
same planner, keyset queries and Parquet writer run as against MySQL, with no server at all.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from mysql_redshift_assets.extract.schema_types import SourceColumn
from mysql_redshift_assets.extract.source import Row, Source, SourceError
from mysql_redshift_assets.identifiers import quote_ident

_DECL = re.compile(r"^\s*([a-z]+)\s*(?:\(([^)]*)\))?(.*)$")
_TEXT_OCTETS = {"tinytext": 255, "text": 65535, "mediumtext": 16777215, "longtext": 4294967295}


def parse_declared_type(name: str, declared: str, ordinal: int, notnull: bool) -> SourceColumn:
    decl = declared.strip().lower()
    match = _DECL.match(decl)
    if not match:
        raise SourceError(f"demo column {name!r}: cannot read type {declared!r}")
    data_type, args, _rest = match.groups()
    numbers = [int(a) for a in (args or "").split(",") if a.strip().isdigit()]
    octets = precision = scale = dt_precision = None
    if data_type in ("char", "varchar"):
        octets = (numbers[0] if numbers else 1) * 4  # utf8mb4, as MySQL reports it
    elif data_type in _TEXT_OCTETS:
        octets = _TEXT_OCTETS[data_type]
    elif data_type == "json":
        octets = 4294967295
    elif data_type == "decimal":
        precision, scale = (numbers + [10, 0])[:2] if numbers else (10, 0)
    elif data_type in ("datetime", "timestamp", "time"):
        dt_precision = numbers[0] if numbers else 0
    return SourceColumn(
        name=name,
        data_type=data_type,
        column_type=decl,
        nullable=not notnull,
        char_octet_length=octets,
        numeric_precision=precision,
        numeric_scale=scale,
        datetime_precision=dt_precision,
        ordinal=ordinal,
    )


class DemoSource(Source):
    placeholder = "?"

    def __init__(self, name: str, folder: Path) -> None:
        super().__init__(name, reader="pymysql")  # rows as text, as MySQL's text protocol sends
        self.folder = Path(folder)
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            if not self.folder.is_dir():
                raise SourceError(
                    f"source {self.name!r}: demo database folder {self.folder} does not exist "
                    "(create it with `python -m mysql_redshift_assets.demo create`)"
                )
            conn = sqlite3.connect(":memory:", check_same_thread=False)
            for path in sorted(self.folder.glob("*.sqlite")):
                conn.execute("ATTACH DATABASE ? AS " + quote_ident(path.stem), (str(path),))
            self._conn = conn
        return self._conn

    def quote(self, ident: str) -> str:
        return quote_ident(ident)

    def table_ref(self, schema: str, table: str) -> str:
        return f"{quote_ident(schema)}.{quote_ident(table)}"

    def select_expr(self, expr: str) -> str:
        return f"CAST({expr} AS TEXT)"

    def _table_info(self, schema: str, table: str) -> list[tuple[Any, ...]]:
        sql = f"PRAGMA {quote_ident(schema)}.table_info({quote_ident(table)})"
        try:
            return self._connection().execute(sql).fetchall()
        except sqlite3.OperationalError:
            return []  # unknown schema: same as an unknown table

    def columns(self, schema: str, table: str) -> list[SourceColumn]:
        return [
            parse_declared_type(name, decl, cid + 1, bool(notnull))
            for cid, name, decl, notnull, _default, _pk in self._table_info(schema, table)
        ]

    def primary_key(self, schema: str, table: str) -> list[str]:
        keyed = [
            (pk, name) for _cid, name, _d, _n, _df, pk in self._table_info(schema, table) if pk
        ]
        return [name for _pk, name in sorted(keyed)]

    def stream(self, sql: str, params: Sequence[Any], fetch_rows: int) -> Iterator[list[Row]]:
        cur = self._connection().execute(sql, tuple(params))
        try:
            while rows := cur.fetchmany(fetch_rows):
                yield rows
        finally:
            cur.close()

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        return self._connection().execute(sql, tuple(params)).fetchone()

    def now_minus(self, seconds: int) -> str:
        row = self.query_one(
            "SELECT strftime('%Y-%m-%d %H:%M:%f', 'now', ?)", (f"-{int(seconds)} seconds",)
        )
        assert row is not None
        return str(row[0])

    def close(self) -> None:
        super().close()
        if self._conn is not None:
            self._conn.close()
            self._conn = None
