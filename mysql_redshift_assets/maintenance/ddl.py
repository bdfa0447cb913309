"""`ddl`: the target DDL the planner would create, and what a load would ALTER on an existing table.

Nothing is run: the statements are built from MySQL's catalog now (the same `plan_table` an
extraction uses, under the names the watermark recorded) and the warehouse's own column types and
table options, so users can review widths, DISTKEY/SORTKEY and renames before the first load.
A text column whose existing width is narrower than planned (a table created before widths were
counted in UTF-8 bytes) is listed as the ALTER that widens it; Redshift widens a VARCHAR in place
(https://docs.aws.amazon.com/redshift/latest/dg/r_ALTER_TABLE.html, ALTER COLUMN ... TYPE).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mysql_redshift_assets.config.resolve import TableConfig
from mysql_redshift_assets.extract.plan import plan_table
from mysql_redshift_assets.extract.source import Source
from mysql_redshift_assets.identifiers import quote_ident
from mysql_redshift_assets.load.alter import target_column_ddl
from mysql_redshift_assets.load.base import Warehouse
from mysql_redshift_assets.load.request import LoadRequest
from mysql_redshift_assets.state.watermark import Watermark, WatermarkStore
from mysql_redshift_assets.store.parquet import FileColumn
from mysql_redshift_assets.sync.load import physical_keys

_VARCHAR = re.compile(r"^VARCHAR\((\d+)\)$", re.IGNORECASE)


@dataclass
class TableDdl:
    table: str
    target: str
    exists: bool
    statements: list[str] = field(default_factory=list)
    renames: dict[str, str] = field(default_factory=dict)  # MySQL name -> warehouse name
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return self.__dict__.copy()


def table_ddl(
    source: Source, warehouse: Warehouse, watermarks: WatermarkStore, table: TableConfig
) -> TableDdl:
    watermark = watermarks.load(table) or Watermark(table=table.qualified, mode=table.mode)
    plan = plan_table(source, table, watermark.columns)
    truncate = table.text_overflow == "truncate"
    columns = [FileColumn.from_planned(c, truncate_text=truncate) for c in plan.columns]
    names = plan.column_map
    keyed = Watermark(table=table.qualified, mode=table.mode, columns=names)
    distkey, sortkey, warnings = physical_keys(table, keyed)
    request = LoadRequest(
        table=table,
        primary_key=[names[k] for k in plan.primary_key],
        cursor=names.get(plan.cursor) if plan.cursor else None,
        candidates=[],
        run_id="ddl",
        distkey=distkey,
        sortkey=sortkey,
        watermark=watermark,
    )
    schema, name = request.target_schema, request.target_table
    target = warehouse.ref(schema, name)
    existing = warehouse.table_columns(schema, name)
    ddl = TableDdl(table.qualified, target, bool(existing), warnings=warnings)
    ddl.renames = {s: w for s, w in names.items() if s != w}
    if not existing:
        body = ", ".join(target_column_ddl(warehouse, c, request) for c in columns)
        options = warehouse.target_table_options(request)
        ddl.statements.append(f"CREATE TABLE IF NOT EXISTS {target} ({body}){options}")
        return ddl
    for col in columns:
        if col.name not in existing:
            ddl.statements.append(
                f"ALTER TABLE {target} ADD COLUMN {quote_ident(col.name)} "
                f"{warehouse.column_type(col)}"
            )
    ddl.statements += _widenings(warehouse, schema, name, target, columns)
    return ddl


def _widenings(
    warehouse: Warehouse, schema: str, name: str, target: str, columns: list[FileColumn]
) -> list[str]:
    widths = dict(
        warehouse.fetchall(
            "SELECT column_name, character_maximum_length FROM information_schema.columns "
            f"WHERE table_schema = {warehouse.ph} AND table_name = {warehouse.ph}",
            (schema, name),
        )
    )
    statements = []
    for col in columns:
        match = _VARCHAR.match(warehouse.column_type(col))
        now = widths.get(col.name)
        if match and now is not None and now < int(match.group(1)):
            statements.append(
                f"ALTER TABLE {target} ALTER COLUMN {quote_ident(col.name)} "
                f"TYPE VARCHAR({match.group(1)})"
            )
    return statements
