"""Child process of the binlog crash test: one extraction of a `capture: binlog` table (the
stream into change files), SIGKILLed by itself right after its Nth change file is recorded in
the watermark (stored, then recorded: `sync/binlog.py` `_Table._record`).

MYSQL_REDSHIFT_PIPELINES_DIR  the pipelines folder (pipeline `testpipe`)
MRA_TEST_MYSQL_PASSWORD       the MySQL password, as in production through the environment
MRA_CRASH_TABLE               `<schema>.<table>`
MRA_CRASH_AT                  N: die after the Nth file recorded
MRA_CRASH_RUN_ID              the run id
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterable

from mysql_redshift_assets.config.resolve import table_config
from mysql_redshift_assets.project import load_project
from mysql_redshift_assets.state.watermark import FileRecord
from mysql_redshift_assets.sync import binlog
from mysql_redshift_assets.sync.clients import Clients
from mysql_redshift_assets.sync.table import SyncRun, TableSync


def main() -> None:
    at = int(os.environ["MRA_CRASH_AT"])
    recorded = 0
    real_record = binlog._Table._record

    def record(self: binlog._Table, records: Iterable[FileRecord]) -> None:
        nonlocal recorded
        for one in records:
            real_record(self, [one])  # stored, then recorded in the watermark
            recorded += 1
            if recorded == at:
                sys.stdout.flush()
                os.kill(os.getpid(), signal.SIGKILL)

    binlog._Table._record = record  # type: ignore[method-assign]
    project = load_project()
    table = table_config(project.pipeline("testpipe"), os.environ["MRA_CRASH_TABLE"])
    with Clients(project) as clients:
        TableSync(table, clients, SyncRun(os.environ["MRA_CRASH_RUN_ID"])).extract()
    print("finished without the crash")


if __name__ == "__main__":
    main()
