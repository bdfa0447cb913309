"""Fixtures over REAL servers: MariaDB, PostgreSQL, a moto S3 server over HTTP.

Under CI=true a missing server fails the test (never a skip). Every fixture that creates
something (database, schema, bucket) removes it afterwards.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest
import yaml

from mysql_redshift_assets.config.loader import Project
from mysql_redshift_assets.project import load_project
from mysql_redshift_assets_tests.private_mariadb import (
    TEST_PASSWORD,
    TEST_USER,
    MysqlServer,
    start_private_mariadb,
)

CI = os.environ.get("CI", "").lower() == "true"
MARIADB_SOCKET = os.environ.get("MARIADB_SOCKET", "/run/mysqld/mysqld.sock")
MYSQL_HOST, MYSQL_PORT = "127.0.0.1", 3306
# A throwaway account for the local test server only, created by the fixtures / .ci/run
# (TEST_USER, TEST_PASSWORD: private_mariadb.py).
TEST_DB_PREFIX = "mra_test_"
PG_HOST, PG_PORT, PG_USER, PG_DB = "127.0.0.1", 5432, "postgres", "mra_test"


def unavailable(what: str, exc: BaseException) -> None:
    message = f"{what} is not reachable: {exc}"
    if CI:
        pytest.fail(f"{message} (CI=true: a missing server fails the run)")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- MariaDB ----------------------------------------------------------------------------------
SHARED_MARIADB = MysqlServer(MYSQL_HOST, MYSQL_PORT, MARIADB_SOCKET)


def _ensure_test_user(server: MysqlServer = SHARED_MARIADB) -> None:
    """Create the test account through the root socket when we can (CI does it in .ci/run)."""
    try:
        root = server.root()
    except pymysql.err.MySQLError:
        return  # no root socket here: the account must already exist
    with root, root.cursor() as cur:
        for host in ("localhost", "127.0.0.1"):
            cur.execute(
                f"CREATE USER IF NOT EXISTS '{TEST_USER}'@'{host}' IDENTIFIED BY %s",
                (TEST_PASSWORD,),
            )
            cur.execute(f"GRANT ALL ON `mra\\_test\\_%`.* TO '{TEST_USER}'@'{host}'")
            cur.execute(f"GRANT PROCESS, CONNECTION ADMIN ON *.* TO '{TEST_USER}'@'{host}'")


def mysql_connect(database: str | None = None, **kwargs: Any) -> pymysql.connections.Connection:
    """A connection to the shared server (tests on a private one use `mysql_server.connect`)."""
    return SHARED_MARIADB.connect(database, **kwargs)


@pytest.fixture(scope="session")
def mariadb_server() -> None:
    try:
        _ensure_test_user()
        mysql_connect().close()
    except pymysql.err.MySQLError as exc:
        unavailable(f"MariaDB on {MYSQL_HOST}:{MYSQL_PORT}", exc)


@pytest.fixture
def mysql_server(mariadb_server: None) -> MysqlServer:
    """The MariaDB a test's fixtures use: the shared server. A module whose tests hold write
    transactions open (INNODB_TRX is server-wide: they would hold every other test's late-commit
    bound, and others' would hold theirs) overrides it with `private_mariadb`:

        @pytest.fixture
        def mysql_server(private_mariadb): return private_mariadb
    """
    return SHARED_MARIADB


@pytest.fixture(scope="session")
def private_mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MysqlServer]:
    """A MariaDB of this test session's own: a fresh datadir on a free port, with the binlog on
    (row-based, full metadata), stopped by its pid at the end."""
    try:
        with start_private_mariadb(tmp_path_factory.mktemp("mariadb")) as server:
            _ensure_test_user(server)
            yield server
    except (OSError, RuntimeError) as exc:
        unavailable("a private MariaDB (mariadb-install-db, mariadbd)", exc)


@pytest.fixture(scope="session")
def binlog_mariadb(private_mariadb: MysqlServer) -> MysqlServer:
    """The private MariaDB (the binlog is on only there) with the test account allowed to read
    its binlog: the minimal MariaDB grants of `capture: binlog` (docs/binlog.md). A test module
    of binlog capture runs on it by defining `mysql_server` as this fixture."""
    with private_mariadb.root() as root, root.cursor() as cur:
        for host in ("localhost", "127.0.0.1"):
            cur.execute(f"GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO '{TEST_USER}'@'{host}'")
    return private_mariadb


@pytest.fixture
def mysql_db(mysql_server: MysqlServer) -> Iterator[str]:
    """A fresh MySQL database (schema) for one test; always dropped."""
    name = f"{TEST_DB_PREFIX}{uuid.uuid4().hex[:10]}"
    with mysql_server.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        yield name
    finally:
        with mysql_server.connect() as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture
def mysql(mysql_server: MysqlServer, mysql_db: str) -> Iterator[pymysql.connections.Connection]:
    """A connection to `mysql_db` for arranging test data (session time zone UTC)."""
    conn = mysql_server.connect(mysql_db)
    with conn.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture
def mysql_sessions(
    mysql_server: MysqlServer, mysql_db: str
) -> Iterator[Callable[..., pymysql.connections.Connection]]:
    """More MySQL sessions, as applications open them: `open(time_zone="+08:00")`; a session
    left holding a transaction is rolled back and closed at the end of the test."""
    opened: list[pymysql.connections.Connection] = []

    def open_session(time_zone: str = "+00:00", **kwargs: Any) -> pymysql.connections.Connection:
        conn = mysql_server.connect(mysql_db, **kwargs)
        with conn.cursor() as cur:
            cur.execute("SET time_zone = %s", (time_zone,))
        opened.append(conn)
        return conn

    try:
        yield open_session
    finally:
        for conn in opened:
            try:
                conn.rollback()
                conn.close()
            except pymysql.err.Error:
                pass


# -- S3 (moto server over HTTP) ---------------------------------------------------------------
@pytest.fixture
def mysql_reader() -> str:
    """The `reader:` of the MySQL sources tests make (a module may run its tests with each)."""
    return "auto"


@pytest.fixture
def source(mysql_reader: str, mysql_server: MysqlServer) -> Iterator[Any]:
    """A MySQLSource on the test account (the fast-reader tests read through it)."""
    from mysql_redshift_assets.extract.source import MySQLSource

    src = MySQLSource(
        "test",
        host=mysql_server.host,
        port=mysql_server.port,
        user=TEST_USER,
        password=TEST_PASSWORD,
        reader=mysql_reader,
    )
    yield src
    src.close()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> Iterator[str]:
    import boto3

    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    name = f"mra-test-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=name)
    try:
        yield name
    finally:
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=name):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=name, Delete={"Objects": keys})
        client.delete_bucket(Bucket=name)


# -- PostgreSQL -------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def pg_server() -> None:
    import psycopg

    try:
        with psycopg.connect(
            host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", autocommit=True,
            connect_timeout=5,
        ) as conn:  # fmt: skip
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (PG_DB,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{PG_DB}"')
    except psycopg.OperationalError as exc:
        unavailable(f"PostgreSQL on {PG_HOST}:{PG_PORT}", exc)


@pytest.fixture
def pg_schema(pg_server: None) -> Iterator[str]:
    """A schema name no one else uses; the loader creates it, the fixture drops it."""
    import psycopg

    name = f"mra_test_{uuid.uuid4().hex[:10]}"
    try:
        yield name
    finally:
        with psycopg.connect(
            host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_DB, autocommit=True
        ) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def pg_query(sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_DB) as conn:
        return conn.execute(sql, params).fetchall()


# -- a pipelines folder over those servers ----------------------------------------------------
ProjectFactory = Callable[..., Project]


@pytest.fixture
def make_project(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    mysql_reader: str,
    mysql_server: MysqlServer,
) -> ProjectFactory:
    """Write connections.yml + one pipeline YAML into a temp folder and load it.

    make_project(tables={...}, store="s3"|"local", target="duckdb"|"postgres", **pipeline_keys)
    The MySQL password reaches the config only through an environment variable, as in production.
    """
    monkeypatch.setenv("MRA_TEST_MYSQL_PASSWORD", TEST_PASSWORD)

    def factory(
        tables: dict[str, dict[str, Any]],
        *,
        store: str = "s3",
        target: str = "duckdb",
        name: str = "testpipe",
        **pipeline: Any,
    ) -> Project:
        root = tmp_path / "pipelines"
        root.mkdir(exist_ok=True)
        stores: dict[str, Any] = {"local": {"kind": "local", "path": str(tmp_path / "store")}}
        if store == "s3":
            endpoint = request.getfixturevalue("s3_endpoint")
            bucket = request.getfixturevalue("s3_bucket")
            stores["s3"] = {"kind": "s3", "bucket": bucket, "prefix": "backup", "endpoint_url": endpoint, "region": "us-east-1"}  # fmt: skip
        targets: dict[str, Any] = {
            "duckdb": {"kind": "duckdb", "path": str(tmp_path / "wh.duckdb")}
        }
        pg_user = pipeline.pop("pg_user", PG_USER)  # a non-superuser loader's role, if given
        if target == "postgres":
            request.getfixturevalue("pg_server")
            targets["postgres"] = {"kind": "postgres", "host": PG_HOST, "port": PG_PORT, "database": PG_DB, "user": pg_user}  # fmt: skip
        connections = {
            "sources": {
                "mysql": {
                    "kind": "mysql",
                    "host": mysql_server.host,
                    "port": mysql_server.port,
                    "user": TEST_USER,
                    "password": "${MRA_TEST_MYSQL_PASSWORD}",
                    "reader": mysql_reader,
                }
            },
            "stores": stores,
            "targets": targets,
        }
        (root / "connections.yml").write_text(yaml.safe_dump(connections))
        # Tests that count the rows of a run see each row once; the re-read window's own tests
        # (and `exactness.Sync`) set it.
        pipeline.setdefault("late_commit_window_seconds", 0)
        spec = {"source": "mysql", "store": store, "target": target, **pipeline, "tables": tables}
        (root / f"{name}.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
        return load_project(root)

    return factory


@pytest.fixture(autouse=True, scope="session")
def _quiet_moto_access_log() -> None:
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)


@pytest.fixture(autouse=True, scope="session")
def _own_pool_slots() -> Iterator[None]:
    """Pool slots are MySQL named locks, server-wide (`extract/slots.py`): this test session's
    own names, so that test sessions sharing the MariaDB do not wait for each other's slots.
    Child processes inherit them."""
    from mysql_redshift_assets.extract.slots import PREFIX_ENV

    before = os.environ.get(PREFIX_ENV)
    os.environ[PREFIX_ENV] = f"mra-test-{uuid.uuid4().hex[:8]}"
    yield
    if before is None:
        os.environ.pop(PREFIX_ENV, None)
    else:
        os.environ[PREFIX_ENV] = before
