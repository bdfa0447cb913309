"""Child process for the crash tests: run one extraction and SIGKILL itself at a chosen point.

Configuration comes from the environment, as in production:
  MYSQL_REDSHIFT_PIPELINES_DIR  the pipelines folder (pipeline `testpipe`)
  MRA_TEST_MYSQL_PASSWORD, AWS_*  secrets and the moto credentials
  MRA_CRASH_TABLE    `<schema>.<table>`
  MRA_CRASH_MODE     none | after_record | after_upload | before_upload | mid_stream
  MRA_CRASH_AT       N: the Nth file recorded / uploaded / about to upload, or the Nth page read
  MRA_CRASH_RUN_ID   the run id
On a clean finish it prints one JSON line: {"rows": ..., "files": ...}.
"""

from __future__ import annotations

import json
import os
import signal
import sys

from mysql_redshift_assets.config.resolve import table_config
from mysql_redshift_assets.connect import open_source, open_store
from mysql_redshift_assets.project import load_project
from mysql_redshift_assets.state.watermark import WatermarkStore
from mysql_redshift_assets.sync.extract import extract_table


def die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    mode = os.environ.get("MRA_CRASH_MODE", "none")
    at = int(os.environ.get("MRA_CRASH_AT", "0"))
    project = load_project()
    table = table_config(project.pipeline("testpipe"), os.environ["MRA_CRASH_TABLE"])
    store = open_store(project, table.store)
    source = open_source(project, table.source)
    count = 0  # of the events of `mode` only

    def on_file(record) -> None:
        nonlocal count
        if mode != "after_record":
            return
        count += 1
        if count == at:
            die()  # the file is uploaded AND recorded in the watermark

    if mode in ("after_upload", "before_upload"):
        real_put_file = store.put_file

        def put_file(local_path, key, upload=None):
            nonlocal count
            count += 1
            if mode == "before_upload" and count == at:
                die()  # written locally, never uploaded
            stored = real_put_file(local_path, key, upload)
            if mode == "after_upload" and count == at:
                die()  # durably stored, not yet recorded in the watermark
            return stored

        store.put_file = put_file  # type: ignore[method-assign]

    if mode == "mid_stream":
        real_stream = source.stream

        def stream(sql, params, fetch_rows):
            nonlocal count
            for rows in real_stream(sql, params, fetch_rows):
                count += 1
                if count == at:
                    die()  # rows read from MySQL, not yet in any file
                yield rows

        source.stream = stream  # type: ignore[method-assign]

    result = extract_table(
        source,
        store,
        WatermarkStore(store),
        table,
        run_id=os.environ.get("MRA_CRASH_RUN_ID", "child"),
        on_file=on_file,
    )
    source.close()
    print(json.dumps({"rows": result.rows, "files": len(result.files)}))


if __name__ == "__main__":
    main()
