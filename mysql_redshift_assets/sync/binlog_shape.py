"""What changes a binlog table's shape in the stream (`sync/binlog.py` stops the table there):
a statement naming it, or a row image whose columns are not the table's."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pyarrow as pa

from mysql_redshift_assets.extract import TablePlan
from mysql_redshift_assets.state.watermark import Watermark

_DDL = re.compile(r"^\s*(alter|drop|rename|truncate|create)\b", re.IGNORECASE)
_COMMENT = re.compile(r"/\*.*?\*/|--[^\n]*|#[^\n]*", re.DOTALL)


def names_table(ddl: str, schema: str, table: str) -> bool:
    """Whether `ddl` may change `schema.table` (conservative: the table's name as a token of a
    table statement; an index of its own (`CREATE INDEX`) changes no row)."""
    text = _COMMENT.sub(" ", ddl).lower()
    if not _DDL.match(text) or re.match(r"\s*(create|drop)\s+(unique\s+)?index\b", text):
        return False
    plain = text.replace("`", "").replace('"', "")
    if re.match(r"\s*drop\s+(database|schema)\b", plain):  # its tables go, no row event
        return _token(plain, schema)
    # `TRUNCATE t` needs no TABLE keyword (and writes no row event either).
    if not re.match(r"\s*truncate\b", plain) and not re.search(r"\btables?\b", plain):
        return False
    return _token(plain, table)


def _token(text: str, name: str) -> bool:
    return re.search(rf"(^|[\s,.(]){re.escape(name.lower())}($|[\s,;(.])", text) is not None


def loaded_shape(plan: TablePlan, watermark: Watermark) -> TablePlan:
    """Columns added since the table was copied: the images before the ALTER have the loaded
    columns only, so they are read as those (the ALTER then stops the table, `names_table`);
    a column dropped since cannot be typed any more: its images stop the table at once."""
    loaded = set(watermark.columns)
    current = {c.source.name for c in plan.columns}
    if not loaded or not loaded < current:
        return plan
    kept = [i for i, c in enumerate(plan.columns) if c.source.name in loaded]
    return dataclasses.replace(
        plan,
        columns=[plan.columns[i] for i in kept],
        arrow_schema=pa.schema([plan.arrow_schema.field(i) for i in kept]),
    )


def image_shape(image: dict[str, Any], columns: set[str]) -> str:
    extra, missing = sorted(set(image) - columns), sorted(columns - set(image))
    parts = [f"columns {', '.join(extra)} are not in the table now"] if extra else []
    parts += [f"the table now has {', '.join(missing)}, which the row lacks"] if missing else []
    return "a row image does not match the table's columns: " + "; ".join(parts)
