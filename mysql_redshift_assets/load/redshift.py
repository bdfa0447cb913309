"""Redshift through redshift-connector: manifest of exact keys, COPY FORMAT AS PARQUET, merge.

Redshift cannot run here: its own text (COPY, manifest, DISTKEY/SORTKEY, LOCK) is tested as exact
strings, and the shared algorithm runs for real on PostgreSQL (`postgres.py`). docs/redshift.md
lists each rule with its AWS reference; `mysql-redshift check-target` tries them on a cluster.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mysql_redshift_assets.extract.schema_types import MAX_VARBYTE
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
    session_token: str | None = None,
) -> str:
    """COPY takes no column list for Parquet: staging mirrors the files' columns, in order.

    Authorization (https://docs.aws.amazon.com/redshift/latest/dg/copy-parameters-authorization.html):
    `IAM_ROLE default` is a bare keyword (the cluster's default role), an ARN is quoted;
    temporary keys need SESSION_TOKEN.
    """
    if iam_role:
        auth = "IAM_ROLE default" if iam_role == "default" else f"IAM_ROLE {_literal(iam_role)}"
    elif access_key_id and secret_access_key:
        auth = (
            f"ACCESS_KEY_ID {_literal(access_key_id)} "
            f"SECRET_ACCESS_KEY {_literal(secret_access_key)}"
        )
        if session_token:
            auth += f" SESSION_TOKEN {_literal(session_token)}"
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


_WIDTH = re.compile(r"^(VARCHAR|VARBYTE)\((\d+)\)$")


def declared_width(sql_type: str) -> int | None:
    """n of `VARCHAR(n)` / `VARBYTE(n)`: bytes (UTF-8 for VARCHAR) the column takes."""
    match = _WIDTH.match(sql_type)
    return int(match.group(2)) if match else None


def refuse_values_over_width(
    request: LoadRequest,
    files: Sequence[FileRecord],
    footers: Sequence[Footer],
    target_widths: Mapping[str, int] | None = None,
) -> None:
    """Refuse, before any write, a value longer than its Redshift column: COPY would fail on it
    ("String length exceeds DDL length"), or the merge into a narrower existing target column.
    Widths count bytes, UTF-8 for text
    (https://docs.aws.amazon.com/redshift/latest/dg/r_Character_types.html); the files' footers
    carry each column's longest value; `target_widths` are the target's VARCHAR widths."""
    refuse_oversize_text(request, files, footers)
    for f, footer in zip(files, footers, strict=True):
        for col in footer.columns:
            longest = (footer.max_bytes or {}).get(col.name)
            if longest is None:
                continue
            width = declared_width(col.redshift_type)
            if width is not None and longest > width:
                raise LoadError(
                    f"{f.key}: column {col.name!r} ({col.source_name!r} in "
                    f"{request.table.qualified}) holds a value of {longest} bytes, longer than "
                    f"its Redshift type {col.redshift_type}; a COPY would fail. "
                    + _width_fix(col, request)
                )
            existing = (target_widths or {}).get(col.name)
            if existing is not None and longest > existing:
                raise LoadError(_narrow_target(request, f.key, col, longest, existing))


def _narrow_target(
    request: LoadRequest, key: str, col: FileColumn, longest: int, existing: int
) -> str:
    return (
        f"{key}: column {col.name!r} of the target {request.target_schema}."
        f"{request.target_table} is VARCHAR({existing}) (created by an older plan) but a value "
        f"is {longest} bytes; nothing was loaded. Widen it: ALTER TABLE "
        f"{request.target_schema}.{request.target_table} ALTER COLUMN {col.name} TYPE "
        f"{col.redshift_type} (`mysql-redshift ddl -t {request.table.qualified}` prints it)"
    )


def _width_fix(col: FileColumn, request: LoadRequest) -> str:
    if col.redshift_type.startswith("VARBYTE"):
        return (
            f"Redshift's VARBYTE stops at {MAX_VARBYTE:,} bytes: exclude the column or keep "
            "such values out of MySQL"
        )
    if col.capped:
        return (
            f"Set `text_overflow: truncate` for table {request.table.qualified} in "
            f"{request.table.config_file} to cut such values at extraction, then re-extract"
        )
    return (
        "The column was sized for an older plan: re-extract so the planner sizes it again, or "
        "widen it (ALTER TABLE ... ALTER COLUMN ... TYPE VARCHAR(n))"
    )


class RedshiftWarehouse(DbApiWarehouse):
    dialect = "redshift"
    # CURRENT_TIMESTAMP is a deprecated leader-node-only function in Redshift
    # (https://docs.aws.amazon.com/redshift/latest/dg/Date_functions_header.html).
    now_sql = "GETDATE()"

    def __init__(
        self,
        name: str,
        connect: Callable[[], Any],
        *,
        iam_role: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
    ) -> None:
        super().__init__(name, connect)
        self._iam_role = iam_role
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key
        self._session_token = session_token

    def column_type(self, col: FileColumn) -> str:
        return col.redshift_type

    def lock(self, table: str) -> None:
        # LOCK takes an ACCESS EXCLUSIVE lock: readers of the table wait until COMMIT
        # (https://docs.aws.amazon.com/redshift/latest/dg/r_LOCK.html), so it is taken only
        # after staging, for the merge and the ledger rows.
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
        refuse_values_over_width(request, files, footers, self.varchar_widths(request))

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
                session_token=self._session_token,
            )
        )
        return int(self.fetchall("SELECT pg_last_copy_count()")[0][0])
