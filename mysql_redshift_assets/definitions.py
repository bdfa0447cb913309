"""The code location: `dagster dev` and `dagster asset materialize -m mysql_redshift_assets.definitions`.

Definitions are built inside a function, so importing this module reads no environment and
opens no connection; Dagster calls `defs()` when it loads the location.
"""

from __future__ import annotations

import logging
import os

import dagster as dg

from mysql_redshift_assets.config.loader import load_project
from mysql_redshift_assets.defs.build import build_definitions


@dg.definitions
def defs() -> dg.Definitions:
    if not os.environ.get("DAGSTER_HOME"):
        logging.getLogger(__name__).warning(
            "DAGSTER_HOME is not set: runs of this process are not kept (run `make dev` / "
            "`make demo` once: it writes DAGSTER_HOME=<project>/.local/dagster_home to .env, "
            "which `dagster` commands run in the project folder read)"
        )
    # A broken pipeline file shows red in the UI; the other pipelines load (issue 18).
    return build_definitions(load_project(keep_going=True))
