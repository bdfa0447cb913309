"""Exactly-once loads: one transaction stages the files, merges them and records them in the ledger.

    BEGIN
      LOCK target                       -- two loads of one table never interleave
      pending := candidates - ledger    -- read under the lock
      for each run of files with one schema:
        CREATE TEMP TABLE staging (...) -- mirrors the files' own columns, in file order
        COPY staging <- exactly these files (manifest of keys, never a prefix)
        check: rows copied == rows in the files' footers
        merge: delete + insert on the primary key (incremental) | replace everything (full)
      INSERT one ledger row per file
    COMMIT                              -- or ROLLBACK: target and ledger untouched

Re-running is harmless: a file in the ledger is never loaded again. Dialects differ only in
types, locking, DDL suffixes and the one step that moves file bytes into staging.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.identifiers import qualified, quote_ident
from mysql_redshift_assets.naming import LEDGER_TABLE, ledger_entry_name, target_table
from mysql_redshift_assets.state.watermark import FileRecord
from mysql_redshift_assets.store.objectstore import ObjectStore
from mysql_redshift_assets.store.parquet import FileColumn, read_footer

log = logging.getLogger(__name__)


class LoadError(RuntimeError):
    """A load that was rolled back; target and ledger are as they were."""


@dataclass(frozen=True)
class LoadRequest:
    table: TableConfig
    primary_key: list[str]  # normalised names
    cursor: str | None  # normalised name
    candidates: list[FileRecord]
    run_id: str
    distkey: str | None = None
    sortkey: tuple[str, list[str]] | None = None
    # A partition's window (normalised column, lo, hi): deleted, then re-inserted, in one txn.
    window: tuple[str, object, object] | None = None

    @property
    def mode(self) -> str:
        return self.table.mode

    @property
    def target_schema(self) -> str:
        return target_table(self.table)[0]

    @property
    def target_table(self) -> str:
        return target_table(self.table)[1]

    @property
    def ledger_name(self) -> str:
        return ledger_entry_name(self.table)


@dataclass
class LoadResult:
    rows_loaded: int = 0
    files_loaded: list[str] = field(default_factory=list)
    already_loaded: int = 0
    table_rows: int = 0
    seconds: float = 0.0
    copies: list[int] = field(default_factory=list)
    columns_added: list[str] = field(default_factory=list)
    truncated: dict[str, int] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return self.rows_loaded / self.seconds if self.seconds > 0 else 0.0


def schema_groups(files: Sequence[FileRecord]) -> list[list[FileRecord]]:
    """Consecutive files with one schema fingerprint: a schema change starts a new COPY."""
    groups: list[list[FileRecord]] = []
    for f in files:
        if groups and groups[-1][0].fingerprint == f.fingerprint:
            groups[-1].append(f)
        else:
            groups.append([f])
    return groups


class Warehouse(ABC):
    """The transactional algorithm, over a DB-API connection."""

    type_attr: str  # which FileColumn type to use: 'redshift_type', 'postgres_type', 'duckdb_type'
    refuses_oversize_text = False  # Redshift's VARCHAR stops at 65,535 bytes
    ph = "%s"

    def __init__(self, name: str) -> None:
        self.name = name

    # -- the dialect --------------------------------------------------------------------------
    @abstractmethod
    def cursor(self) -> Any: ...

    @abstractmethod
    def commit(self) -> None: ...

    @abstractmethod
    def rollback(self) -> None: ...

    @abstractmethod
    def begin(self) -> None: ...

    def lock(self, table: str) -> None:  # noqa: B027 - DuckDB has one writer per file already
        pass

    def table_suffix(self, request: LoadRequest, columns: Sequence[str]) -> str:
        return ""

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

    def close(self) -> None:  # noqa: B027
        pass

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

    def catalog_prefix(self) -> str:
        """Prepended to schema names in SQL (DuckDB names its catalog)."""
        return ""

    def ref(self, schema: str, table: str) -> str:
        return self.catalog_prefix() + qualified(schema, table)

    def ledger(self, schema: str) -> str:
        return self.ref(schema, LEDGER_TABLE)

    def ensure_ledger(self, schema: str) -> None:
        self.execute(f"CREATE SCHEMA IF NOT EXISTS {self.catalog_prefix()}{quote_ident(schema)}")
        self.execute(
            f"CREATE TABLE IF NOT EXISTS {self.ledger(schema)} ("
            '"file_key" VARCHAR(1024) NOT NULL PRIMARY KEY, '
            '"table_name" VARCHAR(256) NOT NULL, '
            '"row_count" BIGINT NOT NULL, '
            '"run_id" VARCHAR(128) NOT NULL, '
            '"loaded_at" TIMESTAMP NOT NULL)'
        )
        self.commit()

    def loaded_files(self, table: TableConfig) -> set[str]:
        """The keys of `table`'s files that the ledger records as loaded."""
        return self.loaded_keys(target_table(table)[0], ledger_entry_name(table))

    def loaded_keys(self, schema: str, ledger_name: str) -> set[str]:
        if not self.table_columns(schema, LEDGER_TABLE):
            return set()
        rows = self.fetchall(
            f'SELECT "file_key" FROM {self.ledger(schema)} WHERE "table_name" = {self.ph}',
            (ledger_name,),
        )
        return {r[0] for r in rows}

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

    def _column_ddl(self, col: FileColumn, request: LoadRequest) -> str:
        not_null = " NOT NULL" if col.name in request.primary_key else ""
        return f"{quote_ident(col.name)} {getattr(col, self.type_attr)}{not_null}"

    def ensure_target(self, request: LoadRequest, columns: list[FileColumn]) -> list[str]:
        """Create the target if missing; add columns that appeared in MySQL. Returns added names."""
        target = self.ref(request.target_schema, request.target_table)
        existing = self.table_columns(request.target_schema, request.target_table)
        if not existing:
            ddl = ", ".join(self._column_ddl(c, request) for c in columns)
            suffix = self.table_suffix(request, [c.name for c in columns])
            self.execute(f"CREATE TABLE IF NOT EXISTS {target} ({ddl}){suffix}")
            self.commit()
            return []
        added = [c for c in columns if c.name not in existing]
        for col in added:
            self.execute(
                f"ALTER TABLE {target} ADD COLUMN {quote_ident(col.name)} {getattr(col, self.type_attr)}"
            )
        self.commit()
        return [c.name for c in added]

    # -- the algorithm ------------------------------------------------------------------------
    def load(self, request: LoadRequest, store: ObjectStore) -> LoadResult:
        started = time.monotonic()
        result = LoadResult()
        schema, table = request.target_schema, request.target_table
        self.ensure_ledger(schema)
        groups_columns = []
        for group in schema_groups(request.candidates):
            fs, path = store.arrow_location(group[0].key)
            try:
                groups_columns.append(read_footer(path, fs).columns)
            except Exception as exc:  # before any change: say which file, as a LoadError
                raise LoadError(
                    f"cannot read {store.uri(group[0].key)} ({type(exc).__name__}: {exc}); "
                    "nothing was loaded"
                ) from exc
        for columns in groups_columns:
            result.columns_added += self.ensure_target(request, columns)
        target = self.ref(schema, table)
        try:
            with self.transaction():
                self.lock(target)
                loaded = self.loaded_keys(schema, request.ledger_name)
                pending = [f for f in request.candidates if f.key not in loaded]
                result.already_loaded = len(request.candidates) - len(pending)
                if request.mode != "incremental" and pending and result.already_loaded:
                    raise LoadError("a snapshot is partly in the ledger; refusing to guess")
                if pending and request.mode == "full":
                    # DELETE, not TRUNCATE: in Redshift TRUNCATE commits the open transaction.
                    self.execute(f"DELETE FROM {target}")
                elif pending and request.window is not None:
                    column, lo, hi = request.window
                    col = quote_ident(column)
                    self.execute(
                        f"DELETE FROM {target} WHERE {col} >= {self.ph} AND {col} < {self.ph}",
                        (lo, hi),
                    )
                for i, group in enumerate(schema_groups(pending)):
                    self._load_group(request, store, group, i, result)
                for f in pending:
                    self.execute(
                        f"INSERT INTO {self.ledger(schema)} "
                        '("file_key", "table_name", "row_count", "run_id", "loaded_at") '
                        f"VALUES ({self.ph}, {self.ph}, {self.ph}, {self.ph}, CURRENT_TIMESTAMP)",
                        (f.key, request.ledger_name, f.rows, request.run_id),
                    )
                result.files_loaded = [f.key for f in pending]
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

    def _load_group(
        self,
        request: LoadRequest,
        store: ObjectStore,
        group: list[FileRecord],
        index: int,
        result: LoadResult,
    ) -> None:
        footers = [read_footer(p, fs) for fs, p in (store.arrow_location(f.key) for f in group)]
        columns = footers[0].columns
        if self.refuses_oversize_text:
            for f, footer in zip(group, footers, strict=True):
                if footer.oversize:
                    detail = ", ".join(f"{c}: {n} value(s)" for c, n in footer.oversize.items())
                    raise LoadError(
                        f"{f.key} holds text longer than Redshift's 65,535-byte VARCHAR ({detail}); "
                        f"a COPY would fail. Set `text_overflow: truncate` for table "
                        f"{request.table.qualified} in {request.table.config_file} to cut such "
                        "values at extraction (counted in metadata), then re-extract"
                    )
        for footer in footers:
            for column, n in footer.truncated.items():
                result.truncated[column] = result.truncated.get(column, 0) + n
        staging = quote_ident(f"mra_staging_{index}")
        self.execute(f"DROP TABLE IF EXISTS {staging}")
        ddl = ", ".join(f"{quote_ident(c.name)} {getattr(c, self.type_attr)}" for c in columns)
        self.execute(f"CREATE TEMP TABLE {staging} ({ddl})")
        copied = self.copy_into_staging(staging, columns, group, store, request, index)
        expected = sum(f.rows for f in group)
        if copied != expected:
            raise LoadError(
                f"COPY reported {copied} rows but the files' footers hold {expected}; rolled back"
            )
        result.copies.append(copied)
        result.rows_loaded += copied
        self._merge(request, staging, [c.name for c in columns])
        self.execute(f"DROP TABLE {staging}")

    def _merge(self, request: LoadRequest, staging: str, names: list[str]) -> None:
        target = self.ref(request.target_schema, request.target_table)
        cols = ", ".join(quote_ident(n) for n in names)
        if request.mode == "full" or not request.primary_key:
            self.execute(f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {staging}")
            return
        pk = [quote_ident(k) for k in request.primary_key]
        match = " AND ".join(f"{target}.{k} = {staging}.{k}" for k in pk)
        self.execute(f"DELETE FROM {target} USING {staging} WHERE {match}")
        # A key extracted twice in one batch (updated between runs): the latest cursor wins.
        order = quote_ident(request.cursor) if request.cursor else pk[0]
        self.execute(
            f"INSERT INTO {target} ({cols}) SELECT {cols} FROM ("
            f"SELECT {cols}, ROW_NUMBER() OVER (PARTITION BY {', '.join(pk)} ORDER BY {order} DESC) "
            f'AS "mra_rank" FROM {staging}) AS "latest" WHERE "mra_rank" = 1'
        )
