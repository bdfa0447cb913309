"""Child processes of test_pool_slots.py.

`sync <cli args...>`: `mysql-redshift sync` as a user runs it, each table's extraction slowed by
a server-side `SELECT SLEEP(MRA_SLOT_TEST_SLEEP)` on the source's own session, tagged with the
pipeline (`/* mra-slot-test <pipeline> <table> */`): an extracting table is one visible query in
MySQL's process list for as long as it extracts. With `MRA_SLOT_TEST_BARRIER` (a folder) it
writes `ready-<pid>` there once imported and waits for `go`.

`hold <pipelines folder> <source> <limit>`: hold one slot of the source's pool (through its SSH
tunnel when it has one) and wait to be killed (prints `held <lock name> <connection id>`).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any


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
    barrier = os.environ.get("MRA_SLOT_TEST_BARRIER")
    if barrier:  # imports done: start together with the other run (a loaded machine's start
        # times differ by seconds)
        (Path(barrier) / f"ready-{os.getpid()}").touch()
        while not (Path(barrier) / "go").exists():
            time.sleep(0.05)
    return main(argv)


def _hold(root: str, name: str, limit: str) -> None:
    from mysql_redshift_assets.connect import open_source
    from mysql_redshift_assets.extract.slots import SESSION_KEY, SourceSlots
    from mysql_redshift_assets.project import load_project

    source = open_source(load_project(Path(root)), name)
    with SourceSlots(f"mysql-{name}", int(limit)).hold(source, "child") as lock:
        conn = source.kept(SESSION_KEY, lambda: None)
        print(f"held {lock} {conn.thread_id()}", flush=True)
        while True:
            time.sleep(60)


if __name__ == "__main__":
    if sys.argv[1] == "sync":
        sys.exit(_slow_sync(sys.argv[2:]))
    _hold(*sys.argv[2:5])
