"""DuckDB: the embedded warehouse (demo and local work), same semantics as Redshift.

DuckDB's own words: its column types, no LOCK (one process writes a database file at a time),
a catalog-qualified schema, and files moved into staging by reading them through Arrow.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds

from mysql_redshift_assets.identifiers import quote_ident
from mysql_redshift_assets.load.base import Warehouse
from mysql_redshift_assets.load.request import LoadRequest
from mysql_redshift_assets.state.watermark import FileRecord
from mysql_redshift_assets.store.objectstore import ObjectStore
from mysql_redshift_assets.store.parquet import FileColumn, Footer


class DuckDBWarehouse(Warehouse):
    ph = "?"
    dialect = "duckdb"

    def __init__(self, name: str, path: Path, *, memory_limit: str | None = None) -> None:
        super().__init__(name)
        self.path = Path(path)
        self.memory_limit = memory_limit  # validated by the config (DuckDBTargetSpec)
        self._con: duckdb.DuckDBPyConnection | None = None

    def __repr__(self) -> str:
        return f"DuckDBWarehouse({self.name!r}, path={str(self.path)!r})"

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._con = duckdb.connect(str(self.path))
            except duckdb.IOException as exc:
                raise RuntimeError(
                    f"warehouse {self.name!r}: cannot open {self.path} ({exc}); "
                    "another process may be loading into it"
                ) from None
            # Parquet timestamps are UTC; cast TIMESTAMPTZ -> TIMESTAMP in UTC, not local time.
            self._con.execute("SET TimeZone = 'UTC'")
            if self.memory_limit:
                # Past it DuckDB spills to <path>.tmp instead of growing with the table.
                self._con.execute(f"SET memory_limit = '{self.memory_limit}'")
        return self._con

    def catalog_prefix(self) -> str:
        # A schema named like the database file would otherwise be ambiguous.
        return quote_ident(self.fetchall("SELECT current_database()")[0][0]) + "."

    def cursor(self) -> Any:
        return self.con

    def begin(self) -> None:
        self.con.begin()

    def commit(self) -> None:
        # DuckDB runs in autocommit outside an explicit transaction; commit only an open one.
        try:
            self.con.commit()
        except duckdb.TransactionException:
            pass

    def rollback(self) -> None:
        self.con.rollback()

    def column_type(self, col: FileColumn) -> str:
        return col.duckdb_type

    def lock(self, table: str) -> None:
        pass  # the database file takes one writing process at a time (see `con`)

    def check_text_fits(
        self, request: LoadRequest, files: Sequence[FileRecord], footers: Sequence[Footer]
    ) -> None:
        pass  # DuckDB's VARCHAR holds any length

    def copy_into_staging(
        self,
        staging: str,
        columns: list[FileColumn],
        files: list[FileRecord],
        store: ObjectStore,
        request: LoadRequest,
        group: int,
    ) -> int:
        locations = [store.arrow_location(f.key) for f in files]
        dataset = ds.dataset(
            [p for _fs, p in locations], filesystem=locations[0][0], format="parquet"
        )
        # One file and one batch read ahead: pyarrow's default (4 files, 16 batches) held 1.3 GB
        # more at the peak of a 4M-row load, and DuckDB, not the reading, sets the pace.
        reader = pa.RecordBatchReader.from_batches(
            dataset.schema,
            dataset.to_batches(batch_size=65_536, batch_readahead=1, fragment_readahead=1),
        )
        view = f"mra_files_{group}"
        self.con.register(view, reader)
        try:
            self.con.execute(f"INSERT INTO {staging} SELECT * FROM {view}")
        finally:
            self.con.unregister(view)
        return int(self.fetchall(f"SELECT COUNT(*) FROM {staging}")[0][0])

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
