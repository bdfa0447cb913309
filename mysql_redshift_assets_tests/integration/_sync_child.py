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
from mysql_redshift_assets.connect import open_source, open_store, open_warehouse
from mysql_redshift_assets.maintenance.resync import resync_table
from mysql_redshift_assets.project import load_project
from mysql_redshift_assets.state.lease import LeaseHeld
from mysql_redshift_assets.state.watermark import WatermarkStore
from mysql_redshift_assets.sync.extract import extract_table
from mysql_redshift_assets.sync.load import load_table

LEASE_HELD = "lease held"


def main() -> None:
    project = load_project()
    table = table_config(project.pipeline("testpipe"), os.environ["MRA_SYNC_TABLE"])
    run_id = os.environ["MRA_SYNC_RUN_ID"]
    store = open_store(project, table.store)
    source = open_source(project, table.source)
    warehouse = open_warehouse(project, table.target)
    try:
        if os.environ.get("MRA_SYNC_MODE") == "resync":  # it loads, with the delete pass
            resync_table(source, store, warehouse, table, run_id=run_id)
        else:
            extract_table(source, store, WatermarkStore(store), table, run_id=run_id)
            # As the warehouse asset runs it: the load, then the delete pass (given the source).
            load_table(warehouse, store, WatermarkStore(store), table, run_id=run_id, source=source)
    except LeaseHeld as exc:  # a sync and a resync started together: one refuses, as it should
        raise SystemExit(f"{LEASE_HELD}: {exc}") from exc
    finally:
        warehouse.close()
        source.close()


if __name__ == "__main__":
    main()
