"""Redshift through redshift-connector: manifest of exact keys, COPY FORMAT AS PARQUET, merge.

Redshift cannot run here: its own text (COPY, manifest, DISTKEY/SORTKEY, LOCK) is tested as exact
strings, and the shared algorithm runs for real on PostgreSQL (`postgres.py`). docs/redshift.md
lists each rule with its AWS reference; `mysql-redshift check-target` tries them on a cluster.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from mysql_redshift_assets.identifiers import quote_ident
from mysql_redshift_assets.load.base import CopyBatch
from mysql_redshift_assets.load.dbapi import DbApiWarehouse
from mysql_redshift_assets.load.deadline import SessionBounds
from mysql_redshift_assets.load.evolve import FORMAT_TYPE_SQL, Change, alter_type_sql
from mysql_redshift_assets.load.keep import Kept
from mysql_redshift_assets.load.redshift_keep import read_redshift
from mysql_redshift_assets.load.redshift_limits import (
    IN_PLACE_CATALOG_SQL,
    LAST_QUERY_SQL,
    LOAD_ERRORS_SQL,
    copy_failure_message,
    refused_in_place,
)
from mysql_redshift_assets.load.request import LoadError, LoadRequest, SortKey
from mysql_redshift_assets.naming import manifest_key
from mysql_redshift_assets.targets import REDSHIFT


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


def table_suffix(distkey: str | None, sortkey: SortKey | None) -> str:
    """`DISTSTYLE AUTO SORTKEY AUTO` unless the YAML names keys (already checked to exist)."""
    dist = f"DISTKEY({quote_ident(distkey)})" if distkey else "DISTSTYLE AUTO"
    if sortkey and sortkey[1]:
        kind, columns = sortkey
        sort = f"{kind.upper()} SORTKEY({', '.join(quote_ident(c) for c in columns)})"
    else:
        sort = "SORTKEY AUTO"
    return f" {dist} {sort}"


class RedshiftWarehouse(DbApiWarehouse):
    target_dialect = REDSHIFT
    # CURRENT_TIMESTAMP is a deprecated leader-node-only function in Redshift
    # (https://docs.aws.amazon.com/redshift/latest/dg/Date_functions_header.html).
    now_sql = "GETDATE()"
    catalog_types_sql = FORMAT_TYPE_SQL  # types with their widths, VARBYTE's too

    def __init__(
        self,
        name: str,
        connect: Callable[[], Any],
        *,
        iam_role: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
        bounds: SessionBounds | None = None,
    ) -> None:
        super().__init__(name, connect, bounds)
        self._iam_role = iam_role
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key
        self._session_token = session_token

    def session_fileno(self) -> int | None:
        # redshift-connector's TCP socket (TLS-wrapped), core.py `self._usock`.
        return None if self._conn is None else int(self._conn._usock.fileno())

    def lock(self, table: str) -> None:
        # LOCK takes an ACCESS EXCLUSIVE lock: readers of the table wait until COMMIT
        # (https://docs.aws.amazon.com/redshift/latest/dg/r_LOCK.html), so it is taken only
        # after staging, for the merge and the ledger rows.
        self.execute(f"LOCK {table}")

    def kept_objects(self, schema: str, table: str) -> Kept:
        """Views, grants, owner and comments the swap keeps (`redshift_keep.py`)."""
        return read_redshift(self.fetchall, schema, table)

    def target_table_options(self, request: LoadRequest) -> str:
        return table_suffix(request.distkey, request.sortkey)

    def apply_type_changes(self, target: str, changes: Sequence[Change]) -> list[Change]:
        """`ALTER COLUMN ... TYPE VARCHAR(n)`, the one type change Redshift makes in place
        (its record's `type_changes_in_place`), each alone outside a transaction block; the
        other changes are returned for the caller's transaction."""
        for c in changes:
            if c.action == "alter":
                assert c.sql_type is not None
                self.execute_type_change(alter_type_sql(target, c.column, c.sql_type))
        return [c for c in changes if c.action != "alter"]

    def execute_type_change(self, sql: str) -> None:
        self.execute_outside_transaction(sql)

    def in_place_refusals(self, schema: str, table: str) -> dict[str, str]:
        """The target's columns Redshift will not ALTER ... TYPE in place, with the reason."""
        return refused_in_place(self.fetchall(IN_PLACE_CATALOG_SQL, (schema, table)))

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

    def copy_into_staging(self, batch: CopyBatch) -> int:
        request, store = batch.request, batch.store
        key = manifest_key(request.table, request.run_id, batch.group)
        entries = [(store.uri(f.key), f.bytes) for f in batch.files]
        store.put_bytes(manifest_json(entries).encode(), key)
        before = int(self.fetchall(LAST_QUERY_SQL)[0][0])
        try:
            self.execute(
                copy_statement(
                    batch.staging,
                    store.uri(key),
                    iam_role=self._iam_role,
                    access_key_id=self._access_key_id,
                    secret_access_key=self._secret_access_key,
                    session_token=self._session_token,
                )
            )
        except Exception as exc:
            if self.is_serialization_failure(exc):
                raise  # retried by the load
            self.rollback()  # the failed COPY aborted the transaction
            rows = self.fetchall(LOAD_ERRORS_SQL, (before,))
            self.rollback()
            raise LoadError(copy_failure_message(request, exc, rows)) from exc
        return int(self.fetchall("SELECT pg_last_copy_count()")[0][0])
