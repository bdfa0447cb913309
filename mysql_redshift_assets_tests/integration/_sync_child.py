"""Child process of the soak: one ordinary sync of one table (extract, load, delete pass), or
one resync of it, to be killed.

MYSQL_REDSHIFT_PIPELINES_DIR  the pipelines folder (pipeline `testpipe`)
MRA_TEST_MYSQL_PASSWORD       the MySQL password, as in production through the environment
MRA_SYNC_TABLE                `<schema>.<table>`; a sync may name several, comma-separated: they
                              run in one run, one after another, as the assets run them (a
                              `capture: binlog` source's tables share one binlog stream)
MRA_SYNC_RUN_ID               the run id
MRA_SYNC_MODE                 `sync` (the default) or `resync`
MRA_SYNC_KILL_AFTER_SAVES     optional N: the process SIGKILLs itself right after its N-th
                              watermark write (a crash at an exact step: between two change
                              files, between a file and the load, ...)
"""

from __future__ import annotations

import itertools
import os
import signal
from typing import Any

from mysql_redshift_assets.config.resolve import table_config
from mysql_redshift_assets.maintenance.resync import resync_table
from mysql_redshift_assets.project import load_project
from mysql_redshift_assets.state.lease import LeaseHeld
from mysql_redshift_assets.state.watermark import WatermarkStore
from mysql_redshift_assets.sync.clients import Clients
from mysql_redshift_assets.sync.table import SyncRun, TableSync

LEASE_HELD = "lease held"


def _die_after_saves(saves: int) -> None:
    save, count = WatermarkStore.save, itertools.count(1)

    def save_then_die(self: WatermarkStore, *args: Any) -> None:
        save(self, *args)
        if next(count) >= saves:
            os.kill(os.getpid(), signal.SIGKILL)

    WatermarkStore.save = save_then_die  # type: ignore[method-assign]


def main() -> None:
    if os.environ.get("MRA_SYNC_KILL_AFTER_SAVES"):
        _die_after_saves(int(os.environ["MRA_SYNC_KILL_AFTER_SAVES"]))
    project = load_project()
    pipeline = project.pipeline("testpipe")
    tables = [table_config(pipeline, name) for name in os.environ["MRA_SYNC_TABLE"].split(",")]
    run_id = os.environ["MRA_SYNC_RUN_ID"]
    try:
        with Clients(project) as clients:
            if os.environ.get("MRA_SYNC_MODE") == "resync":  # it loads, with the delete pass
                (table,) = tables
                source, warehouse = clients.source(table.source), clients.warehouse(table.target)
                resync_table(source, clients.store(table.store), warehouse, table, run_id=run_id)
                return
            run = SyncRun(run_id)
            run.binlog.register(tables)  # as defs/assets.py: one binlog stream a source
            for table in tables:  # as the assets run it: the extraction, the load, the delete pass
                TableSync(table, clients, run).run().raise_failure()
    except LeaseHeld as exc:  # a sync and a resync started together: one refuses, as it should
        raise SystemExit(f"{LEASE_HELD}: {exc}") from exc


if __name__ == "__main__":
    main()
