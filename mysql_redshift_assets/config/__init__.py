"""Typed YAML configuration (no Dagster import)."""

from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.config.loader import (
    Pipeline,
    Project,
    default_pipelines_dir,
    load_project,
)
from mysql_redshift_assets.config.resolve import TableConfig, table_config, table_configs

__all__ = [
    "ConfigError",
    "Pipeline",
    "Project",
    "TableConfig",
    "default_pipelines_dir",
    "load_project",
    "table_config",
    "table_configs",
]
