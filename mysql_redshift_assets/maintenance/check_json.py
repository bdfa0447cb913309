"""`check-target`'s `json` probe (`json: super`): the warehouse parses a JSON document staged as
text into its JSON type (SUPER on Redshift: JSON_PARSE,
https://docs.aws.amazon.com/redshift/latest/dg/JSON_PARSE.html) as the merge does
(`Warehouse.staging_type`, `select_parsed`), the value is an object (not a SUPER string, which a
COPY of the text into SUPER would give), and its text read back is the same document.

Temporary tables in one transaction, rolled back: nothing is left.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from mysql_redshift_assets.load.base import Warehouse
from mysql_redshift_assets.maintenance.check_common import CheckFailed, Status
from mysql_redshift_assets.store.parquet import FileColumn
from mysql_redshift_assets.targets import dialect_of

# Nested, unicode (BMP and beyond), escapes, an integer a double would round (2**53 + 1), a
# decimal, a boolean, null, an empty object and array.
DOCUMENT = (
    '{"a": {"b": [1, 2, {"c": "\\u00e9t\\u00e9 \\ud83d\\ude00 \\"q\\""}]}, '
    '"n": 9007199254740993, "d": 12.25, "t": true, "z": null, "e": {}, "l": []}'
)


def parsed(text: str) -> Any:
    """A JSON text as Python values, numbers exact (Decimal), key order aside (dicts)."""
    return json.loads(text, parse_float=Decimal)


def json_probe(warehouse: Warehouse, wanted: bool) -> tuple[Status, str]:
    if not wanted:
        return "SKIP", "no table of this pipeline has `json: super`"
    dialect = dialect_of(warehouse.dialect)
    col = FileColumn("doc", "doc", "json", "SUPER", "JSON", "JSONB")
    warehouse.begin()
    try:
        warehouse.execute(
            f'CREATE TEMP TABLE "mra_json_text" ("doc" {warehouse.staging_type(col)})'
        )
        warehouse.execute(f'CREATE TEMP TABLE "mra_json" ("doc" {warehouse.column_type(col)})')
        warehouse.execute(f'INSERT INTO "mra_json_text" VALUES ({warehouse.ph})', (DOCUMENT,))
        warehouse.execute(
            f'INSERT INTO "mra_json" SELECT {warehouse.select_parsed(["doc"], ["doc"])} '
            'FROM "mra_json_text"'
        )
        kind, text = warehouse.fetchall(
            f"SELECT {dialect.json_typeof_sql.format('doc')}, "
            f'{dialect.json_text_sql.format("doc")} FROM "mra_json"'
        )[0]
    finally:
        warehouse.rollback()
    if str(kind).lower() != "object":
        raise CheckFailed(
            f"the parsed document is a JSON {kind}, not an object: the merge would store "
            "strings; set `json: varchar`"
        )
    if parsed(str(text)) != parsed(DOCUMENT):
        raise CheckFailed(f"the document read back differs: {text} (sent {DOCUMENT})")
    return "OK", (
        f"a nested document (unicode, 2**53+1, 12.25) parsed into {warehouse.column_type(col)} "
        "and read back the same document"
    )
