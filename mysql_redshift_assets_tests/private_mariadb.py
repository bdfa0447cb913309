"""A MariaDB of the test session's own: tests that hold write transactions open run here, so
that neither their open transactions hold other tests' late-commit bound (INNODB_TRX is
server-wide) nor other tests' transactions hold theirs.

    mariadb-install-db --no-defaults --datadir=D --auth-root-authentication-method=normal
    mariadbd --no-defaults --datadir=D --port=P --socket=D/sock --log-bin=D/binlog
             --binlog-format=ROW --binlog-row-metadata=FULL --server-id=N --user=root

It starts in a few seconds and is stopped by its pid (never by name).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql

START_SECONDS = 60
# A throwaway account for the local test servers only (conftest creates it on each).
TEST_USER = "mra_test"
TEST_PASSWORD = "mra-test-only-not-a-secret"


@dataclass(frozen=True)
class MysqlServer:
    """A MariaDB the tests reach over TCP as the test account (root through `socket`)."""

    host: str
    port: int
    socket: str

    def connect(self, database: str | None = None, **kwargs: Any) -> pymysql.connections.Connection:
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=TEST_USER,
            password=TEST_PASSWORD,
            database=database,
            autocommit=True,
            charset="utf8mb4",
            **kwargs,
        )

    def root(self) -> pymysql.connections.Connection:
        return pymysql.connect(unix_socket=self.socket, user="root", autocommit=True)


def _binary(*names: str) -> str:
    for name in names:
        for folder in ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"):
            path = Path(folder) / name
            if path.exists():
                return str(path)
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError(f"none of {', '.join(names)} is installed")


@contextmanager
def start_private_mariadb(
    folder: Path, *, binlog: bool = True, buffer_pool: str = "64M"
) -> Iterator[MysqlServer]:
    """`folder` may hold a datadir of an earlier start (a benchmark's, kept): it is reused."""
    datadir = folder / "data"
    datadir.mkdir(parents=True, exist_ok=True)
    if not (datadir / "mysql").is_dir():
        install = _binary("mariadb-install-db", "mysql_install_db")
        subprocess.run(
            [install, "--no-defaults", f"--datadir={datadir}", "--auth-root-authentication-method=normal",
             "--user=root", "--skip-test-db"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sock = str(folder / "sock")
    args = [
        _binary("mariadbd", "mysqld"),
        "--no-defaults",
        f"--datadir={datadir}",
        f"--port={port}",
        "--bind-address=127.0.0.1",
        f"--socket={sock}",
        f"--pid-file={folder / 'pid'}",
        "--user=root",
        f"--innodb-buffer-pool-size={buffer_pool}",
        "--skip-name-resolve",
    ]
    if binlog:
        args += [f"--log-bin={folder / 'binlog'}", "--binlog-format=ROW",
                 "--binlog-row-metadata=FULL", f"--server-id={port}"]  # fmt: skip
    log = open(folder / "mariadbd.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = MysqlServer("127.0.0.1", port, sock)
    try:
        _wait_ready(server, proc, folder)
        yield server
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


def _wait_ready(server: MysqlServer, proc: subprocess.Popen[bytes], folder: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (folder / "mariadbd.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"mariadbd exited with {proc.returncode}: {tail}")
        try:
            server.root().close()
            return
        except pymysql.err.MySQLError:
            time.sleep(0.2)
    raise RuntimeError(f"mariadbd did not answer on {server.socket} in {START_SECONDS} s")
