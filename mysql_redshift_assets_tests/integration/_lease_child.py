"""Child process of the lease tests: hold a table's lease, or extract the table and stop itself.

MYSQL_REDSHIFT_PIPELINES_DIR      the pipelines folder (pipeline `testpipe`)
MYSQL_REDSHIFT_LEASE_TTL_SECONDS  the lease's lifetime (a few seconds in the tests)
MRA_LEASE_TABLE                   `<schema>.<table>`
MRA_LEASE_MODE                    `hold`: take the lease, print `held`, sleep until killed;
                                  `stop`: extract the table, SIGSTOP itself after its first
                                  file is recorded, and go on when continued
MRA_LEASE_RUN_ID                  the run id
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

from mysql_redshift_assets.config.resolve import table_config
from mysql_redshift_assets.connect import open_source, open_store
from mysql_redshift_assets.project import load_project
from mysql_redshift_assets.state.lease import table_lease
from mysql_redshift_assets.state.watermark import WatermarkStore
from mysql_redshift_assets.sync.extract import extract_table


def main() -> None:
    project = load_project()
    table = table_config(project.pipeline("testpipe"), os.environ["MRA_LEASE_TABLE"])
    store = open_store(project, table.store)
    run_id = os.environ["MRA_LEASE_RUN_ID"]
    if os.environ["MRA_LEASE_MODE"] == "hold":
        with table_lease(store, table, run_id):
            print("held", flush=True)
            time.sleep(3600)
        return
    source = open_source(project, table.source)
    stopped = False

    def on_file(record) -> None:
        nonlocal stopped
        if not stopped:
            stopped = True
            print("stopping", flush=True)
            os.kill(os.getpid(), signal.SIGSTOP)  # the first file is stored and recorded
            print("continued", flush=True)

    result = extract_table(
        source, store, WatermarkStore(store), table, run_id=run_id, on_file=on_file
    )
    source.close()
    print(json.dumps({"rows": result.rows, "files": len(result.files)}), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
