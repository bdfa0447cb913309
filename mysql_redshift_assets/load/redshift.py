"""Redshift through redshift-connector: manifest of exact keys, COPY FORMAT AS PARQUET, merge.

Redshift cannot run here: its own text (COPY, manifest, DISTKEY/SORTKEY, LOCK) is tested as exact
strings, and the shared algorithm runs for real on PostgreSQL (`postgres.py`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from mysql_redshift_assets.identifiers import quote_ident
from mysql_redshift_assets.load.dbapi import DbApiWarehouse
from mysql_redshift_assets.load.request import LoadError, LoadRequest
from mysql_redshift_assets.naming import manifest_key
from mysql_redshift_assets.state.watermark import FileRecord
from mysql_redshift_assets.store.objectstore import ObjectStore
from mysql_redshift_assets.store.parquet import FileColumn, Footer


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


def refuse_oversize_text(
    request: LoadRequest, files: Sequence[FileRecord], footers: Sequence[Footer]
) -> None:
    """Redshift's VARCHAR stops at 65,535 bytes: a COPY of a longer value would fail."""
    for f, footer in zip(files, footers, strict=True):
        if footer.oversize:
            detail = ", ".join(f"{c}: {n} value(s)" for c, n in footer.oversize.items())
            raise LoadError(
                f"{f.key} holds text longer than Redshift's 65,535-byte VARCHAR ({detail}); "
                f"a COPY would fail. Set `text_overflow: truncate` for table "
                f"{request.table.qualified} in {request.table.config_file} to cut such "
                "values at extraction (counted in metadata), then re-extract"
            )


class RedshiftWarehouse(DbApiWarehouse):
    dialect = "redshift"

    def __init__(
        self,
        name: str,
        connect: Callable[[], Any],
        *,
        iam_role: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        super().__init__(name, connect)
        self._iam_role = iam_role
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key

    def column_type(self, col: FileColumn) -> str:
        return col.redshift_type

    def lock(self, table: str) -> None:
        self.execute(f"LOCK {table}")

    def target_table_options(self, request: LoadRequest) -> str:
        return table_suffix(request.distkey, request.sortkey)

    def execute_outside_transaction(self, sql: str) -> None:
        """`ALTER TABLE ... ALTER COLUMN ... TYPE VARCHAR(n)` cannot run inside a transaction
        block (https://docs.aws.amazon.com/redshift/latest/dg/r_ALTER_TABLE.html): the open
        one is ended and the statement runs alone, in autocommit."""
        self.commit()
        self.conn.autocommit = True
        try:
            self.execute(sql)
        finally:
            self.conn.autocommit = False

    def check_text_fits(
        self, request: LoadRequest, files: Sequence[FileRecord], footers: Sequence[Footer]
    ) -> None:
        refuse_oversize_text(request, files, footers)

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
