"""Typed YAML configuration (no Dagster import). The project is loaded by `project.load_project`,
which then checks the names `naming.py` derives from it."""

from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.config.loader import Pipeline, Project, default_pipelines_dir
from mysql_redshift_assets.config.resolve import TableConfig, table_config, table_configs

__all__ = [
    "ConfigError",
    "Pipeline",
    "Project",
    "TableConfig",
    "default_pipelines_dir",
    "table_config",
    "table_configs",
]
