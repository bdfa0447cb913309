"""Child processes of test_pool_slots.py.

`sync <cli args...>`: `mysql-redshift sync` as a user runs it, each table's extraction slowed by
a server-side `SELECT SLEEP(MRA_SLOT_TEST_SLEEP)` on the source's own session, tagged with the
pipeline (`/* mra-slot-test <pipeline> */`): an extracting table is one visible query in MySQL's
process list for as long as it extracts.

`hold <host> <port> <source> <limit>`: hold one slot of the source's pool and wait to be killed
(prints `held <lock name> <connection id>` once it holds it).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from mysql_redshift_assets.extract.source import MySQLSource


def _slow_sync(argv: list[str]) -> int:
    from mysql_redshift_assets.cli import main
    from mysql_redshift_assets.sync import table as table_module

    real = table_module.extract_table
    seconds = float(os.environ.get("MRA_SLOT_TEST_SLEEP", "2"))

    def slowed(source: Any, store: Any, watermarks: Any, table: Any, **kwargs: Any) -> Any:
        tag = f"/* mra-slot-test {table.pipeline} {table.source_table} */"
        source.query_one(f"SELECT SLEEP(%s) {tag}", (seconds,))
        return real(source, store, watermarks, table, **kwargs)

    table_module.extract_table = slowed  # type: ignore[assignment]
    return main(argv)


def _hold(host: str, port: str, name: str, limit: str) -> None:
    from mysql_redshift_assets.extract.slots import SESSION_KEY, SourceSlots
    from mysql_redshift_assets_tests.private_mariadb import TEST_PASSWORD, TEST_USER

    source = MySQLSource(name, host=host, port=int(port), user=TEST_USER, password=TEST_PASSWORD)
    with SourceSlots(f"mysql-{name}", int(limit)).hold(source, "child") as lock:
        conn = source.kept(SESSION_KEY, lambda: None)
        print(f"held {lock} {conn.thread_id()}", flush=True)
        while True:
            time.sleep(60)


if __name__ == "__main__":
    if sys.argv[1] == "sync":
        sys.exit(_slow_sync(sys.argv[2:]))
    _hold(*sys.argv[2:6])
