"""What holds a slot of the source's pool (`extract/slots.py`): a table's extraction, its delete
pass, a resync job's run. With every slot taken by another session, each waits (writes
nothing); once the slots are free it completes, and the warehouse equals MySQL row by row.
And a slot held through a long table is kept alive past the session's wait_timeout.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import dagster as dg
import pytest

from mysql_redshift_assets.defs.build import build_definitions
from mysql_redshift_assets.extract import slots as slots_module
from mysql_redshift_assets.extract.slots import PREFIX_ENV, SESSION_KEY, SourceSlots, lock_names
from mysql_redshift_assets.extract.source import MySQLSource
from mysql_redshift_assets.naming import resync_job_name, resync_op_name
from mysql_redshift_assets.sync.clients import Clients
from mysql_redshift_assets.sync.table import SyncRun, TableSync
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows
from mysql_redshift_assets_tests.private_mariadb import TEST_PASSWORD, TEST_USER

pytestmark = [pytest.mark.mariadb]

COLUMNS = ["id", "amount", "updated_at"]
SLOTS = SourceSlots("mysql-mysql", 2)  # the ephemeral instance's limit: the default, 2


@pytest.fixture
def prefix(monkeypatch: pytest.MonkeyPatch) -> str:
    value = f"mra-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv(PREFIX_ENV, value)
    return value


def _waits_for_the_slots(mysql_server: Any, prefix: str, work: Callable[[], Any]) -> Any:
    """Run `work` while another session holds every slot: it must not finish; free them: it
    must finish. Returns what `work` returned."""
    names = lock_names("mysql", SLOTS.limit, prefix)
    blocker = mysql_server.connect()
    with blocker.cursor() as cur:
        for name in names:
            cur.execute("SELECT GET_LOCK(%s, 0)", (name,))
            assert cur.fetchone()[0] == 1
    done: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            done.append(work())
        except BaseException as exc:  # noqa: BLE001 - reported by the test's thread
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        thread.join(2.0)
        assert not done and not errors and thread.is_alive(), "ran without a slot"
    finally:
        blocker.close()  # frees every slot
    thread.join(30)
    assert not errors, errors
    assert done, "did not finish once the slots were free"
    return done[0]


def _orders(mysql: Any) -> None:
    with mysql.cursor() as cur:
        cur.execute(
            "CREATE TABLE orders (id INT PRIMARY KEY, amount DECIMAL(10,2), "
            "updated_at DATETIME(6) NOT NULL, KEY (updated_at, id))"
        )
        cur.executemany(
            "INSERT INTO orders VALUES (%s, %s, '2024-03-01 10:00:00')",
            [(i, f"{i}.50") for i in range(1, 61)],
        )
    mysql.commit()


def test_extraction_delete_pass_and_resync_each_hold_a_slot(
    mysql: Any, mysql_db: str, mysql_server: Any, make_project: Any, prefix: str
) -> None:
    _orders(mysql)
    sync = Sync.of(make_project, mysql_db, "orders", {"cursor": "updated_at"})

    def table_sync(clients: Clients) -> TableSync:
        return TableSync(sync.table, clients, SyncRun(f"r-{uuid.uuid4().hex[:6]}", slots=SLOTS))

    def extract_and_load() -> None:
        with Clients(sync.project) as clients:
            table_sync(clients).run().raise_failure()

    _waits_for_the_slots(mysql_server, prefix, extract_and_load)
    assert_same_rows(mysql, sync, COLUMNS, ["id"])

    with mysql.cursor() as cur:
        cur.execute("DELETE FROM orders WHERE id IN (3, 30)")
    mysql.commit()

    def delete_pass() -> int:
        with Clients(sync.project) as clients:
            return table_sync(clients).propagate_deletes().deleted

    assert _waits_for_the_slots(mysql_server, prefix, delete_pass) == 2
    assert_same_rows(mysql, sync, COLUMNS, ["id"])

    with mysql.cursor() as cur:
        cur.execute("UPDATE orders SET amount = amount + 1 WHERE id < 10")
    mysql.commit()
    defs = build_definitions(sync.project)
    config = {"ops": {resync_op_name("testpipe"): {"config": {"table": sync.table.qualified}}}}
    job = defs.resolve_job_def(resync_job_name("testpipe"))

    def resync() -> bool:
        instance = dg.DagsterInstance.ephemeral()
        return job.execute_in_process(run_config=config, instance=instance).success

    assert _waits_for_the_slots(mysql_server, prefix, resync)
    assert_same_rows(mysql, sync, COLUMNS, ["id"])


def test_a_slot_held_longer_than_the_session_timeout_is_kept(
    mysql_server: Any, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(slots_module, "SLOT_SESSION_TIMEOUT", 2)  # pinged every 2/3 s
    source = MySQLSource(
        "long", host=mysql_server.host, port=mysql_server.port, user=TEST_USER,
        password=TEST_PASSWORD,
    )  # fmt: skip
    try:
        with SourceSlots("mysql-long", 1).hold(source, "long table") as lock:
            held_by = source.kept(SESSION_KEY, lambda: None).thread_id()
            time.sleep(4.5)  # more than twice the session's wait_timeout
            with mysql_server.connect() as conn, conn.cursor() as cur:
                cur.execute("SELECT IS_USED_LOCK(%s)", (lock,))
                assert cur.fetchone()[0] == held_by
    finally:
        source.close()
