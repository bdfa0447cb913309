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
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pymysql

if TYPE_CHECKING:
    from mysql_redshift_assets_tests.conftest import MysqlServer

START_SECONDS = 60


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
def start_private_mariadb(folder: Path, *, binlog: bool = True) -> Iterator[MysqlServer]:
    from mysql_redshift_assets_tests.conftest import MysqlServer, free_port

    datadir = folder / "data"
    datadir.mkdir(parents=True, exist_ok=True)
    install = _binary("mariadb-install-db", "mysql_install_db")
    subprocess.run(
        [install, "--no-defaults", f"--datadir={datadir}", "--auth-root-authentication-method=normal",
         "--user=root", "--skip-test-db"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    port = free_port()
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
        "--innodb-buffer-pool-size=64M",
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
