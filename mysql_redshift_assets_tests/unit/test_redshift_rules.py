"""What Redshift documents and the connector does, checked as exact arguments and text.

Each test names the rule of docs/redshift.md it holds; Redshift cannot run here.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from mysql_redshift_assets.config.connections import RedshiftTargetSpec
from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.connect import (
    REDSHIFT_CONNECT_TIMEOUT_SECONDS,
    connect_redshift_session,
    open_warehouse,
    redshift_connect_args,
    session_bounds,
)
from mysql_redshift_assets.load import ledger
from mysql_redshift_assets.load.dbapi import DbApiWarehouse
from mysql_redshift_assets.load.postgres import PostgresWarehouse
from mysql_redshift_assets.load.redshift import RedshiftWarehouse, copy_statement
from mysql_redshift_assets.project import load_project
from mysql_redshift_assets.store.parquet import (
    FileColumn,
    ParquetFileWriter,
    parquet_codec,
    read_footer,
)

ROLE = "arn:aws:iam::123456789012:role/redshift-copy"


def spec(**keys: Any) -> RedshiftTargetSpec:
    base = {"kind": "redshift", "host": "dw.abc123.eu-west-1.redshift.amazonaws.com",
            "database": "dw", "user": "loader", "password": "pw"}  # fmt: skip
    return RedshiftTargetSpec.model_validate({**base, **keys})


# -- 1. the connect timeout bounds the connect only -------------------------------------------
def test_connect_arguments_bound_the_connect_and_ask_for_tls() -> None:
    assert redshift_connect_args(spec(), "dw.example", 5439) == {
        "host": "dw.example",
        "port": 5439,
        "database": "dw",
        "user": "loader",
        "password": "pw",
        "ssl": True,
        "sslmode": "verify-full",
        "timeout": REDSHIFT_CONNECT_TIMEOUT_SECONDS,
        "tcp_keepalive": True,
        "tcp_keepalive_idle": 60,
        "tcp_keepalive_interval": 10,
        "tcp_keepalive_count": 6,
    }


# -- issue 24 item 2: keepalive and statement bounds ------------------------------------------
def test_keepalive_and_statement_bounds_come_from_the_target() -> None:
    """redshift-connector 2.2 takes tcp_keepalive_idle/interval/count (core.py sets
    TCP_KEEPIDLE/TCP_KEEPINTVL/TCP_KEEPCNT on its socket)."""
    target = spec(keepalive_idle_seconds=120, keepalive_interval_seconds=5, keepalive_count=4,
                  statement_timeout_seconds=3600, deadline_margin_seconds=30)  # fmt: skip
    args = redshift_connect_args(target, "dw.example", 5439)
    assert (args["tcp_keepalive_idle"], args["tcp_keepalive_interval"]) == (120, 5)
    assert args["tcp_keepalive_count"] == 4
    bounds = session_bounds(target)
    assert (bounds.statement_timeout_ms, bounds.deadline_seconds) == (3_600_000, 3630)
    assert session_bounds(spec()).statement_timeout_ms == 43_200_000  # the 12 h default
    assert session_bounds(spec(statement_timeout_seconds=0)).deadline_seconds == 0


@pytest.mark.parametrize(
    "key, value",
    [("statement_timeout_seconds", -1), ("keepalive_idle_seconds", 0), ("keepalive_count", 0),
     ("deadline_margin_seconds", 0)],
)  # fmt: skip
def test_a_bad_bound_is_refused_naming_the_key(key: str, value: int) -> None:
    with pytest.raises(ValueError, match=rf"{key}\n\s+Input should be greater"):
        spec(**{key: value})


class _FakeConnection:
    def __init__(self, timeout: float) -> None:
        self._usock = socket.socket()
        self._usock.settimeout(timeout)


def test_the_session_socket_has_no_timeout_once_open(monkeypatch: pytest.MonkeyPatch) -> None:
    """redshift-connector keeps `timeout=` as the socket timeout of every later read."""
    import redshift_connector

    seen: dict[str, Any] = {}

    def fake_connect(**kwargs: Any) -> _FakeConnection:
        seen.update(kwargs)
        return _FakeConnection(kwargs["timeout"])

    monkeypatch.setattr(redshift_connector, "connect", fake_connect)
    conn: Any = connect_redshift_session(spec(), "127.0.0.1", 5439)
    try:
        assert seen["timeout"] == REDSHIFT_CONNECT_TIMEOUT_SECONDS
        assert conn._usock.gettimeout() is None  # statements are not bounded by the client
    finally:
        conn._usock.close()


def test_the_installed_connector_still_keeps_timeout_on_its_socket() -> None:
    """The workaround relies on this line of redshift-connector (pinned to its minor version)."""
    import inspect

    from redshift_connector import core

    source = inspect.getsource(core.Connection.__init__)
    assert "self._usock.settimeout(timeout)" in source


# -- 8. sslmode --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("keys", "mode"),
    [({}, "verify-full"), ({"ssh": "bastion"}, "verify-ca"),
     ({"ssh": "bastion", "sslmode": "verify-full"}, "verify-full"),
     ({"sslmode": "verify-ca"}, "verify-ca")],
)  # fmt: skip
def test_sslmode_defaults_to_verify_ca_through_a_tunnel(keys: dict[str, str], mode: str) -> None:
    assert spec(**keys).effective_sslmode == mode
    assert redshift_connect_args(spec(**keys), "127.0.0.1", 1)["sslmode"] == mode


# -- 8. bad input: one config error naming the key ----------------------------------------------
def write_project(tmp_path: Path, target: dict[str, Any], table: dict[str, Any] | None = None):
    root = tmp_path / "pipelines"
    root.mkdir(exist_ok=True)
    connections = {
        "sources": {"mysql": {"kind": "mysql", "host": "127.0.0.1", "user": "u"}},
        "stores": {"s3": {"kind": "s3", "bucket": "b", "region": "eu-west-1"}},
        "targets": {"rs": {"kind": "redshift", "host": "dw.abc.eu-west-1.redshift.amazonaws.com",
                           "database": "dw", "user": "u", **target}},
    }  # fmt: skip
    (root / "connections.yml").write_text(yaml.safe_dump(connections))
    pipeline = {"source": "mysql", "store": "s3", "target": "rs",
                "tables": {"shop.orders": {"cursor": "updated_at", **(table or {})}}}  # fmt: skip
    (root / "pipe.yml").write_text(yaml.safe_dump(pipeline))
    return root


@pytest.mark.parametrize(
    ("target", "table", "words"),
    [
        ({"iam_role": "redshift-copy"}, None, ["targets.rs", "iam_role", "default", "ARN"]),
        ({"iam_role": "'default'"}, None, ["targets.rs", "iam_role"]),
        ({"host": "dw.internal"}, None, ["targets.rs", "region:", "us-east-1"]),
        ({"sslmode": "verify_full"}, None, ["targets.rs", "sslmode", "verify-full"]),
        ({"sslmode": "require"}, None, ["targets.rs", "sslmode"]),
        ({}, {"sortkey": {"type": "interleaved", "columns": list("abcdefghi")}},
         ["shop.orders", "sortkey", "at most 8", "compound"]),
    ],
    ids=["role-name", "quoted-default", "no-region", "sslmode-typo", "sslmode-require", "9-interleaved"],
)  # fmt: skip
def test_bad_redshift_config_is_one_error_naming_the_key(
    tmp_path: Path, target: dict[str, Any], table: dict[str, Any] | None, words: list[str]
) -> None:
    with pytest.raises(ConfigError) as err:
        load_project(write_project(tmp_path, target, table))
    for word in words:
        assert word in str(err.value)


@pytest.mark.parametrize(
    "keys",
    [{"iam_role": "default"}, {"iam_role": ROLE}, {"iam_role": f"{ROLE},{ROLE}-b"},
     {"host": "dw.internal", "region": "eu-west-1"}],
)  # fmt: skip
def test_good_redshift_config_loads(tmp_path: Path, keys: dict[str, Any]) -> None:
    project = load_project(write_project(tmp_path, keys))
    assert project.connections.targets["rs"].kind == "redshift"


def test_eight_interleaved_columns_are_fine(tmp_path: Path) -> None:
    load_project(
        write_project(
            tmp_path, {}, {"sortkey": {"type": "interleaved", "columns": list("abcdefgh")}}
        )
    )


def test_a_role_from_the_environment_is_checked_when_resolved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = load_project(write_project(tmp_path, {"iam_role": "${MRA_TEST_ROLE}"}))
    monkeypatch.setenv("MRA_TEST_ROLE", "not-an-arn")
    with pytest.raises(ConfigError, match=r"targets\.rs\.iam_role: 'not-an-arn'"):
        open_warehouse(project, "rs")


def test_the_region_comes_from_an_aws_host_name() -> None:
    assert spec().cluster_region == "eu-west-1"
    assert (
        spec(host="wg.123456789012.us-east-2.redshift-serverless.amazonaws.com").cluster_region
        == "us-east-2"
    )
    assert spec(region="ap-south-1").cluster_region == "ap-south-1"


# -- 8. COPY authorization -----------------------------------------------------------------
def test_iam_role_default_is_the_bare_keyword() -> None:
    assert copy_statement('"s"', "s3://b/m", iam_role="default") == (
        "COPY \"s\" FROM 's3://b/m' IAM_ROLE default FORMAT AS PARQUET MANIFEST"
    )


def test_temporary_keys_carry_their_session_token() -> None:
    assert copy_statement(
        '"s"', "s3://b/m", access_key_id="ASIAX", secret_access_key="sk", session_token="to'ken"
    ) == (
        "COPY \"s\" FROM 's3://b/m' ACCESS_KEY_ID 'ASIAX' SECRET_ACCESS_KEY 'sk' "
        "SESSION_TOKEN 'to''ken' FORMAT AS PARQUET MANIFEST"
    )


def test_the_session_token_reaches_the_warehouse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MRA_TEST_TOKEN", "tok")
    keys = {"aws_access_key_id": "ASIAX", "aws_secret_access_key": "sk",
            "aws_session_token": "${MRA_TEST_TOKEN}"}  # fmt: skip
    warehouse = open_warehouse(load_project(write_project(tmp_path, keys)), "rs")
    assert isinstance(warehouse, RedshiftWarehouse)
    assert warehouse._session_token == "tok"
    assert "tok" not in repr(warehouse)


# -- 4. the ledger's clock -------------------------------------------------------------------
def test_the_ledger_row_uses_getdate_on_redshift_and_current_timestamp_elsewhere() -> None:
    assert RedshiftWarehouse.now_sql == "GETDATE()"
    assert PostgresWarehouse.now_sql == "CURRENT_TIMESTAMP"
    assert ledger.record_file_sql('"s"."l"', "%s", "GETDATE()").endswith(
        "VALUES (%s, %s, %s, %s, GETDATE())"
    )


# -- 3. serialization failures are retried ----------------------------------------------------
class _PgError(Exception):
    sqlstate = "40001"


@pytest.mark.parametrize(
    ("exc", "retry"),
    [
        (_PgError("could not serialize access"), True),
        # redshift-connector: ProgrammingError(dict of the server's error fields)
        (
            Exception(
                {
                    "S": "ERROR",
                    "C": "XX000",
                    "M": "1023",
                    "D": "Serializable isolation violation on table - 123, transactions forming the cycle are: 1, 2",
                }
            ),
            True,
        ),  # fmt: skip
        (Exception("ERROR: 1023 DETAIL: Serializable isolation violation on table"), True),
        (Exception({"S": "ERROR", "C": "42P01", "M": 'relation "x" does not exist'}), False),
        (Exception("String length exceeds DDL length"), False),
    ],
)
def test_serialization_failures_are_recognised(exc: Exception, retry: bool) -> None:
    warehouse = RedshiftWarehouse("rs", lambda: None)
    assert isinstance(warehouse, DbApiWarehouse)
    assert warehouse.is_serialization_failure(exc) is retry


# -- 5. the Parquet codec per target, and 2/7. byte lengths in the footer -------------------------
@pytest.mark.parametrize(
    ("kind", "codec"), [("redshift", "SNAPPY"), ("postgres", "SNAPPY"), ("duckdb", "ZSTD")]
)
def test_files_for_redshift_are_snappy(tmp_path: Path, kind: str, codec: str) -> None:
    schema = pa.schema([("s", pa.string()), ("b", pa.binary()), ("i", pa.int64())])
    columns = [
        FileColumn("s", "s", "varchar(10)", "VARCHAR(30)", "VARCHAR", "VARCHAR(30)"),
        FileColumn("b", "b", "blob", "VARBYTE(65535)", "BLOB", "BYTEA"),
        FileColumn("i", "i", "bigint", "BIGINT", "BIGINT", "BIGINT"),
    ]
    path = tmp_path / "f.parquet"
    writer = ParquetFileWriter(path, schema, columns, compression=parquet_codec(kind))
    batch = pa.record_batch(
        [pa.array(["é" * 10, None, "a"]), pa.array([b"\x00" * 5, b"", None]), pa.array([1, 2, 3])],
        schema=schema,
    )
    writer.write(batch)
    writer.write(
        pa.record_batch([pa.array(["ab"]), pa.array([b"x" * 7]), pa.array([4])], schema=schema)
    )
    writer.close()
    meta = pq.read_metadata(path)
    assert {meta.row_group(0).column(i).compression for i in range(3)} == {codec}
    # UTF-8 bytes, not characters: 10 x 'é' is 20 bytes.
    assert read_footer(path).max_bytes == {"s": 20, "b": 7}
