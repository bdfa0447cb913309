"""Exactly-once loads: files are staged, then merged and recorded in the ledger in one transaction.

    BEGIN                               -- staging: the target is not locked
      pending := candidates - ledger    -- what to stage
      for each run of files with one schema:
        CREATE TEMP TABLE staging (...) -- mirrors the files' own columns, in file order;
                                        -- a name unique to this attempt
        COPY staging <- exactly these files (manifest of keys, never a prefix; 0-row files skipped)
        check: rows copied == rows in the files' footers
    COMMIT                              -- temp tables live on in the session; nothing else changed
    BEGIN                               -- the load: the lock is held only for this
      LOCK target                       -- two loads of one table never interleave
      re-read candidates - ledger       -- under the lock: another load may have taken files
                                        -- meanwhile; then roll back and start again
      the request's fence               -- its files still the table's (not superseded by a
                                        -- resync's lineage or a newer generation), else
                                        -- roll back: StaleLoad, for the caller to rebuild
      merge: delete + insert on the primary key, the latest version of a key (cursor,
             then file, then row: `latest_first`) (incremental) | replace everything (full)
      INSERT one ledger row per file
    COMMIT                              -- or ROLLBACK: target and ledger untouched

Re-running is harmless: a file in the ledger is never loaded again. A transaction the database
aborts as not serializable (Redshift ERROR 1023, PostgreSQL SQLSTATE 40001) is run again with
backoff, as AWS advises: it is idempotent
(https://docs.aws.amazon.com/redshift/latest/dg/c_serial_isolation-serializable-isolation-troubleshooting.html).
`LoadResult.lock_seconds` is how long the target was locked. `Warehouse` holds this algorithm
once; each dialect (`redshift.py`, `postgres.py`, `duckdb.py`) states its own column types, lock,
table options, text limit and the one step that moves file bytes into staging.
"""

from __future__ import annotations

import random
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, Literal, ParamSpec, TypeVar

from mysql_redshift_assets.closing import Closing
from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.identifiers import KEY_IDENTITY, qualified, quote_ident
from mysql_redshift_assets.load import ledger
from mysql_redshift_assets.load.alter import create_or_widen
from mysql_redshift_assets.load.files import group_columns, read_footers, schema_groups
from mysql_redshift_assets.load.request import LoadError, LoadRequest, LoadResult, check_fence
from mysql_redshift_assets.naming import LEDGER_TABLE, ledger_entry_name, target_table
from mysql_redshift_assets.state.watermark import FileRecord, Watermark
from mysql_redshift_assets.store.objectstore import ObjectStore
from mysql_redshift_assets.store.parquet import ORDER_COLUMN, FileColumn, Footer

P = ParamSpec("P")
T = TypeVar("T")

# Attempts of a load that the database aborted as not serializable, or that found, under the
# lock, files another load recorded after this one staged them.
LOAD_ATTEMPTS = 5
RETRY_BASE_SECONDS = 0.5


class RetryLoad(Exception):
    """The attempt was rolled back and can be run again unchanged (it is idempotent)."""


# (staging table, its column names), or None for a run of files with no rows (nothing copied).
Staged = tuple[str, list[str], bool] | None  # staging table, target columns, has order column


