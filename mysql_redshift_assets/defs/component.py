"""`MysqlRedshiftComponent`: these definitions from a pipelines folder, as a Dagster Component.

For a Dagster project of your own (`dg`), like the sling and dlt integrations:

    dg scaffold defs mysql_redshift_assets.defs.component.MysqlRedshiftComponent mysql_to_redshift

then, in `defs/mysql_to_redshift/defs.yaml`:

    type: mysql_redshift_assets.defs.component.MysqlRedshiftComponent
    attributes:
      pipelines_dir: pipelines          # connections.yml + one YAML a pipeline, beside defs.yaml
      key_prefix: [mysql]               # optional, before every asset key
      pipeline_key_prefixes:            # optional, per pipeline (instead of key_prefix)
        settlement: [finance]

This repository's own code location is such a component (`mysql_redshift_assets/project_defs/`).
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from mysql_redshift_assets.defs.build import build_definitions
from mysql_redshift_assets.defs.translator import MysqlRedshiftTranslator
from mysql_redshift_assets.project import load_project


class MysqlRedshiftComponent(dg.Component, dg.Model, dg.Resolvable):
    """MySQL -> Parquet -> Redshift (or DuckDB / PostgreSQL) assets, jobs, schedules and
    sensors from a folder of YAML pipelines. Loading reads YAML only: nothing connects."""

    pipelines_dir: str | None = Field(
        None,
        description="The pipelines folder, relative to this defs.yaml; default: "
        "$MYSQL_REDSHIFT_PIPELINES_DIR, else the package's own `pipelines/`.",
    )
    key_prefix: list[str] = Field(
        default_factory=list, description="Put before every asset key of every pipeline."
    )
    pipeline_key_prefixes: dict[str, list[str]] = Field(
        default_factory=dict, description="Pipeline name -> the key prefix of its assets."
    )

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        root = (context.path / self.pipelines_dir).resolve() if self.pipelines_dir else None
        return build_definitions(
            load_project(root, keep_going=True),
            translators={
                name: MysqlRedshiftTranslator(tuple(prefix))
                for name, prefix in self.pipeline_key_prefixes.items()
            },
            default_translator=MysqlRedshiftTranslator(tuple(self.key_prefix)),
        )
