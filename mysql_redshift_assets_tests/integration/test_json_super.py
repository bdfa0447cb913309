"""`json: super` end to end on MariaDB, on DuckDB (its JSON type) and the PostgreSQL stand-in
(JSONB): MariaDB's JSON column (LONGTEXT + `json_valid` CHECK) is recognised, its documents
are parsed in the merge and equal MySQL's as documents, row by row; a document SUPER would not
take stops the extraction naming the row's key before anything is written; a switch of `json:`
on a loaded table is refused with the resync command; binlog capture carries the same."""

from __future__ import annotations

import json

import pytest

from mysql_redshift_assets.connect import open_source, open_store, open_warehouse
from mysql_redshift_assets.extract.catalog import read_source_columns
from mysql_redshift_assets.maintenance.resync import resync_table
from mysql_redshift_assets.naming import table_base, target_table
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows

pytestmark = pytest.mark.mariadb

COLUMNS, KEY = ["id", "doc", "note", "updated_at"], ["id"]
TABLE = (
    "CREATE TABLE j (id INT PRIMARY KEY, doc JSON, note LONGTEXT, "
    "updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6))"
)
# Nested, unicode (BMP and astral, and escaped), numbers a double cannot hold (40 digits, 2**63,
# 2**53 + 1, a long fraction), scalars, empty containers, a big array, strings holding brackets.
DOCUMENTS = [
    '{"a": {"b": [1, 2, {"c": "été 😀", "d": "\\u00e9\\ud83d\\ude00 \\"q\\" \\\\"}]}, "z": null}',
    '{"big": 1234567890123456789012345678901234567890, "i64": 9223372036854775808, '
    '"dbl": 9007199254740993, "frac": 0.1234567890123456789012345678901, "exp": 1.5e300}',
    "[" + ", ".join(str(i) for i in range(5_000)) + "]",
    '"just a string [with] {brackets}"',
    "12.50",
    "true",
    "{}",
    "[]",
    '{"s": "]]]}}}", "k": [[[[[[[[[[["deep"]]]]]]]]]]]}',
    None,
]


def _table(mysql) -> None:
    with mysql.cursor() as cur:
        cur.execute(TABLE)
        cur.executemany(
            "INSERT INTO j (id, doc, note) VALUES (%s, %s, %s)",
            [(i + 1, d, f"n{i}") for i, d in enumerate(DOCUMENTS)],
        )


def _sync(make_project, mysql_db, request, target, **spec) -> Sync:
    schema = request.getfixturevalue("pg_schema") if target == "postgres" else "public"
    table = {"cursor": "updated_at", "json": "super", **spec}
    return Sync.of(make_project, mysql_db, "j", table, target=target, target_schema=schema)


def _typeof(sync: Sync, *, kinds: bool = True) -> list:
    """[warehouse type of `doc`, then (`kinds`) its JSON type per row] as the warehouse says."""
    warehouse = open_warehouse(sync.project, sync.table.target)
    try:
        schema, name = target_table(sync.table)
        types = warehouse.fetchall(
            "SELECT data_type FROM information_schema.columns WHERE table_schema = "
            f"{warehouse.ph} AND table_name = {warehouse.ph} AND column_name = 'doc'",
            (schema, name),
        )
        typeof = "jsonb_typeof" if warehouse.dialect == "postgres" else "json_type"
        sql = f'SELECT {typeof}("doc") FROM {warehouse.ref(schema, name)} ORDER BY "id"'
        rows = warehouse.fetchall(sql) if kinds else []
        warehouse.commit()
        return [types[0][0].lower(), *[None if k[0] is None else k[0].lower() for k in rows]]
    finally:
        warehouse.close()


