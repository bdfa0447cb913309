"""Exactly-once loads: one transaction stages the files, merges them and records them in the ledger.

    BEGIN
      LOCK target                       -- two loads of one table never interleave
      pending := candidates - ledger    -- read under the lock
      for each run of files with one schema:
        CREATE TEMP TABLE staging (...) -- mirrors the files' own columns, in file order
        COPY staging <- exactly these files (manifest of keys, never a prefix)
        check: rows copied == rows in the files' footers
        merge: delete + insert on the primary key, the latest version of a key (cursor,
               then file, then row: `latest_first`) (incremental) | replace everything (full)
      INSERT one ledger row per file
    COMMIT                              -- or ROLLBACK: target and ledger untouched

Re-running is harmless: a file in the ledger is never loaded again. `Warehouse` holds this
algorithm once; each dialect (`redshift.py`, `postgres.py`, `duckdb.py`) states its own column
types, lock, table options, text limit and the one step that moves file bytes into staging.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal, ParamSpec, TypeVar

from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.identifiers import KEY_IDENTITY, qualified, quote_ident
from mysql_redshift_assets.load import ledger
from mysql_redshift_assets.load.alter import create_or_widen
from mysql_redshift_assets.load.files import group_columns, read_footers, schema_groups
from mysql_redshift_assets.load.request import LoadError, LoadRequest, LoadResult
from mysql_redshift_assets.naming import LEDGER_TABLE, ledger_entry_name, target_table
from mysql_redshift_assets.state.watermark import FileRecord
from mysql_redshift_assets.store.objectstore import ObjectStore
from mysql_redshift_assets.store.parquet import ORDER_COLUMN, FileColumn, Footer

P = ParamSpec("P")
T = TypeVar("T")


class Warehouse(ABC):
    """The exactly-once algorithm; a dialect subclass states its connection, types and statements."""

    ph = "%s"  # the DB-API parameter placeholder
    # The name reconcile/ spells its SQL for; each dialect states it.
    dialect: Literal["duckdb", "postgres", "redshift"]

    def __init__(self, name: str) -> None:
        self.name = name

    # -- the connection (a dialect states these) ----------------------------------------------
    @abstractmethod
    def cursor(self) -> Any: ...

    @abstractmethod
    def begin(self) -> None: ...

    @abstractmethod
    def commit(self) -> None: ...

    @abstractmethod
    def rollback(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    # -- the dialect's types and statements ---------------------------------------------------
    @abstractmethod
    def column_type(self, col: FileColumn) -> str:
        """The SQL type of `col` in this warehouse (the planner recorded one per dialect)."""

    @abstractmethod
    def lock(self, table: str) -> None:
        """Hold `table` until the transaction ends, so that two loads never interleave."""

    def target_table_options(self, request: LoadRequest) -> str:
        """Text after `CREATE TABLE ... (columns)`; none unless the dialect has physical keys."""
        return ""

    @abstractmethod
    def check_text_fits(
        self, request: LoadRequest, files: Sequence[FileRecord], footers: Sequence[Footer]
    ) -> None:
        """Raise LoadError if the files hold text longer than the dialect's columns take."""

    @abstractmethod
    def copy_into_staging(
        self,
        staging: str,
        columns: list[FileColumn],
        files: list[FileRecord],
        store: ObjectStore,
        request: LoadRequest,
        group: int,
    ) -> int:
        """Move exactly `files` into `staging`; return the rows the database says it copied."""

    def catalog_prefix(self) -> str:
        """Prepended to schema names in SQL (DuckDB names its catalog)."""
        return ""

    def _ddl(self, step: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a step of CREATE/ALTER that another session may race; once, unless overridden."""
        return step(*args, **kwargs)

    # -- helpers ------------------------------------------------------------------------------
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        cur = self.cursor()
        cur.execute(sql, tuple(params)) if params else cur.execute(sql)
        return cur

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self.execute(sql, params).fetchall())

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.begin()
        try:
            yield
        except BaseException:
            self.rollback()
            raise
        self.commit()

    def ref(self, schema: str, table: str) -> str:
        return self.catalog_prefix() + qualified(schema, table)

    def table_columns(self, schema: str, table: str) -> list[str]:
        rows = self.fetchall(
            "SELECT column_name FROM information_schema.columns "
            f"WHERE table_schema = {self.ph} AND table_name = {self.ph} ORDER BY ordinal_position",
            (schema, table),
        )
        return [r[0] for r in rows]

    def row_count(self, schema: str, table: str) -> int:
        if not self.table_columns(schema, table):
            return 0
        return int(self.fetchall(f"SELECT COUNT(*) FROM {self.ref(schema, table)}")[0][0])

    # -- the ledger ---------------------------------------------------------------------------
    def ledger(self, schema: str) -> str:
        return self.ref(schema, LEDGER_TABLE)

    def ensure_ledger(self, schema: str) -> None:
        self._ddl(self._create_ledger, schema)

    def _create_ledger(self, schema: str) -> None:
        self.execute(f"CREATE SCHEMA IF NOT EXISTS {self.catalog_prefix()}{quote_ident(schema)}")
        self.execute(ledger.create_ledger_sql(self.ledger(schema)))
        self.commit()

    def loaded_files(self, table: TableConfig) -> set[str]:
        """The keys of `table`'s files that the ledger records as loaded."""
        return self.loaded_keys(target_table(table)[0], ledger_entry_name(table))

    def loaded_keys(self, schema: str, ledger_name: str) -> set[str]:
        if not self.table_columns(schema, LEDGER_TABLE):
            return set()
        sql = ledger.loaded_keys_sql(self.ledger(schema), self.ph)
        return {r[0] for r in self.fetchall(sql, (ledger_name,))}

    def _record_in_ledger(self, request: LoadRequest, files: Sequence[FileRecord]) -> None:
        sql = ledger.record_file_sql(self.ledger(request.target_schema), self.ph)
        for f in files:
            self.execute(sql, (f.key, request.ledger_name, f.rows, request.run_id))

    # -- the target ---------------------------------------------------------------------------
    def ensure_target(self, request: LoadRequest, columns: list[FileColumn]) -> list[str]:
        """Create the target if missing; add columns that appeared in MySQL. Returns added names."""
        return self._ddl(self._create_or_widen_target, request, columns)

    def _create_or_widen_target(self, request: LoadRequest, columns: list[FileColumn]) -> list[str]:
        return create_or_widen(self, request, columns)

    # -- the algorithm ------------------------------------------------------------------------
    def load(self, request: LoadRequest, store: ObjectStore) -> LoadResult:
        started = time.monotonic()
        result = LoadResult()
        schema, table = request.target_schema, request.target_table
        self.ensure_ledger(schema)
        for columns in group_columns(store, request.candidates):
            result.columns_added += self.ensure_target(request, columns)
        if not request.candidates and not self.table_columns(schema, table):
            # Nothing extracted yet (an empty table, or rows still held back by an open
            # transaction): no target to lock, nothing to load.
            self.commit()
            result.seconds = time.monotonic() - started
            return result
        try:
            with self.transaction():
                self._load_pending(request, store, result)
        except LoadError:
            raise
        except Exception as exc:
            raise LoadError(
                f"load into {self.name}:{schema}.{table} rolled back ({type(exc).__name__}: {exc}); "
                "target and ledger are unchanged"
            ) from exc
        result.table_rows = self.row_count(schema, table)
        self.commit()  # end the read's transaction: an idle session must hold no locks
        result.seconds = time.monotonic() - started
        return result

    def _load_pending(self, request: LoadRequest, store: ObjectStore, result: LoadResult) -> None:
        """The body of the one transaction: everything the ledger lacks, or nothing."""
        self.lock(self.ref(request.target_schema, request.target_table))
        pending = self._pending_files(request, result)
        if pending:
            self._delete_replaced_rows(request)
        for i, group in enumerate(schema_groups(pending)):
            self._load_group(request, store, group, i, result)
        self._record_in_ledger(request, pending)
        result.files_loaded = [f.key for f in pending]

    def _pending_files(self, request: LoadRequest, result: LoadResult) -> list[FileRecord]:
        """The candidates the ledger lacks, read under the lock."""
        loaded = self.loaded_keys(request.target_schema, request.ledger_name)
        pending = [f for f in request.candidates if f.key not in loaded]
        result.already_loaded = len(request.candidates) - len(pending)
        if request.mode != "incremental" and pending and result.already_loaded:
            raise LoadError("a generation is partly in the ledger; refusing to guess")
        return pending

    def _delete_replaced_rows(self, request: LoadRequest) -> None:
        """A full load replaces the table; a partition's load replaces its window."""
        target = self.ref(request.target_schema, request.target_table)
        if request.mode == "full":
            # DELETE, not TRUNCATE: in Redshift TRUNCATE commits the open transaction.
            self.execute(f"DELETE FROM {target}")
        elif request.window is not None:
            column, lo, hi = request.window
            col = quote_ident(column)
            self.execute(
                f"DELETE FROM {target} WHERE {col} >= {self.ph} AND {col} < {self.ph}", (lo, hi)
            )

    def _load_group(
        self,
        request: LoadRequest,
        store: ObjectStore,
        group: list[FileRecord],
        index: int,
        result: LoadResult,
    ) -> None:
        """Stage one run of same-schema files, check the count, merge into the target."""
        footers = read_footers(store, group)
        self.check_text_fits(request, group, footers)
        for footer in footers:
            for column, n in footer.truncated.items():
                result.truncated[column] = result.truncated.get(column, 0) + n
        # Staging mirrors the files (with the order column where they have it, last); the
        # target gets the recorded columns only.
        staged = footers[0].staging_columns
        staging = self._create_staging(index, staged)
        copied = self.copy_into_staging(staging, staged, group, store, request, index)
        expected = sum(f.rows for f in group)
        if copied != expected:
            raise LoadError(
                f"COPY reported {copied} rows but the files' footers hold {expected}; rolled back"
            )
        result.copies.append(copied)
        result.rows_loaded += copied
        names = [c.name for c in footers[0].columns]
        self._merge(request, staging, names, ordered=footers[0].ordered)
        self.execute(f"DROP TABLE {staging}")

    def _create_staging(self, index: int, columns: list[FileColumn]) -> str:
        """A temporary table mirroring the files' columns, in file order; returns its name."""
        staging = quote_ident(f"mra_staging_{index}")
        self.execute(f"DROP TABLE IF EXISTS {staging}")
        ddl = ", ".join(f"{quote_ident(c.name)} {self.column_type(c)}" for c in columns)
        self.execute(f"CREATE TEMP TABLE {staging} ({ddl})")
        return staging

    def _merge(
        self, request: LoadRequest, staging: str, names: list[str], *, ordered: bool = False
    ) -> None:
        target = self.ref(request.target_schema, request.target_table)
        cols = ", ".join(quote_ident(n) for n in names)
        if request.mode == "full" or not request.primary_key:
            self.execute(f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {staging}")
            return
        # MySQL's identity of a collated or prefix key where the files carry it (equal under
        # the collation iff equal there): else the key itself, whose equality is MySQL's.
        key = [KEY_IDENTITY] if KEY_IDENTITY in names else request.primary_key
        pk = [quote_ident(k) for k in key]
        match = " AND ".join(f"{target}.{k} = {staging}.{k}" for k in pk)
        self.execute(f"DELETE FROM {target} USING {staging} WHERE {match}")
        order = latest_first(request.cursor, ordered=ordered) or f"{pk[0]} DESC"
        self.execute(
            f"INSERT INTO {target} ({cols}) SELECT {cols} FROM ("
            f"SELECT {cols}, ROW_NUMBER() OVER (PARTITION BY {', '.join(pk)} ORDER BY {order}) "
            f'AS "mra_rank" FROM {staging}) AS "latest" WHERE "mra_rank" = 1'
        )


def latest_first(cursor: str | None, *, ordered: bool) -> str:
    """The merge's ORDER BY when one load holds several versions of a key: the latest cursor
    first, a NULL one (a zero date is extracted as NULL) last, not first as PostgreSQL and
    Redshift put NULLs in DESC (https://docs.aws.amazon.com/redshift/latest/dg/r_ORDER_BY_clause.html;
    the window ORDER BY takes NULLS LAST: .../c_Window_functions.html); then the later file,
    then the later row in it (`ORDER_COLUMN`), so that ties never fall to ROW_NUMBER, which
    numbers equal rows "nondeterministically" (.../r_WF_ROW_NUMBER.html). Files written before
    the order column keep the cursor alone. Empty: nothing to order by."""
    terms = [f"{quote_ident(cursor)} DESC NULLS LAST"] if cursor else []
    if ordered:
        terms.append(f"{quote_ident(ORDER_COLUMN)} DESC")
    return ", ".join(terms)
