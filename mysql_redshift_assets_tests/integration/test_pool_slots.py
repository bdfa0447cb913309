"""Pools bound the tables reading one MySQL source across runs and processes (`extract/slots.py`).

Two `mysql-redshift sync` processes of two pipelines on one source, with the pool's limit 2 and
three tables each, each extraction slowed by a server-side SLEEP (`_slot_children.py`): MySQL's
process list, sampled every 50 ms (filtered by the test's user and database), never shows more
than 2 tables extracting at once, while both runs extract side by side; then the warehouse
equals MySQL row by row. Without the slots each run's op runs its 2 tables at once: 4.

A slot's holder SIGKILLed frees it at once: another process takes it within seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from mysql_redshift_assets.config.resolve import table_config
from mysql_redshift_assets.connect import open_source
from mysql_redshift_assets.extract.slots import PREFIX_ENV, SESSION_KEY, SourceSlots, lock_names
from mysql_redshift_assets.extract.source import MySQLSource
from mysql_redshift_assets.project import load_project
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows
from mysql_redshift_assets_tests.private_mariadb import TEST_PASSWORD, TEST_USER

pytestmark = [pytest.mark.mariadb, pytest.mark.slow]

CHILD = Path(__file__).with_name("_slot_children.py")
LIMIT = 2
TABLES = ("t1", "t2", "t3")
COLUMNS = ("id", "name", "amount")


@pytest.fixture
def prefix(monkeypatch: pytest.MonkeyPatch) -> str:
    """Lock names of this test's own (named locks are server-wide); children inherit it."""
    value = f"mra-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv(PREFIX_ENV, value)
    return value


class Sampler(threading.Thread):
    """Samples the process list and the slot locks until stopped."""

    def __init__(self, server: Any, db: str, locks: list[str]) -> None:
        super().__init__(daemon=True)
        self.conn = server.connect()
        self.db, self.locks = db, locks
        self.samples: list[tuple[list[str], int]] = []  # (extracting queries' tags, holders)
        self.stop = threading.Event()

    def run(self) -> None:
        held = ", ".join("IS_USED_LOCK(%s)" for _ in self.locks)
        while not self.stop.is_set():
            with self.conn.cursor() as cur:
                cur.execute(
                    "SELECT INFO FROM information_schema.PROCESSLIST WHERE USER = %s AND DB = %s "
                    "AND COMMAND = 'Query' AND INFO LIKE 'SELECT SLEEP%%mra-slot-test%%'",
                    (TEST_USER, self.db),
                )
                tags = [r[0].split("mra-slot-test ")[1].split(" */")[0] for r in cur.fetchall()]
                cur.execute(f"SELECT {held}", self.locks)
                row = cur.fetchone()
                holders = sum(1 for v in row if v is not None)
            self.samples.append((tags, holders))
            time.sleep(0.05)
        self.conn.close()