class Warehouse(Closing, ABC):
    """The exactly-once algorithm; a dialect subclass states its connection, types and statements."""

    ph = "%s"  # the DB-API parameter placeholder
    # The name reconcile/ spells its SQL for; each dialect states it.
    dialect: Literal["duckdb", "postgres", "redshift"]
    # The clock the ledger's `loaded_at` records (Redshift states GETDATE()).
    now_sql = "CURRENT_TIMESTAMP"

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

    def is_serialization_failure(self, exc: BaseException) -> bool:
        """True if the database aborted the transaction as not serializable (retry it)."""
        return False

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

    def schema_exists(self, schema: str) -> bool:
        sql = f"SELECT 1 FROM information_schema.schemata WHERE schema_name = {self.ph}"
        return bool(self.fetchall(sql, (schema,)))

    def _create_ledger(self, schema: str) -> None:
        # Created only when missing: a least-privilege loader may lack CREATE on the database
        # (schema) or on the schema (ledger), and needs neither once they exist.
        if not self.schema_exists(schema):
            self.execute(
                f"CREATE SCHEMA IF NOT EXISTS {self.catalog_prefix()}{quote_ident(schema)}"
            )
        if not self.table_columns(schema, LEDGER_TABLE):
            self.execute(ledger.create_ledger_sql(self.ledger(schema)))
        self.commit()

    def loaded_files(self, table: TableConfig, watermark: Watermark | None) -> set[str]:
        """The keys of `table`'s files the ledger records as loaded (`watermark`: its names)."""
        entry = ledger_entry_name(table, watermark)
        return self.loaded_keys(target_table(table, watermark)[0], entry)

    def loaded_keys(self, schema: str, ledger_name: str) -> set[str]:
        if not self.table_columns(schema, LEDGER_TABLE):
            return set()
        sql = ledger.loaded_keys_sql(self.ledger(schema), self.ph)
        return {r[0] for r in self.fetchall(sql, (ledger_name,))}

    def _record_in_ledger(self, request: LoadRequest, files: Sequence[FileRecord]) -> None:
        sql = ledger.record_file_sql(self.ledger(request.target_schema), self.ph, self.now_sql)
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
        schema, table = request.target_schema, request.target_table
        self.ensure_ledger(schema)
        added: list[str] = []
        for columns in group_columns(store, request.candidates):
            added += self.ensure_target(request, columns)
        if not request.candidates and not self.table_columns(schema, table):
            # Nothing extracted yet (an empty table, or rows still held back by an open
            # transaction): no target to lock, nothing to load.
            self.commit()
            return LoadResult(columns_added=added, seconds=time.monotonic() - started)
        result = self._load_with_retries(request, store)
        result.columns_added = added
        result.table_rows = self.row_count(schema, table)
        self.commit()  # end the read's transaction: an idle session must hold no locks
        result.seconds = time.monotonic() - started
        return result

    def _load_with_retries(self, request: LoadRequest, store: ObjectStore) -> LoadResult:
        where = f"{self.name}:{request.target_schema}.{request.target_table}"
        for attempt in range(1, LOAD_ATTEMPTS + 1):
            try:
                result = self._attempt(request, store)
                result.attempts = attempt
                return result
            except LoadError:  # a StaleLoad too: the same request would be stale again
                raise
            except Exception as exc:
                retry = isinstance(exc, RetryLoad) or self.is_serialization_failure(exc)
                if not retry or attempt == LOAD_ATTEMPTS:
                    raise LoadError(
                        f"load into {where} rolled back after {attempt} attempt(s) "
                        f"({type(exc).__name__}: {exc}); target and ledger are unchanged"
                    ) from exc
            time.sleep(RETRY_BASE_SECONDS * 2 ** (attempt - 1) * (1 + random.random()))
        raise AssertionError("unreachable")

    def _attempt(self, request: LoadRequest, store: ObjectStore) -> LoadResult:
        """Stage without the lock, then lock, re-check the ledger, merge and record."""
        result = LoadResult()
        token = uuid.uuid4().hex[:8]
        staged: list[Staged] = []
        try:
            with self.transaction():
                pending = self._pending_files(request, result)
                staged = self._stage_all(request, store, pending, token, result)
            if not pending:
                return result
            with self.transaction():
                self.lock(self.ref(request.target_schema, request.target_table))
                locked_at = time.monotonic()
                self._merge_staged(request, pending, staged, result)
            result.lock_seconds = time.monotonic() - locked_at
        except BaseException:
            self._drop_staging_after_failure(staged)
            raise
        return result

    def _stage_all(
        self,
        request: LoadRequest,
        store: ObjectStore,
        pending: list[FileRecord],
        token: str,
        result: LoadResult,
    ) -> list[Staged]:
        groups = schema_groups(pending)
        return [
            self._stage_group(request, store, g, i, token, result) for i, g in enumerate(groups)
        ]

    def _merge_staged(
        self,
        request: LoadRequest,
        pending: list[FileRecord],
        staged: list[Staged],
        result: LoadResult,
    ) -> None:
        """Under the lock: the files staged must still be exactly the ones the ledger lacks,
        and the table's (the fence)."""
        now_pending = self._pending_files(request, LoadResult())
        if [f.key for f in now_pending] != [f.key for f in pending]:
            raise RetryLoad(
                f"{len(pending) - len(now_pending)} staged file(s) were loaded by another run "
                "meanwhile"
            )
        check_fence(
            request, f"load into {self.name}:{request.target_schema}.{request.target_table}"
        )
        self._delete_replaced_rows(request)
        for item in staged:
            if item is not None:
                staging, names, ordered = item
                self._merge(request, staging, names, ordered=ordered)
                self.execute(f"DROP TABLE {staging}")
        self._record_in_ledger(request, pending)
        result.files_loaded = [f.key for f in pending]

    def _drop_staging_after_failure(self, staged: list[Staged]) -> None:
        """Temp tables outlive a committed staging transaction; drop them, or leave them to the
        session's end if the session itself is gone (the original error is what matters)."""
        with suppress(Exception):
            self.rollback()  # a failed COMMIT may leave the transaction open
        with suppress(Exception):
            for item in staged:
                if item is not None:
                    self.execute(f"DROP TABLE IF EXISTS {item[0]}")
            self.commit()

    def _pending_files(self, request: LoadRequest, result: LoadResult) -> list[FileRecord]:
        """The candidates the ledger lacks."""
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

    def _stage_group(
        self,
        request: LoadRequest,
        store: ObjectStore,
        group: list[FileRecord],
        index: int,
        token: str,
        result: LoadResult,
    ) -> Staged:
        """Stage one run of same-schema files and check the count; files with no rows are not
        copied (their generation's delete and ledger rows still happen)."""
        footers = read_footers(store, group)
        self.check_text_fits(request, group, footers)
        for footer in footers:
            for column, n in footer.truncated.items():
                result.truncated[column] = result.truncated.get(column, 0) + n
        files = [f for f, footer in zip(group, footers, strict=True) if footer.rows]
        if not files:
            return None
        # Staging mirrors the files (with the order column where they have it, last); the
        # target gets the recorded columns only.
        staged = footers[0].staging_columns
        staging = self._create_staging(f"{token}_{index}", staged)
        copied = self.copy_into_staging(staging, staged, files, store, request, index)
        expected = sum(footer.rows for footer in footers)
        if copied != expected:
            raise LoadError(
                f"COPY reported {copied} rows but the files' footers hold {expected}; rolled back"
            )
        result.copies.append(copied)
        result.rows_loaded += copied
        return staging, [c.name for c in footers[0].columns], footers[0].ordered

    def _create_staging(self, suffix: str, columns: list[FileColumn]) -> str:
        """A temporary table mirroring the files' columns, in file order; returns its name."""
        staging = quote_ident(f"mra_staging_{suffix}")
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
