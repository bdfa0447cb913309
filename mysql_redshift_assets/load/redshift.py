"""Redshift through redshift-connector: manifest of exact keys, COPY FORMAT AS PARQUET, merge.

`PostgresWarehouse` runs the same SQL on PostgreSQL, with the one Redshift-only step (COPY from
S3) swapped for a `COPY FROM STDIN` of the same files. That is how the transactional SQL is tested
against a real database here; the Redshift-only text (COPY, manifest, DISTKEY/SORTKEY) is tested
as exact strings.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import pyarrow.parquet as pq

from mysql_redshift_assets.identifiers import quote_ident
from mysql_redshift_assets.load.base import LoadRequest, Warehouse
from mysql_redshift_assets.naming import manifest_key
from mysql_redshift_assets.state.watermark import FileRecord
from mysql_redshift_assets.store.objectstore import ObjectStore
from mysql_redshift_assets.store.parquet import FileColumn

log = logging.getLogger(__name__)


def manifest_json(entries: Sequence[tuple[str, int]]) -> str:
    """A COPY manifest; Parquet manifests must carry each file's content_length."""
    return json.dumps(
        {
            "entries": [
                {"url": url, "mandatory": True, "meta": {"content_length": size}}
                for url, size in entries
            ]
        },
        indent=1,
    )


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def copy_statement(
    staging: str,
    manifest_uri: str,
    *,
    iam_role: str | None = None,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
) -> str:
    """COPY takes no column list for Parquet: staging mirrors the files' columns, in order."""
    if iam_role:
        auth = f"IAM_ROLE {_literal(iam_role)}"
    elif access_key_id and secret_access_key:
        auth = (
            f"ACCESS_KEY_ID {_literal(access_key_id)} "
            f"SECRET_ACCESS_KEY {_literal(secret_access_key)}"
        )
    else:
        raise ValueError(
            "Redshift COPY needs iam_role, or aws_access_key_id + aws_secret_access_key"
        )
    return f"COPY {staging} FROM {_literal(manifest_uri)} {auth} FORMAT AS PARQUET MANIFEST"


def table_suffix(distkey: str | None, sortkey: tuple[str, list[str]] | None) -> str:
    """`DISTSTYLE AUTO SORTKEY AUTO` unless the YAML names keys (already checked to exist)."""
    dist = f"DISTKEY({quote_ident(distkey)})" if distkey else "DISTSTYLE AUTO"
    if sortkey and sortkey[1]:
        kind, columns = sortkey
        sort = f"{kind.upper()} SORTKEY({', '.join(quote_ident(c) for c in columns)})"
    else:
        sort = "SORTKEY AUTO"
    return f" {dist} {sort}"


class RedshiftWarehouse(Warehouse):
    type_attr = "redshift_type"
    refuses_oversize_text = True

    def __init__(
        self,
        name: str,
        connect: Any,
        *,
        iam_role: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        super().__init__(name)
        self._connect = connect
        self._conn: Any = None
        self._iam_role = iam_role
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    @property
    def conn(self) -> Any:
        if self._conn is None:
            conn = self._connect()
            # Partition windows and TIMESTAMPTZ values are compared in UTC, whatever the server says.
            cur = conn.cursor()
            cur.execute("SET TIME ZONE 'UTC'")
            conn.commit()
            self._conn = conn
        return self._conn

    def cursor(self) -> Any:
        return self.conn.cursor()

    def begin(self) -> None:
        pass  # DB-API: the first statement opens the transaction

    def commit(self) -> None:
        self.conn.commit()

    def rollback(self) -> None:
        self.conn.rollback()

    def lock(self, table: str) -> None:
        self.execute(f"LOCK {table}")

    def _ddl(self, step: Any, *args: Any) -> Any:
        # Two first loads race on CREATE ... IF NOT EXISTS / ADD COLUMN: the loser fails once
        # the winner commits; rolled back and run again, it finds what the winner created.
        for attempt in range(3):
            try:
                return step(*args)
            except Exception:
                self.rollback()
                if attempt == 2:
                    raise

    def ensure_ledger(self, schema: str) -> None:
        self._ddl(super().ensure_ledger, schema)

    def ensure_target(self, request: LoadRequest, columns: list[FileColumn]) -> list[str]:
        return self._ddl(super().ensure_target, request, columns)

    def table_suffix(self, request: LoadRequest, columns: Sequence[str]) -> str:
        return table_suffix(request.distkey, request.sortkey)

    def copy_into_staging(
        self,
        staging: str,
        columns: list[FileColumn],
        files: list[FileRecord],
        store: ObjectStore,
        request: LoadRequest,
        group: int,
    ) -> int:
        key = manifest_key(request.table, request.run_id, group)
        store.put_bytes(manifest_json([(store.uri(f.key), f.bytes) for f in files]).encode(), key)
        self.execute(
            copy_statement(
                staging,
                store.uri(key),
                iam_role=self._iam_role,
                access_key_id=self._access_key_id,
                secret_access_key=self._secret_access_key,
            )
        )
        return int(self.fetchall("SELECT pg_last_copy_count()")[0][0])

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class PostgresWarehouse(RedshiftWarehouse):
    """Redshift's SQL on PostgreSQL; the COPY-from-S3 seam reads the same files client-side."""

    type_attr = "postgres_type"

    def lock(self, table: str) -> None:
        self.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")

    def table_suffix(self, request: LoadRequest, columns: Sequence[str]) -> str:
        return ""

    def copy_into_staging(
        self,
        staging: str,
        columns: list[FileColumn],
        files: list[FileRecord],
        store: ObjectStore,
        request: LoadRequest,
        group: int,
    ) -> int:
        names = ", ".join(quote_ident(c.name) for c in columns)
        total = 0
        with self.conn.cursor() as cur:
            for f in files:
                fs, path = store.arrow_location(f.key)
                with fs.open_input_file(path) as handle:
                    parquet = pq.ParquetFile(handle)
                    with cur.copy(f"COPY {staging} ({names}) FROM STDIN") as copy:
                        for batch in parquet.iter_batches(batch_size=65_536):
                            for row in zip(*(c.to_pylist() for c in batch.columns), strict=True):
                                copy.write_row(row)
                total += cur.rowcount
        return total
