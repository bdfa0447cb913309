"""The `capture: binlog` initial copy read by the wire reader (issue 28): every page on the
snapshot's own session, the copy exactly MySQL as of the binlog position although other sessions
commit between its pages, and those commits carried by the stream of the next run."""

from __future__ import annotations

import pytest

from mysql_redshift_assets.extract import readers
from mysql_redshift_assets.extract.readers.binary_pages import BinaryPages
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows, read_mysql
from mysql_redshift_assets_tests.integration.test_binlog_capture import COLUMNS, KEY, _table
from mysql_redshift_assets_tests.integration.test_wire_snapshot import Pages

pytestmark = pytest.mark.mariadb


@pytest.fixture
def mysql_server(binlog_mariadb):
    return binlog_mariadb


@pytest.fixture
def mysql_reader() -> str:
    return "wire"


def test_the_binlog_copy_read_by_the_wire_reader_is_the_snapshot_exactly(
    mysql, mysql_db, mysql_sessions, make_project, monkeypatch
):
    monkeypatch.setattr(readers, "BINARY_MIN_CHUNK_ROWS", 1)
    _table(mysql, rows=300)
    sync = Sync.of(
        make_project, mysql_db, "t", {"capture": "binlog"}, target="duckdb",
        chunk_rows=20, file_rows=100,
    )  # fmt: skip
    at_snapshot = read_mysql(mysql, f"`{mysql_db}`.t", COLUMNS, KEY)
    pages, sequential = Pages(monkeypatch), []
    real_init = BinaryPages.__init__

    def spy(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        sequential.append(not self.concurrent)

    monkeypatch.setattr(BinaryPages, "__init__", spy)
    app = mysql_sessions()

    def write() -> None:  # after rows 1..40: behind and ahead of the read, and past its end
        with app.cursor() as cur:
            cur.execute("UPDATE t SET amount = amount + 1 WHERE id IN (5, 150, 299)")
            cur.execute("DELETE FROM t WHERE id IN (6, 200)")
            cur.execute("INSERT INTO t (id, amount, note) VALUES (1000, 1.5, 'late')")
            cur.execute("UPDATE t SET id = 2000 WHERE id = 250")  # a key change

    pages.hooks[2] = write
    copied = sync.extract("run-1")
    assert copied.rows == 300 and copied.generation is not None
    assert len(pages.sessions) >= 15 and all(pages.on_snapshot) and all(sequential)
    sync.load("run-1")
    assert sync.warehouse_rows(COLUMNS, KEY) == at_snapshot  # none of the writes
    pages.hooks.clear()
    sync.run("run-2")  # the stream carries them
    assert_same_rows(mysql, sync, COLUMNS, KEY)
    assert sync.warehouse_rows(COLUMNS, KEY) != at_snapshot
