"""The project: the pipelines folder read (`config/`), then every derived name checked.

`load_project` is the one way in for the CLI, Dagster and the demo. It sits above `naming.py`
because the names are derived from the loaded configuration: `config/` knows nothing of them.

Two tables must never share a name anything is stored under. Two source tables that end as one
warehouse table (`Orders` and `orders`, `a-b` and `a_b`, one table in two pipelines with one
target and schema) would overwrite or wipe each other's rows; two that end as one asset key or
op name would stop Dagster from loading. Checked when the pipelines folder is read, so the CLI
and Dagster refuse alike, before anything runs. Like any other error in a pipeline file, a
collision breaks the pipelines it involves (both, when the two tables are in two files) and no
other: `load_project` lists them in `Project.broken`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.config.loader import (
    CONNECTIONS_FILE,
    Pipeline,
    Project,
    load_pipeline,
    parse_connections,
    pipeline_files,
    project_root,
)
from mysql_redshift_assets.config.resolve import TableConfig, table_configs
from mysql_redshift_assets.identifiers import IdentifierError
from mysql_redshift_assets.naming import (
    asset_path,
    dynamic_partitions_name,
    table_job_name,
    target_table,
)

_WAREHOUSE = "warehouse table"
_WAREHOUSE_KEY = "warehouse asset key"  # `<target_schema>/<table>`, in whichever target
# Why a shared name is refused, and how a user makes the two names differ.
_SHARED_WAREHOUSE_TABLE = (
    "their rows would overwrite or wipe each other; give one of them `target_table:` "
    "(or `target_schema:`)"
)
_SHARED_DAGSTER_NAME = (
    "Dagster cannot load two of them; move one table to a pipeline of its own (another file)"
)


def _names(table: TableConfig) -> list[tuple[str, str]]:
    """(kind, name) of every name a table's data or runs are stored under."""
    schema, name = target_table(table)
    names = [
        # The target connection, not its database: two connections to one warehouse are not seen.
        (_WAREHOUSE, f"target {table.target!r}: {schema}.{name}"),
        ("asset key", "/".join(asset_path(table, "parquet"))),
        (_WAREHOUSE_KEY, "/".join(asset_path(table, "redshift"))),
        ("Dagster job name", table_job_name(table)),
    ]
    if table.mode == "id_range":
        names.append(("id-range partitions name", dynamic_partitions_name(table)))
    return names


def _describe(table: TableConfig) -> str:
    return f"table {table.qualified} ({table.config_file})"


def _why(kind: str) -> str:
    """Why a shared name is refused, and how a user makes the two names differ."""
    return {
        _WAREHOUSE: _SHARED_WAREHOUSE_TABLE,
        _WAREHOUSE_KEY: "Dagster cannot load two assets under one key; give one of "
        "them `target_table:` (or `target_schema:`)",
    }.get(kind, _SHARED_DAGSTER_NAME)


def name_collisions(pipelines: Iterable[Pipeline]) -> dict[str, list[str]]:
    """Pipeline -> the errors of its tables' names: each pair of tables that share a derived
    name (naming both tables, both files and the fix, given to the pipeline of each), and a
    name that cannot be an identifier. Empty when every name is unique."""
    owner: dict[tuple[str, str], TableConfig] = {}
    errors: dict[str, list[str]] = {}

    def add(pipeline: str, message: str) -> None:
        if message not in errors.setdefault(pipeline, []):
            errors[pipeline].append(message)

    for pipeline in pipelines:
        for table in table_configs(pipeline):
            try:
                names = _names(table)
            except IdentifierError as exc:
                add(table.pipeline, table.error("target_table", str(exc)))
                continue
            for kind, name in names:
                first = owner.setdefault((kind, name), table)
                if first is table:
                    continue
                message = (
                    f"{_describe(first)} and {_describe(table)} both become {kind} {name}: "
                    f"{_why(kind)}"
                )
                for involved in dict.fromkeys([first.pipeline, table.pipeline]):
                    add(involved, message)
    return errors


def load_project(root: Path | str | None = None, *, keep_going: bool = False) -> Project:
    """Read a pipelines folder.

    A pipeline file with errors raises ConfigError naming every broken file and all of its
    errors; with `keep_going` (the CLI, the Dagster code location) the healthy pipelines load
    and the broken files are listed in `Project.broken`. Two tables that would share a
    warehouse table, asset key or Dagster name (`name_collisions`) are errors of the
    pipelines holding them, and of no other. connections.yml broken is always an error: no
    pipeline can run without it.
    """
    root = project_root(root)
    connections, deferred = parse_connections(root / CONNECTIONS_FILE)
    pipelines: dict[str, Pipeline] = {}
    broken: dict[str, str] = {}
    for path in pipeline_files(root):
        try:
            pipeline = load_pipeline(path, connections, root)
            # Each table's effective settings (partitions, names): an error there is this file's.
            table_configs(pipeline)
            pipelines[path.stem] = pipeline
        except ConfigError as exc:
            broken[path.stem] = str(exc)
    for name, errors in name_collisions(pipelines.values()).items():
        del pipelines[name]
        broken[name] = "\n".join(errors)
    if broken and not keep_going:
        raise ConfigError("\n".join(broken[name] for name in sorted(broken)))
    return Project(
        root, connections, pipelines, broken=dict(sorted(broken.items())), deferred=deferred
    )
