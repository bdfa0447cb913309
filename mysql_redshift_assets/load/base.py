"""The warehouse contract: what every warehouse states, and the SQL they all share.

`Warehouse` is what the rest of the project holds: the connection (`cursor`, `begin`, `commit`,
`rollback`, `close`), its dialect's record (`target_dialect`, `targets.py`: the column types,
identifier limit, codec, ...), the statements a dialect states by override (`lock`, the
target's table options, the text check, the one step that moves file bytes into staging, the
type changes it cannot run in a transaction), and the shared helpers over them (`fetchall`,
`ref`, `table_columns`, `row_count`, the ledger). The exactly-once algorithm that runs a
`load` over them is `exactly_once.py`, which every warehouse class builds on:

    Warehouse (here)  <-  ExactlyOnceWarehouse (exactly_once.py)  <-  DbApiWarehouse (dbapi.py)
                                                                  <-  DuckDBWarehouse (duckdb.py)
    DbApiWarehouse  <-  RedshiftWarehouse (redshift.py), PostgresWarehouse (postgres.py)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, ParamSpec, TypeVar

from mysql_redshift_assets.closing import Closing
from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.identifiers import qualified, quote_ident
from mysql_redshift_assets.load import ledger
from mysql_redshift_assets.load.evolve import Change
from mysql_redshift_assets.load.keep import Kept
from mysql_redshift_assets.load.request import LoadError as LoadError
from mysql_redshift_assets.load.request import LoadRequest
from mysql_redshift_assets.load.request import LoadResult as LoadResult
from mysql_redshift_assets.naming import LEDGER_TABLE, ledger_entry_name, target_table
from mysql_redshift_assets.state.watermark import FileRecord, Watermark
from mysql_redshift_assets.store.objectstore import ObjectStore
from mysql_redshift_assets.store.parquet import FileColumn, Footer
from mysql_redshift_assets.targets import TargetDialect, TargetKind

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class CopyBatch:
    """One COPY: exactly `files` (one schema, each with rows) into the temporary table
    `staging`, whose `columns` mirror the files'; `group` numbers the load's COPYs (Redshift's
    manifest key)."""

    staging: str
    columns: list[FileColumn]
    files: list[FileRecord]
    store: ObjectStore
    request: LoadRequest
    group: int


class Warehouse(Closing, ABC):
    """A warehouse: its connection, its dialect's record and statements, the shared helpers."""

    ph = "%s"  # the DB-API parameter placeholder
    # The facts of this kind of warehouse; each dialect class states its own.
    target_dialect: ClassVar[TargetDialect]
    # The clock the ledger's `loaded_at` records (Redshift states GETDATE()).
    now_sql = "CURRENT_TIMESTAMP"

    def __init__(self, name: str) -> None:
        self.name = name
        # Schemas whose ledger this session has seen (`has_ledger`), and has ensured.
        self._ledgers: set[str] = set()
        self._ensured: set[str] = set()

    @property
    def dialect(self) -> TargetKind:
        """The kind's name, as reconcile/ spells its SQL for it."""
        return self.target_dialect.kind

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

    # -- what a load does (exactly_once.py) ---------------------------------------------------
    @abstractmethod
    def load(self, request: LoadRequest, store: ObjectStore) -> LoadResult:
        """Load exactly the request's files the ledger lacks, in one transaction."""

    @abstractmethod
    def ensure_target(self, request: LoadRequest, columns: list[FileColumn]) -> list[str]:
        """Create the target if missing; add columns that appeared in MySQL. Returns added names."""

    # -- the dialect's types and statements ---------------------------------------------------
    def column_type(self, col: FileColumn) -> str:
        """The SQL type of `col` in this warehouse (the planner recorded one per dialect)."""
        return self.target_dialect.column_type(col)

    @abstractmethod
    def lock(self, table: str) -> None:
        """Hold `table` until the transaction ends, so that two loads never interleave."""

    def kept_objects(self, schema: str, table: str) -> Kept:
        """What a swap that replaces the table must keep (views, grants, owner, comments; see
        `keep.py`), read under the swap's lock; LoadError if some of it cannot be kept. None by
        default: DuckDB has no grants, and its views are bound by name only."""
        return Kept()

    def target_table_options(self, request: LoadRequest) -> str:
        """Text after `CREATE TABLE ... (columns)`; none unless the dialect has physical keys."""
        return ""

    @abstractmethod
    def check_text_fits(
        self, request: LoadRequest, files: Sequence[FileRecord], footers: Sequence[Footer]
    ) -> None:
        """Raise LoadError if the files hold text longer than the dialect's columns take."""

    @abstractmethod
    def copy_into_staging(self, batch: CopyBatch) -> int:
        """Move exactly `batch.files` into `batch.staging`; return the rows the database says
        it copied."""

    def apply_type_changes(self, target: str, changes: Sequence[Change]) -> list[Change]:
        """Apply the changes this warehouse cannot make inside a transaction, each alone; return
        the others, which the caller runs in one transaction. Here: none (every DDL is
        transactional)."""
        return list(changes)

    def in_place_refusals(self, schema: str, table: str) -> dict[str, str]:
        """Columns of the table an `ALTER COLUMN ... TYPE` would be refused on, with the reason
        (the widening then rebuilds the table). Here: none."""
        return {}

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

    def staging_type(self, col: FileColumn) -> str:
        """A staging column's type: the target's, except a JSON document parsed in the merge
        (`json: super`), staged as the text the file holds."""
        return self.target_dialect.json_staging_type if col.parsed_json else self.column_type(col)

    def select_parsed(self, names: Sequence[str], parsed: Sequence[str], prefix: str = "") -> str:
        """The select list that moves staged `names` into the target: each of `parsed` (JSON
        staged as text) through the dialect's parse (JSON_PARSE, CAST AS JSONB / JSON)."""
        parse = self.target_dialect.json_parse_sql
        refs = ((n, prefix + quote_ident(n)) for n in names)
        return ", ".join(parse.format(ref) if n in parsed else ref for n, ref in refs)

    def _create_staging(self, suffix: str, columns: list[FileColumn]) -> str:
        """A temporary table mirroring the files' columns, in file order; returns its name."""
        staging = quote_ident(f"mra_staging_{suffix}")
        ddl = ", ".join(f"{quote_ident(c.name)} {self.staging_type(c)}" for c in columns)
        self.execute(f"CREATE TEMP TABLE {staging} ({ddl})")
        return staging

    # -- the ledger ---------------------------------------------------------------------------
    def ledger(self, schema: str) -> str:
        return self.ref(schema, LEDGER_TABLE)

    def ensure_ledger(self, schema: str) -> None:
        if schema not in self._ensured:
            self._ddl(self._create_ledger, schema)

    def has_ledger(self, schema: str) -> bool:
        """Whether `schema` has the ledger. Once seen, this session does not ask again (no-op
        tables asked it six times each): only this project creates the ledger, committed at
        once, and nothing drops it while syncs run; if someone did, the next ledger statement
        fails the table, it never reads as "nothing loaded"."""
        if schema not in self._ledgers and self.table_columns(schema, LEDGER_TABLE):
            self._ledgers.add(schema)
        return schema in self._ledgers

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
        elif self._ledger_needs_widening(schema):
            self.execute_type_change(ledger.widen_ledger_sql(self.ledger(schema)))
        self.commit()
        self._ensured.add(schema)
        self._ledgers.add(schema)

    def _ledger_needs_widening(self, schema: str) -> bool:
        """An existing ledger's `table_name` is narrower than LEDGER_NAME_BYTES and the warehouse
        can widen it in place (on Redshift, not if ENCODE AUTO made it BYTEDICT, say: it then
        stays as it was, as docs/redshift.md says)."""
        rows = self.fetchall(
            "SELECT character_maximum_length FROM information_schema.columns "
            f"WHERE table_schema = {self.ph} AND table_name = {self.ph} "
            "AND column_name = 'table_name'",
            (schema, LEDGER_TABLE),
        )
        if not rows or rows[0][0] is None or int(rows[0][0]) >= ledger.LEDGER_NAME_BYTES:
            return False
        return "table_name" not in self.in_place_refusals(schema, LEDGER_TABLE)

    def execute_type_change(self, sql: str) -> None:
        """One `ALTER COLUMN ... TYPE`, in the open transaction (Redshift: alone, outside it)."""
        self.execute(sql)

    def loaded_files(self, table: TableConfig, watermark: Watermark | None) -> set[str]:
        """The keys of `table`'s files the ledger records as loaded (`watermark`: its names)."""
        entry = ledger_entry_name(table, watermark)
        return self.loaded_keys(target_table(table, watermark)[0], entry)

    def loaded_keys(self, schema: str, ledger_name: str) -> set[str]:
        if not self.has_ledger(schema):
            return set()
        sql = ledger.loaded_keys_sql(self.ledger(schema), self.ph)
        return {r[0] for r in self.fetchall(sql, (ledger_name,))}

    def _record_in_ledger(self, request: LoadRequest, files: Sequence[FileRecord]) -> None:
        sql = ledger.record_file_sql(self.ledger(request.target_schema), self.ph, self.now_sql)
        for f in files:
            self.execute(sql, (f.key, request.ledger_name, f.rows, request.run_id))
