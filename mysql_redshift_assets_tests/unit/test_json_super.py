"""`json: super`: the Redshift SQL as exact text (JSON_PARSE in the merge, the staging column a
VARCHAR JSON_PARSE takes), SUPER's limits checked as files are written, the planner's types,
the config's resolution and the reconciliation's exclusion. No server needed."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from mysql_redshift_assets.extract.schema_types import SourceColumn, plan_column
from mysql_redshift_assets.load.exactly_once import Staged
from mysql_redshift_assets.load.request import LoadRequest
from mysql_redshift_assets.reconcile.canonical import canonical
from mysql_redshift_assets.state.watermark import FileRecord
from mysql_redshift_assets.store.json_limits import (
    MAX_DEPTH,
    MAX_DOCUMENT_BYTES,
    JsonRefused,
    depth,
    refusal,
)
from mysql_redshift_assets.store.parquet import FileColumn, ParquetFileWriter, read_footer
from mysql_redshift_assets.targets import REDSHIFT_MAX_VARCHAR
from mysql_redshift_assets_tests.unit.test_redshift_sql import (
    IAM_ROLE,
    RecordingConnection,
    S3LikeStore,
    make_table,
    warehouse_over,
)

DOC = FileColumn("doc", "doc", "longtext", "SUPER", "JSON", "JSONB")  # MariaDB's JSON
ID = FileColumn("id", "id", "int", "BIGINT", "BIGINT", "BIGINT")
SCHEMA = pa.schema([("id", pa.int64()), ("doc", pa.string())])
TARGET = '"analytics"."orders"'


def _file(store: S3LikeStore, tmp_path: Path, docs: list[str | None]) -> FileRecord:
    path = tmp_path / "0.parquet"
    writer = ParquetFileWriter(path, SCHEMA, [ID, DOC], key=["id"], where="shop.orders")
    writer.write(pa.record_batch([pa.array(range(1, len(docs) + 1)), pa.array(docs)], SCHEMA))
    writer.close()
    key = "pipe/shop/orders/incremental/0000000000.parquet"
    stored = store.put_file(path, key)
    footer = read_footer(path)
    return FileRecord(key=key, rows=footer.rows, bytes=stored.size, fingerprint=footer.fingerprint,
                      run_id="r", written_at=datetime.now(UTC))  # fmt: skip


def test_redshift_stages_the_text_and_parses_it_with_json_parse_in_the_merge(
    tmp_path: Path,
) -> None:
    """https://docs.aws.amazon.com/redshift/latest/dg/JSON_PARSE.html: JSON_PARSE(json_string),
    "an expression that returns serialized JSON as a VARBYTE or VARCHAR type", returns SUPER; a
    VARCHAR holds at most 65,535 bytes (r_Character_types.html)."""
    store = S3LikeStore(tmp_path / "store")
    record = _file(store, tmp_path, ['{"a": [1, {"b": "é"}]}', None])
    table = make_table(tmp_path, json="super")
    assert table.json == "super"
    request = LoadRequest(table=table, primary_key=["id"], cursor=None, candidates=[record],
                          run_id="run-7")  # fmt: skip
    conn = RecordingConnection(copy_count=2)
    result = warehouse_over(conn, iam_role=IAM_ROLE).load(request, store)
    assert result.rows_loaded == 2
    statements = [sql for sql, _ in conn.normalized()]
    assert (
        f'CREATE TABLE IF NOT EXISTS {TARGET} ("id" BIGINT NOT NULL, "doc" SUPER) '
        "DISTSTYLE AUTO SORTKEY AUTO"
    ) in statements
    staging = (
        f'CREATE TEMP TABLE "mra_staging_T_0" ("id" BIGINT, "doc" VARCHAR({REDSHIFT_MAX_VARCHAR}))'
    )
    assert staging in statements and REDSHIFT_MAX_VARCHAR == 65_535
    assert (
        f'INSERT INTO {TARGET} ("id", "doc") SELECT "id", JSON_PARSE("doc") FROM (SELECT "id", '
        '"doc", ROW_NUMBER() OVER (PARTITION BY "id" ORDER BY "id" DESC) AS "mra_rank" '
        'FROM "mra_staging_T_0") AS "latest" WHERE "mra_rank" = 1'
    ) in statements
    # Nothing else reads the staged text into the target unparsed.
    assert not any('SELECT "id", "doc" FROM' in s for s in statements)


def test_full_loads_and_binlog_changes_parse_too(tmp_path: Path) -> None:
    table = make_table(tmp_path, json="super")
    conn = RecordingConnection()
    warehouse = warehouse_over(conn)
    full = LoadRequest(table=dataclasses.replace(table, mode="full"), primary_key=["id"],
                       cursor=None, candidates=[], run_id="r")  # fmt: skip
    warehouse._merge(full, '"s"', ["id", "doc"], json=("doc",))
    changes = LoadRequest(table=table, primary_key=["id"], cursor=None, candidates=[], run_id="r")
    warehouse._apply_changes(changes, Staged('"s"', ["id", "doc"], True, True, ("doc",)))
    assert conn.log[0] == (
        f'INSERT INTO {TARGET} ("id", "doc") SELECT "id", JSON_PARSE("doc") FROM "s"',
        None,
    )
    assert conn.log[-1][0].startswith(
        f'INSERT INTO {TARGET} ("id", "doc") SELECT "id", JSON_PARSE("doc") FROM (SELECT "id", '
        '"doc", "mra$deleted", ROW_NUMBER()'
    )


# -- SUPER's limits (https://docs.aws.amazon.com/redshift/latest/dg/limitations-super.html) ---
def test_documents_within_the_limits_pass() -> None:
    assert refusal('{"a": [1, 2, {"b": "]]]}}}"}]}') is None
    assert refusal("[" * MAX_DEPTH + "]" * MAX_DEPTH) is None
    assert refusal('"' + "x" * (MAX_DOCUMENT_BYTES - 2) + '"') is None
    assert refusal('{"a": {"b": 1}, "b": {"b": 2}}') is None  # a key repeated in another object


def test_documents_over_a_limit_are_refused_with_the_reason() -> None:
    assert MAX_DOCUMENT_BYTES == 65_535 and MAX_DEPTH == 1_000
    assert "over the 65,535" in (refusal('"' + "é" * 32_767 + '"') or "")  # 65,536 bytes
    assert depth('{"s": "[[[[", "a": [[1]]}') == 3  # strings' brackets do not count
    assert (
        refusal("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
        == "nested 1001 deep, over SUPER's 1,000"
    )
    assert refusal('{"a": 1, "a": 2}') == "the key 'a' appears twice in one object"
    assert refusal('[{"x": {"k": 1, "k": 1}}]') == "the key 'k' appears twice in one object"
    assert refusal('{"a": 1, "a": 2}', duplicates=False) is None  # MySQL's binary JSON


def test_the_writer_refuses_naming_the_rows_key_and_writes_nothing(tmp_path: Path) -> None:
    store = S3LikeStore(tmp_path / "store")
    with pytest.raises(JsonRefused, match=r"shop.orders: column 'doc' of the row with key id=2 "):
        _file(store, tmp_path, ['{"ok": 1}', '{"a": 1, "a": 2}'])
    assert list(store.list("pipe")) == []


def test_mariadb_json_plans_as_json_and_super_only_when_asked() -> None:
    longtext = SourceColumn("doc", "longtext", "longtext", True, 4_294_967_295, None, None, None,
                            1, "utf8mb4", "utf8mb4_bin", json=True)  # fmt: skip
    mysql = dataclasses.replace(longtext, data_type="json", column_type="json", json=False)
    for col in (longtext, mysql):
        text = plan_column(col, "doc")
        assert (text.redshift_type, text.postgres_type, text.duckdb_type) == (
            "VARCHAR(65535)", "VARCHAR(65535)", "VARCHAR")  # fmt: skip
        parsed = plan_column(col, "doc", json_super=True)
        assert (parsed.redshift_type, parsed.postgres_type, parsed.duckdb_type) == (
            "SUPER", "JSONB", "JSON")  # fmt: skip
        assert canonical(parsed).excluded and canonical(text).kind == (
            "raw_text" if col is mysql else "text")  # fmt: skip
    plain = dataclasses.replace(longtext, json=False)
    assert plan_column(plain, "doc", json_super=True).redshift_type == "VARCHAR(65535)"


def test_json_resolves_table_then_target_then_varchar(tmp_path: Path) -> None:
    assert make_table(tmp_path).json == "varchar"
    assert make_table(tmp_path, json="super").json == "super"
    with pytest.raises(Exception, match="json"):
        make_table(tmp_path, json="jsonb")


def test_the_check_target_probe_parses_with_json_parse_and_reads_back_with_json_serialize(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """https://docs.aws.amazon.com/redshift/latest/dg/JSON_TYPEOF.html and JSON_SERIALIZE.html:
    the type of the parsed value, and its text."""
    from mysql_redshift_assets.maintenance.check_json import DOCUMENT, json_probe

    conn = RecordingConnection()
    warehouse = warehouse_over(conn)
    answers = [[("object", DOCUMENT.replace(", ", ","))]]
    monkeypatch.setattr(
        warehouse, "fetchall", lambda sql, params=(): conn.log.append((sql, None)) or answers.pop()
    )
    status, detail = json_probe(warehouse, True)
    assert (status, detail.endswith("parsed into SUPER and read back the same document")) == (
        "OK",
        True,
    )
    assert [sql for sql, _ in conn.log] == [
        'CREATE TEMP TABLE "mra_json_text" ("doc" VARCHAR(65535))',
        'CREATE TEMP TABLE "mra_json" ("doc" SUPER)',
        'INSERT INTO "mra_json_text" VALUES (%s)',
        'INSERT INTO "mra_json" SELECT JSON_PARSE("doc") FROM "mra_json_text"',
        'SELECT JSON_TYPEOF(doc), JSON_SERIALIZE(doc) FROM "mra_json"',
        "ROLLBACK",
    ]
    answers.append([("string", '"' + DOCUMENT + '"')])  # a SUPER string: not parsed
    with pytest.raises(Exception, match="a JSON string, not an object"):
        json_probe(warehouse, True)