def test_mariadb_json_is_recognised_by_its_json_valid_check(mysql, mysql_db) -> None:
    with mysql.cursor() as cur:
        cur.execute(TABLE)
        cur.execute(
            "CREATE TABLE k (id INT PRIMARY KEY, t LONGTEXT CHECK (json_valid(t) OR t = ''), "
            "`we``ird` JSON)"
        )
        columns = {c.name: c for c in read_source_columns(cur, mysql_db, "j")}
        others = {c.name: c for c in read_source_columns(cur, mysql_db, "k")}
    assert columns["doc"].data_type == "longtext" and columns["doc"].json
    assert not columns["note"].json  # a LONGTEXT without the CHECK
    assert not others["t"].json and others["we`ird"].json  # another CHECK; a quoted name


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_documents_arrive_parsed_and_equal_as_documents(
    mysql, mysql_db, make_project, request, target
) -> None:
    _table(mysql)
    sync = _sync(make_project, mysql_db, request, target)
    sync.run("run-1")
    assert_same_rows(mysql, sync, COLUMNS, KEY, json_columns=["doc"])
    kinds = _typeof(sync)
    assert kinds[0] == ("jsonb" if target == "postgres" else "json")
    assert kinds[1:4] == ["object", "object", "array"] and kinds[-1] is None, kinds
    # Every digit kept: jsonb's numbers are NUMERIC, DuckDB's JSON keeps the text.
    got = {r[0]: r[1] for r in sync.warehouse_rows(["id", "doc"], ["id"])}
    text = got[2] if isinstance(got[2], str) else json.dumps(got[2])
    assert "1234567890123456789012345678901234567890" in text
    assert "0.1234567890123456789012345678901" in text
    with mysql.cursor() as cur:
        cur.execute(
            "UPDATE j SET doc = JSON_SET(doc, '$.a.new', JSON_ARRAY('ü', 2.5)) WHERE id = 1"
        )
        cur.execute("""UPDATE j SET doc = '{"x": [1, {"y": "\\\\n"}]}' WHERE id = 10""")
        cur.execute("""INSERT INTO j (id, doc) VALUES (11, '{"k": "v"}')""")
    sync.run("run-2")
    assert_same_rows(mysql, sync, COLUMNS, KEY, json_columns=["doc"])


def _store_keys(sync: Sync) -> list[str]:
    store = open_store(sync.project, sync.table.store)
    return [o.key for o in store.list(table_base(sync.table)) if o.key.endswith(".parquet")]


@pytest.mark.parametrize(
    ("doc", "why"),
    [
        ('{"pad": "' + "x" * 70_000 + '"}', "over the 65,535 JSON_PARSE takes"),
        ('{"a": {"b": 1, "b": 2}}', "the key 'b' appears twice in one object"),
    ],
    ids=["size", "duplicate-key"],  # MariaDB's json_valid refuses depth > 32 (unit-tested)
)
@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_a_document_super_would_not_take_stops_the_extraction_naming_its_key(
    mysql, mysql_db, make_project, request, target, doc, why
) -> None:
    _table(mysql)
    sync = _sync(make_project, mysql_db, request, target)
    with mysql.cursor() as cur:
        cur.execute("INSERT INTO j (id, doc) VALUES (%s, %s)", (7007, doc))
    with pytest.raises(Exception, match="key id=7007") as refused:
        sync.extract("run-1")
    assert why in str(refused.value) and "json: varchar" in str(refused.value)
    assert _store_keys(sync) == []  # nothing was written: no file, no table
    assert sync.warehouse_rows(["id"], ["id"]) == []
    with mysql.cursor() as cur:  # fixed in MySQL: the next run reads it again, exact
        cur.execute("""UPDATE j SET doc = '{"fixed": true}' WHERE id = 7007""")
    sync.run("run-2")
    assert_same_rows(mysql, sync, COLUMNS, KEY, json_columns=["doc"])


def test_switching_json_on_a_loaded_table_is_refused_with_the_resync_command(
    mysql, mysql_db, make_project, request
) -> None:
    _table(mysql)
    before = _sync(make_project, mysql_db, request, "postgres", json="varchar")
    before.run("run-1")
    assert _typeof(before, kinds=False) == ["character varying"]
    after = _sync(make_project, mysql_db, request, "postgres")
    with mysql.cursor() as cur:
        cur.execute("UPDATE j SET note = 'changed' WHERE id = 1")
    after.extract("run-2")
    with pytest.raises(Exception, match=r"mysql-redshift resync -p testpipe -t ") as refused:
        after.load("run-2")
    assert "doc" in str(refused.value)
    assert [r[0] for r in after.warehouse_rows(["note"], ["id"])][0] == "n0"  # untouched
    store, source = open_store(after.project, "local"), open_source(after.project, "mysql")
    warehouse = open_warehouse(after.project, after.table.target)
    try:  # the command it names rebuilds the table parsed (the swap parses too)
        resync_table(source, store, warehouse, after.table, run_id="resync-1")
    finally:
        warehouse.close()
        source.close()
    assert _typeof(after)[:2] == ["jsonb", "object"]
    assert_same_rows(mysql, after, COLUMNS, KEY, json_columns=["doc"])
