"""Child process of the soak: one ordinary sync of one table (extract, load, delete pass), or
one resync of it, to be killed.

MYSQL_REDSHIFT_PIPELINES_DIR  the pipelines folder (pipeline `testpipe`)
MRA_TEST_MYSQL_PASSWORD       the MySQL password, as in production through the environment
MRA_SYNC_TABLE                `<schema>.<table>`
MRA_SYNC_RUN_ID               the run id
MRA_SYNC_MODE                 `sync` (the default) or `resync`
"""

from __future__ import annotations

import os

from mysql_redshift_assets.config.resolve import table_config
from mysql_redshift_assets.maintenance.resync import resync_table
from mysql_redshift_assets.project import load_project
from mysql_redshift_assets.state.lease import LeaseHeld
from mysql_redshift_assets.sync.clients import Clients
from mysql_redshift_assets.sync.table import SyncRun, TableSync

LEASE_HELD = "lease held"


def main() -> None:
    project = load_project()
    table = table_config(project.pipeline("testpipe"), os.environ["MRA_SYNC_TABLE"])
    run_id = os.environ["MRA_SYNC_RUN_ID"]
    try:
        with Clients(project) as clients:
            if os.environ.get("MRA_SYNC_MODE") == "resync":  # it loads, with the delete pass
                source, warehouse = clients.source(table.source), clients.warehouse(table.target)
                resync_table(source, clients.store(table.store), warehouse, table, run_id=run_id)
            else:  # as the assets run it: the extraction, the load, then the delete pass
                TableSync(table, clients, SyncRun(run_id)).run().raise_failure()
    except LeaseHeld as exc:  # a sync and a resync started together: one refuses, as it should
        raise SystemExit(f"{LEASE_HELD}: {exc}") from exc


if __name__ == "__main__":
    main()