def _project(mysql_server: Any, mysql_db: str, tmp_path: Path) -> Path:
    """Two pipelines (a, b) of three tables each, on one source, each to its own DuckDB file
    (a DuckDB file takes one writing process at a time)."""
    root = tmp_path / "pipelines"
    root.mkdir()
    connections = {
        "sources": {
            "mysql": {
                "kind": "mysql", "host": mysql_server.host, "port": mysql_server.port,
                "user": TEST_USER, "password": "${MRA_TEST_MYSQL_PASSWORD}",
                # the process list's DB column: the test's database
                "database": mysql_db,
            }
        },
        "stores": {"local": {"kind": "local", "path": str(tmp_path / "store")}},
        "targets": {p: {"kind": "duckdb", "path": str(tmp_path / f"{p}.duckdb")} for p in "ab"},
    }  # fmt: skip
    (root / "connections.yml").write_text(yaml.safe_dump(connections))
    for p in "ab":
        spec = {
            "source": "mysql", "store": "local", "target": p, "late_commit_window_seconds": 0,
            "tables": {f"{mysql_db}.{p}_{t}": {"mode": "full"} for t in TABLES},
        }  # fmt: skip
        (root / f"pipe_{p}.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return root


def _fill(mysql: Any) -> None:
    with mysql.cursor() as cur:
        for p in "ab":
            for i, t in enumerate(TABLES):
                cur.execute(
                    f"CREATE TABLE {p}_{t} (id INT PRIMARY KEY, name VARCHAR(40), "
                    "amount DECIMAL(12,2))"
                )
                cur.executemany(
                    f"INSERT INTO {p}_{t} VALUES (%s, %s, %s)",
                    [(n, f"{p}{t}-{n}-é", f"{n * (i + 1)}.25") for n in range(1, 121)],
                )
    mysql.commit()


def test_two_runs_of_two_pipelines_stay_within_the_pool(
    mysql: Any, mysql_db: str, mysql_server: Any, tmp_path: Path, prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("MRA_TEST_MYSQL_PASSWORD", TEST_PASSWORD)
    _fill(mysql)
    root = _project(mysql_server, mysql_db, tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        f"telemetry:\n  enabled: false\nconcurrency:\n  pools:\n    default_limit: {LIMIT}\n"
    )
    # The runs share this instance: its storage made now (two processes creating it race).
    dg.DagsterInstance.from_config(str(home)).dispose()
    env = {**os.environ, "MYSQL_REDSHIFT_PIPELINES_DIR": str(root), "DAGSTER_HOME": str(home)}
    env["MRA_SLOT_TEST_SLEEP"] = "2"
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env["MRA_SLOT_TEST_BARRIER"] = str(barrier)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[2]), env.get("PYTHONPATH", "")])
    # More names than the limit: a holder of a name past it would be a bug.
    sampler = Sampler(mysql_server, mysql_db, lock_names("mysql", LIMIT + 3, prefix))
    sampler.start()
    started = time.monotonic()
    runs = [
        subprocess.Popen(
            [sys.executable, str(CHILD), "sync", "sync", "-p", f"pipe_{p}"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        for p in "ab"
    ]
    try:
        deadline = time.monotonic() + 120
        while len(list(barrier.glob("ready-*"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        (barrier / "go").touch()
        outputs = [r.communicate(timeout=240)[0] for r in runs]
    finally:
        sampler.stop.set()
        sampler.join()
        for r in runs:
            if r.poll() is None:
                r.kill()
    elapsed = time.monotonic() - started
    for r, out in zip(runs, outputs, strict=True):
        assert r.returncode == 0, out[-4000:]
    most = max(len(tags) for tags, _ in sampler.samples)
    runs_seen = [{t.split()[0] for t in tags} for tags, _ in sampler.samples]
    both = [seen for seen in runs_seen if seen == {"pipe_a", "pipe_b"}]
    holders = max(h for _, h in sampler.samples)
    print(f"{len(sampler.samples)} samples, {elapsed:.1f} s: {most} at most, {len(both)} both runs")
    assert most <= LIMIT, f"{most} tables extracting at once from one source (limit {LIMIT})"
    assert both, "the two runs never extracted at the same time: the test proves nothing"
    assert most == LIMIT and holders == LIMIT  # the pool was used to its limit, not beyond
    # A table that waits says so once, in the run's log (through the op's relay).
    assert "waiting for a slot of pool mysql-mysql" in "".join(outputs)
    project = load_project(root)
    for p in "ab":
        for t in TABLES:
            table = table_config(project.pipeline(f"pipe_{p}"), f"{mysql_db}.{p}_{t}")
            assert_same_rows(mysql, Sync(project, table), COLUMNS, ["id"])


@pytest.fixture(params=["direct", "ssh"])
def holder_project(request: pytest.FixtureRequest, make_project: Any, tmp_path: Path) -> Any:
    """A project whose source `mysql` is reached directly, or through an SSH bastion."""
    project = make_project({"x.y": {"mode": "full"}}, store="local")
    if request.param == "direct":
        return project
    from mysql_redshift_assets_tests.integration.test_ssh_tunnel import with_ssh
    from mysql_redshift_assets_tests.sshd import SshServer

    server = SshServer.start(tmp_path / "sshd")
    request.addfinalizer(server.stop)
    return with_ssh(project, {"bastion": server.ssh_entry()}, sources__mysql="bastion")


def test_a_killed_holder_frees_its_slot(
    mysql_server: Any, holder_project: Any, prefix: str
) -> None:
    child = subprocess.Popen(
        [sys.executable, str(CHILD), "hold", str(holder_project.root), "mysql", "1"],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
        stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    source = open_source(holder_project, "mysql")
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.startswith("held "), line
        lock, conn_id = line.split()[1], int(line.split()[2])
        assert lock == lock_names("mysql", 1, prefix)[0]
        with mysql_server.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT IS_USED_LOCK(%s)", (lock,))
            assert cur.fetchone()[0] == conn_id  # held by the child's session
        taken = threading.Event()

        def take() -> None:
            with SourceSlots("mysql-mysql", 1).hold(source, "waiter"):
                taken.set()

        waiter = threading.Thread(target=take, daemon=True)
        waiter.start()
        assert not taken.wait(1.5), "the only slot was taken twice"
        child.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        child.wait(10)
        assert taken.wait(10), "the killed holder's slot was not freed"
        waited = time.monotonic() - killed
        print(f"slot taken {waited:.2f} s after the SIGKILL")
        assert waited < 5
        waiter.join(10)
        with mysql_server.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT IS_USED_LOCK(%s)", (lock,))
            assert cur.fetchone()[0] is None  # released when the block ended
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        source.close()


def test_a_slot_session_lost_between_tables_is_replaced(mysql_server: Any, prefix: str) -> None:
    """The slot session is kept from table to table; one the server dropped meanwhile (its
    wait_timeout, a restart) is replaced, and the next table still holds a real slot."""
    source = MySQLSource(
        "lost", host=mysql_server.host, port=mysql_server.port, user=TEST_USER,
        password=TEST_PASSWORD,
    )  # fmt: skip
    slots = SourceSlots("mysql-lost", 1)
    try:
        with slots.hold(source, "first") as lock:
            first = source.kept(SESSION_KEY, lambda: None).thread_id()
        with mysql_server.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT IS_USED_LOCK(%s)", (lock,))
            assert cur.fetchone()[0] is None  # released after the table, session kept
            cur.execute(f"KILL {first}")
        with slots.hold(source, "second") as again:
            second = source.kept(SESSION_KEY, lambda: None).thread_id()
            with mysql_server.connect() as conn, conn.cursor() as cur:
                cur.execute("SELECT IS_USED_LOCK(%s)", (again,))
                assert cur.fetchone()[0] == second != first
    finally:
        source.close()
