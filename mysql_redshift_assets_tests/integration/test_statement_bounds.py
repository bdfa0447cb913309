"""No silent hangs on a warehouse session (issue 24, item 2).

A proxy between the client and PostgreSQL forwards bytes until it sees a chosen statement go by,
then stops forwarding that connection without closing it: the far end still "answers" (the TCP
connection is up, keepalive probes are acknowledged by the proxy's kernel) but nothing comes
back. The statement must end within its deadline (statement_timeout_seconds +
deadline_margin_seconds) with an error naming the target, the step and the setting. A safety
timer closes a stalled connection after STALL_LIMIT seconds, so that code without a deadline
fails the test (with another error) instead of hanging the suite.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
import yaml

from mysql_redshift_assets.connect import open_warehouse
from mysql_redshift_assets.load.deadline import StatementDeadline
from mysql_redshift_assets.load.postgres import PostgresWarehouse
from mysql_redshift_assets.naming import ledger_entry_name
from mysql_redshift_assets.project import load_project
from mysql_redshift_assets_tests.conftest import PG_HOST, PG_PORT, pg_query
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows

STALL_LIMIT = 20.0


class StallingProxy:
    """Forwards 127.0.0.1:<port> to PostgreSQL; a connection whose client sends `stall_on`
    stops being forwarded (both ways) once that chunk is passed on."""

    def __init__(self, stall_on: bytes) -> None:
        self.stall_on = stall_on
        self.stalled = threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client = self.server.accept()[0]
            except OSError:
                return
            upstream = socket.create_connection((PG_HOST, PG_PORT))
            self.sockets += [client, upstream]
            frozen = threading.Event()
            for a, b, watch in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._pump, args=(a, b, watch, frozen), daemon=True).start()

    def _pump(
        self, src: socket.socket, dst: socket.socket, watch: bool, frozen: threading.Event
    ) -> None:
        try:
            while not frozen.is_set():
                data = src.recv(65536)
                if not data or frozen.is_set():
                    return
                dst.sendall(data)
                if watch and self.stall_on in data:
                    frozen.set()
                    self.stalled.set()
                    # Without a deadline the client would wait forever: end it later.
                    safety = threading.Timer(STALL_LIMIT, self.close)
                    safety.daemon = True
                    safety.start()
        except OSError:
            return

    def close(self) -> None:
        self.server.close()
        for s in self.sockets:
            s.close()


@pytest.fixture
def stalling_proxy(request: pytest.FixtureRequest) -> Iterator[StallingProxy]:
    proxy = StallingProxy(request.param)
    try:
        yield proxy
    finally:
        proxy.close()


def _bounded_pg(port: int, **keys: Any) -> PostgresWarehouse:
    from mysql_redshift_assets.config.connections import PostgresTargetSpec
    from mysql_redshift_assets.connect import libpq_keepalive_args, session_bounds

    spec = PostgresTargetSpec.model_validate(
        {"kind": "postgres", "host": PG_HOST, "port": port, "database": "mra_test",
         "user": "postgres", **keys}
    )  # fmt: skip

    def connect() -> psycopg.Connection[Any]:
        return psycopg.connect(
            host=PG_HOST, port=port, dbname="mra_test", user="postgres", connect_timeout=5,
            **libpq_keepalive_args(spec),
        )  # fmt: skip

    return PostgresWarehouse("dw", connect, session_bounds(spec))


def test_the_session_carries_the_statement_timeout(pg_server: None) -> None:
    """The server itself cancels a statement past statement_timeout_seconds."""
    warehouse = _bounded_pg(PG_PORT, statement_timeout_seconds=1.5, deadline_margin_seconds=30)
    try:
        assert warehouse.fetchall("SHOW statement_timeout") == [("1500ms",)]
        with pytest.raises(psycopg.errors.QueryCanceled, match="statement timeout"):
            warehouse.fetchall("SELECT pg_sleep(10)")
    finally:
        warehouse.close()


def test_keepalive_is_set_on_the_warehouse_socket(pg_server: None) -> None:
    warehouse = _bounded_pg(
        PG_PORT, keepalive_idle_seconds=41, keepalive_interval_seconds=7, keepalive_count=3
    )
    try:
        warehouse.fetchall("SELECT 1")
        fileno = warehouse.session_fileno()
        assert fileno is not None
        with socket.socket(fileno=fileno) as sock:
            try:
                assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 41
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 7
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 3
            finally:
                sock.detach()  # the descriptor is psycopg's
    finally:
        warehouse.close()


@pytest.mark.parametrize("stalling_proxy", [b"pg_sleep"], indirect=True)
def test_a_stalled_statement_ends_at_its_deadline(
    pg_server: None, stalling_proxy: StallingProxy
) -> None:
    warehouse = _bounded_pg(
        stalling_proxy.port, statement_timeout_seconds=1, deadline_margin_seconds=1
    )
    try:
        warehouse.fetchall("SELECT 1")
        with pytest.raises(StatementDeadline) as caught:
            warehouse.fetchall("SELECT pg_sleep(0.1)")
        assert stalling_proxy.stalled.is_set()
        message = str(caught.value)
        assert "target 'dw'" in message
        assert "`SELECT pg_sleep(0.1)`" in message
        assert "statement_timeout_seconds 1 + deadline_margin_seconds 1" in message
        warehouse.rollback()  # drops the dead session; the next statement opens a new one
    finally:
        warehouse.close()


@pytest.mark.parametrize("stalling_proxy", [b"SET TIME ZONE"], indirect=True)
def test_a_session_stalled_in_its_setup_ends_at_its_deadline(
    pg_server: None, stalling_proxy: StallingProxy
) -> None:
    warehouse = _bounded_pg(
        stalling_proxy.port, statement_timeout_seconds=1, deadline_margin_seconds=1
    )
    try:
        with pytest.raises(StatementDeadline, match="target 'dw'.*session setup"):
            warehouse.fetchall("SELECT 1")
        assert warehouse._conn is None  # dropped: the next statement opens a new session
    finally:
        warehouse.close()


def _through(root: Path, port: int, **keys: Any) -> None:
    """Point the test pipeline's postgres target at `port`, with `keys`."""
    path = root / "connections.yml"
    connections = yaml.safe_load(path.read_text())
    connections["targets"]["postgres"].update(port=port, **keys)
    path.write_text(yaml.safe_dump(connections))


