"""The code location: `dg dev` / `dagster dev`, `dg launch`, `dagster asset materialize -m
mysql_redshift_assets.definitions`.

The definitions come from the defs folder `project_defs/`, whose one component
(`MysqlRedshiftComponent`, defs/component.py) reads the pipelines folder. Built inside a
function, so importing this module reads no environment and opens no connection; Dagster calls
`defs()` when it loads the location.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import dagster as dg

from mysql_redshift_assets.defs.build import build_definitions
from mysql_redshift_assets.project import load_project

REPO = Path(__file__).resolve().parents[1]


@dg.definitions
def defs() -> dg.Definitions:
    if not os.environ.get("DAGSTER_HOME"):
        logging.getLogger(__name__).warning(
            "DAGSTER_HOME is not set: runs of this process are not kept (run `make dev` / "
            "`make demo` once: it writes DAGSTER_HOME=<project>/.local/dagster_home to .env, "
            "which `dagster` commands run in the project folder read)"
        )
    if (REPO / "pyproject.toml").is_file():  # a checkout, or an editable install
        return dg.load_from_defs_folder(path_within_project=REPO)
    # Installed from a wheel (no pyproject.toml beside it): what the component's defs.yaml,
    # whose attributes are all defaults, builds.
    return build_definitions(load_project(keep_going=True))
