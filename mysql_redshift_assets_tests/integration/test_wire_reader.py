"""The wire reader against a real MariaDB: the binary protocol, kept connections, statements
closed, an error in the middle of a result, and the reader switch.

Values are compared with the pymysql path in test_fast_reader.py (every test there runs with
both fast readers); the parser's packet handling is tested in unit/test_wire_parser.py.
"""

from __future__ import annotations

import pymysql
import pytest

from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.extract import readers
from mysql_redshift_assets.extract.readers import binary_client, wire
from mysql_redshift_assets.extract.readers.binary import BinaryPathUnavailable, plan_binary
from mysql_redshift_assets.extract.readers.connectorx import ConnectorxReader
from mysql_redshift_assets.extract.schema_types import plan_columns
from mysql_redshift_assets.extract.source import MySQLSource, SourceError
from mysql_redshift_assets.extract.table import FETCHERS
from mysql_redshift_assets_tests.integration.test_fast_reader import run, stored

pytestmark = pytest.mark.mariadb


@pytest.fixture
def mysql_reader() -> str:
    return "wire"


@pytest.fixture(autouse=True)
def _small_pages(monkeypatch) -> None:
    monkeypatch.setattr(readers, "BINARY_MIN_CHUNK_ROWS", 1)


@pytest.fixture
def numbers(mysql, mysql_db) -> str:
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE n (id INT PRIMARY KEY, v VARCHAR(20), x DOUBLE)")
        cur.execute("INSERT INTO n SELECT seq, CONCAT('v', seq), seq / 7e0 FROM seq_1_to_3000")
    return f"{mysql_db}.n"


def status(mysql, name: str) -> int:
    with mysql.cursor() as cur:
        cur.execute("SHOW GLOBAL STATUS LIKE %s", (name,))
        return int(cur.fetchone()[1])


def test_pages_use_the_binary_protocol_on_kept_connections_and_close_their_statements(
    mysql, numbers, make_project, monkeypatch
) -> None:
    opened: list[int] = []
    real = MySQLSource.open_session

    def counted(self):
        opened.append(1)
        return real(self)

    monkeypatch.setattr(MySQLSource, "open_session", counted)
    project = make_project({numbers: {"append_only": True}}, chunk_rows=100, file_rows=1000)
    prepared_before = status(mysql, "Com_stmt_prepare")

    result = run(project, numbers, "r1")

    assert result.rows == 3000 and [f.rows for f in result.files] == [1000, 1000, 1000]
    assert status(mysql, "Com_stmt_prepare") - prepared_before >= 30  # a statement a page
    assert status(mysql, "Prepared_stmt_count") == 0  # every one closed again
    assert 1 <= len(opened) <= FETCHERS  # connections kept across 30 pages
    _, rows = stored(project, numbers)
    assert rows.column("id").to_pylist() == list(range(1, 3001))
    assert rows.column("x").to_pylist() == [i / 7 for i in range(1, 3001)]


def test_an_error_in_the_middle_of_a_result_is_a_fallback_not_a_short_page(numbers, source) -> None:
    planned = plan_columns(source.columns(numbers.split(".")[0], "n"), table="n")
    plan = plan_binary(planned, [0])
    reader = binary_client(source)
    assert isinstance(reader, wire.WireReader)
    # Rows are sent until id 2500, where the subquery fails: an ERR packet after 2,499 rows.
    failing = (
        f"SELECT {', '.join(plan.select_list)} FROM {numbers} "
        "WHERE IF(id = 2500, (SELECT 1 UNION SELECT 2), 1) ORDER BY id"
    )
    conn = source.open_session()
    with pytest.raises((wire._wire.WireError, pymysql.err.MySQLError)) as raw:
        wire._read_result(conn, failing, len(plan.columns))
    assert raw.value.args[0] == 1242  # the server's own error, not a short page
    conn.close()

    with pytest.raises(BinaryPathUnavailable) as exc:
        reader.fetch(plan, failing)
    assert "1242" in str(exc.value)
    good = f"SELECT {', '.join(plan.select_list)} FROM {numbers} WHERE id <= 10 ORDER BY id"
    chunks = reader.fetch(plan, good)  # a new connection: the broken one was closed
    assert [c.num_rows for c in chunks] == [10]


def test_the_reader_switch(source, make_project, numbers) -> None:
    source.reader = "connectorx"
    assert isinstance(binary_client(source), ConnectorxReader)
    source.reader = "pymysql"
    assert binary_client(source) is None
    source.reader = "fastest"
    with pytest.raises(ValueError, match="auto, wire, connectorx, pymysql"):
        binary_client(source)
    wire_built = wire._wire
    try:
        wire._wire = None  # as if it was not built (no C compiler)
        source.reader = "auto"
        assert isinstance(
            binary_client(MySQLSource("s", host="h", port=1, user="u", password="p")),
            ConnectorxReader,
        )
        source.reader = "wire"
        with pytest.raises(SourceError, match="not built"):
            binary_client(source)
    finally:
        wire._wire = wire_built
    # In connections.yml: a typed key, an unknown name is a config error naming it.
    project = make_project({numbers: {"append_only": True}}, store="local")
    connections = project.connections_path.read_text().replace("reader: wire", "reader: fastest")
    project.connections_path.write_text(connections)
    from mysql_redshift_assets.project import load_project

    with pytest.raises(ConfigError, match="reader"):
        load_project(project.root)