@pytest.mark.parametrize("stalling_proxy", [b"COPY "], indirect=True)
def test_a_load_stalled_in_copy_fails_at_its_deadline_and_commits_nothing(
    make_project: Any, mysql_db: str, mysql: pymysql.Connection, pg_schema: str,
    stalling_proxy: StallingProxy,
) -> None:  # fmt: skip
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE orders (id INT PRIMARY KEY, amount DECIMAL(12,2), "
                    "updated_at DATETIME(6) NOT NULL)")  # fmt: skip
        cur.executemany(
            "INSERT INTO orders VALUES (%s, %s, '2026-01-01 00:00:00')",
            [(i, f"{i}.25") for i in range(1, 51)],
        )
    mysql.commit()
    sync = Sync.of(make_project, mysql_db, "orders", {"cursor": "updated_at"},
                   target="postgres", target_schema=pg_schema)  # fmt: skip
    root = sync.project.root
    sync.extract()
    _through(root, stalling_proxy.port, statement_timeout_seconds=1, deadline_margin_seconds=1)
    stalled = Sync(load_project(root), sync.table)
    with pytest.raises(Exception) as caught:
        stalled.load()
    assert stalling_proxy.stalled.is_set()
    message = "".join(_chain(caught.value))
    assert "target 'postgres'" in message and "COPY " in message
    assert "statement_timeout_seconds 1" in message
    stalling_proxy.close()  # the path recovers
    _through(root, PG_PORT)
    warehouse = open_warehouse(load_project(root), "postgres")
    try:
        assert warehouse.loaded_keys(pg_schema, ledger_entry_name(sync.table, None)) == set()
        assert warehouse.table_columns(pg_schema, "orders") == [] or not pg_query(
            f'SELECT 1 FROM "{pg_schema}"."orders"'
        )
    finally:
        warehouse.close()
    healthy = Sync(load_project(root), sync.table)
    healthy.load()
    assert_same_rows(mysql, healthy, ["id", "amount", "updated_at"], ["id"])


def _chain(exc: BaseException | None) -> Iterator[str]:
    while exc is not None:
        yield f"{type(exc).__name__}: {exc}\n"
        exc = exc.__cause__ or exc.__context__
