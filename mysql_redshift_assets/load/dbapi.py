"""The connection handling Redshift and PostgreSQL share: one DB-API session, opened lazily.

Not a dialect: `RedshiftWarehouse` and `PostgresWarehouse` both build on it and state their own
records and statements. The one rule they share is Redshift's: a value wider than its column's
Redshift type is refused before any write (`widths.py`), on the stand-in too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, ParamSpec, TypeVar

from mysql_redshift_assets.load.deadline import (
    SessionBounds,
    StatementDeadline,
    deadline,
    step_name,
)
from mysql_redshift_assets.load.evolve import typed_columns
from mysql_redshift_assets.load.exactly_once import ExactlyOnceWarehouse
from mysql_redshift_assets.load.request import LoadRequest
from mysql_redshift_assets.load.widths import refuse_values_over_width
from mysql_redshift_assets.state.watermark import FileRecord
from mysql_redshift_assets.store.parquet import Footer

P = ParamSpec("P")
T = TypeVar("T")

DDL_ATTEMPTS = 3
# PostgreSQL's serialization_failure; Redshift reports "ERROR: 1023 DETAIL: Serializable isolation
# violation on table ..." (https://docs.aws.amazon.com/redshift/latest/dg/c_serial_isolation-serializable-isolation-troubleshooting.html).
SERIALIZATION_FAILURE = "40001"
REDSHIFT_SERIALIZATION_CODE = "1023"


class DbApiWarehouse(ExactlyOnceWarehouse):
    """A warehouse over a DB-API connection that `connect()` opens at first use."""

    def __init__(
        self, name: str, connect: Callable[[], Any], bounds: SessionBounds | None = None
    ) -> None:
        super().__init__(name)
        self._connect = connect
        self._conn: Any = None
        self.bounds = bounds or SessionBounds()
        self._dead = False  # a deadline shut the socket: the session can only be dropped

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    @property
    def conn(self) -> Any:
        if self._conn is None:
            self._conn = conn = self._connect()
            try:
                with self.bounded("SET TIME ZONE / statement_timeout (session setup)"):
                    # Partition windows and TIMESTAMPTZ values are compared in UTC, whatever
                    # the server says.
                    cur = conn.cursor()
                    cur.execute("SET TIME ZONE 'UTC'")
                    if self.bounds.statement_timeout_ms:
                        # The server cancels a statement running longer (ms; 0 = no limit):
                        # https://docs.aws.amazon.com/redshift/latest/dg/r_statement_timeout.html
                        ms = self.bounds.statement_timeout_ms
                        cur.execute(f"SET statement_timeout TO {ms:d}")
                    conn.commit()
            except BaseException:
                self._dead = True  # half set up: never used
                self.close()
                raise
        return self._conn

    def session_fileno(self) -> int | None:
        """The open session's socket descriptor (the deadline shuts it down); None if none."""
        return None

    @contextmanager
    def bounded(self, step: str) -> Iterator[None]:
        """Run one statement (or COMMIT) under the client-side deadline (`deadline.py`)."""
        try:
            with deadline(self.name, step_name(step), self.bounds, self.session_fileno):
                yield
        except StatementDeadline:
            self._dead = True
            raise

    def cursor(self) -> Any:
        return self.conn.cursor()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        cur = self.cursor()
        with self.bounded(sql):
            cur.execute(sql, tuple(params)) if params else cur.execute(sql)
        return cur

    def begin(self) -> None:
        pass  # DB-API: the first statement opens the transaction

    def commit(self) -> None:
        conn = self.conn
        with self.bounded("COMMIT"):
            conn.commit()

    def rollback(self) -> None:
        if self._dead:  # nothing to roll back on: the server ends the transaction itself
            self.close()
            return
        conn = self.conn
        with self.bounded("ROLLBACK"):
            conn.rollback()

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn, dead, self._dead = self._conn, None, self._dead, False
            if dead:
                with suppress(Exception):
                    conn.close()
            else:
                conn.close()

    def schema_exists(self, schema: str) -> bool:
        # pg_namespace lists every schema; information_schema.schemata only those the user owns
        # or holds a privilege on.
        return bool(self.fetchall("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)))

    # A query of (column, type text with its width), when information_schema is not trusted for
    # every type's width (Redshift: `evolve.FORMAT_TYPE_SQL`); None: information_schema.
    catalog_types_sql: str | None = None

    def varchar_widths(self, request: LoadRequest) -> dict[str, int]:
        """The target's text columns and their declared widths (none before it exists)."""
        if self.catalog_types_sql:
            typed = typed_columns(
                self.fetchall(self.catalog_types_sql, (request.target_schema, request.target_table))
            )
            return {
                n: t.length
                for n, (t, _) in typed.items()
                if t.kind == "varchar" and t.length is not None
            }
        rows = self.fetchall(
            "SELECT column_name, character_maximum_length FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s AND character_maximum_length IS NOT NULL",
            (request.target_schema, request.target_table),
        )
        return {name: int(width) for name, width in rows}

    def check_text_fits(
        self, request: LoadRequest, files: Sequence[FileRecord], footers: Sequence[Footer]
    ) -> None:
        refuse_values_over_width(request, files, footers, self.varchar_widths(request))

    def is_serialization_failure(self, exc: BaseException) -> bool:
        if getattr(exc, "sqlstate", None) == SERIALIZATION_FAILURE:  # psycopg
            return True
        # redshift-connector raises ProgrammingError(dict of the server's error fields).
        fields = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
        if (
            fields.get("C") == SERIALIZATION_FAILURE
            or fields.get("M") == REDSHIFT_SERIALIZATION_CODE
        ):
            return True
        return "serializable isolation violation" in str(exc).lower()

    def _ddl(self, step: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        # Two first loads race on CREATE ... IF NOT EXISTS / ADD COLUMN: the loser fails once
        # the winner commits; rolled back and run again, it finds what the winner created.
        attempt = 1
        while True:
            try:
                return step(*args, **kwargs)
            except Exception as exc:
                self.rollback()
                if attempt == DDL_ATTEMPTS or isinstance(exc, StatementDeadline):
                    raise
                attempt += 1
