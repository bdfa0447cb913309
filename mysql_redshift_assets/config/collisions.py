"""Two tables must never share a name anything is stored under: refused when the project loads.

Two source tables that end as one warehouse table (`Orders` and `orders`, `a-b` and `a_b`, one
table in two pipelines with one target and schema) would overwrite or wipe each other's rows;
two that end as one asset key or op name would stop Dagster from loading. Checked when the
pipelines folder is read, so the CLI and Dagster refuse alike, before anything runs. Like any
other error in a pipeline file, a collision breaks the pipelines it involves (both, when the two
tables are in two files) and no other: `load_project` lists them in `Project.broken`.
"""

from __future__ import annotations

from collections.abc import Iterable

from mysql_redshift_assets.config.loader import Pipeline
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
