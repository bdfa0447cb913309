"""DuckDB: the embedded warehouse (demo and local work), same semantics as Redshift.

DuckDB's own words: its column types, a catalog-qualified schema, files moved into staging by
reading them through Arrow, and its lock. One process at a time opens a database file to write
(another is refused: see `con`); inside that process, though, every connection to the file
shares one database, and their transactions interleave (multi-version, optimistic: a load's
merge can land in a table another connection's swap committed meanwhile). DuckDB has no LOCK
statement, so `lock` holds a per-process mutex for the table until the transaction ends; it is
each transaction's first step, as DuckDB's snapshot begins at a transaction's first statement.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds

from mysql_redshift_assets.identifiers import quote_ident
from mysql_redshift_assets.load.base import CopyBatch
from mysql_redshift_assets.load.exactly_once import ExactlyOnceWarehouse
from mysql_redshift_assets.load.request import LoadRequest
from mysql_redshift_assets.state.watermark import FileRecord
from mysql_redshift_assets.store.parquet import Footer
from mysql_redshift_assets.targets import DUCKDB

# (database file, table) -> the mutex `lock` holds; one per table, for the whole process.
_TABLE_LOCKS: dict[tuple[str, str], threading.Lock] = {}
_TABLE_LOCKS_GUARD = threading.Lock()


class DuckDBWarehouse(ExactlyOnceWarehouse):
    ph = "?"
    target_dialect = DUCKDB

    def __init__(self, name: str, path: Path, *, memory_limit: str | None = None) -> None:
        super().__init__(name)
        self.path = Path(path)
        self.memory_limit = memory_limit  # validated by the config (DuckDBTargetSpec)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._catalog = ""
        self._held: list[threading.Lock] = []  # released when the transaction ends

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
            # Read once: a statement inside a transaction would begin its snapshot before `lock`.
            row = self._con.execute("SELECT current_database()").fetchone()
            self._catalog = quote_ident(row[0]) + "." if row else ""
        return self._con

    def catalog_prefix(self) -> str:
        # A schema named like the database file would otherwise be ambiguous.
        _ = self.con  # opening the connection reads the catalog's name
        return self._catalog

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
        finally:
            self._release()

    def rollback(self) -> None:
        try:
            self.con.rollback()
        finally:
            self._release()

    def lock(self, table: str) -> None:
        """Hold `table` against this process's other connections until the transaction ends
        (other processes cannot open the file). Call it before the transaction's first
        statement: the snapshot then shows what the previous holder committed."""
        mutex = self._table_mutex(table)
        if mutex not in self._held:
            mutex.acquire()
            self._held.append(mutex)

    def _table_mutex(self, table: str) -> threading.Lock:
        with _TABLE_LOCKS_GUARD:
            return _TABLE_LOCKS.setdefault((str(self.path.resolve()), table), threading.Lock())

    def _release(self) -> None:
        while self._held:
            self._held.pop().release()

    def check_text_fits(
        self, request: LoadRequest, files: Sequence[FileRecord], footers: Sequence[Footer]
    ) -> None:
        pass  # DuckDB's VARCHAR holds any length

    def copy_into_staging(self, batch: CopyBatch) -> int:
        locations = [batch.store.arrow_location(f.key) for f in batch.files]
        dataset = ds.dataset(
            [p for _fs, p in locations], filesystem=locations[0][0], format="parquet"
        )
        # One file and one batch read ahead: pyarrow's default (4 files, 16 batches) held 1.3 GB
        # more at the peak of a 4M-row load, and DuckDB, not the reading, sets the pace.
        reader = pa.RecordBatchReader.from_batches(
            dataset.schema,
            dataset.to_batches(batch_size=65_536, batch_readahead=1, fragment_readahead=1),
        )
        view = f"mra_files_{batch.group}"
        self.con.register(view, reader)
        try:
            self.con.execute(f"INSERT INTO {batch.staging} SELECT * FROM {view}")
        finally:
            self.con.unregister(view)
        return int(self.fetchall(f"SELECT COUNT(*) FROM {batch.staging}")[0][0])

    def close(self) -> None:
        self._release()
        if self._con is not None:
            self._con.close()
            self._con = None
