"""Files are stored while the next one is written, and S3 gets big files in parts as they grow;
neither may lose, double or half-publish a file.

- a closed file is stored by its own thread while the next file is written (it overlaps), and
  files are recorded in order;
- a file that fails to store is never recorded: the run fails, the watermark stays at the last
  stored file, and the next run resumes exactly once;
- on S3, a file bigger than a part is sent in parts while it is written (a multipart upload
  whose ETag counts the parts), and a run failing with a file half sent leaves no multipart
  upload behind and no object under that key.
"""

from __future__ import annotations

import threading
import time

import pytest

from mysql_redshift_assets.config.loader import Project
from mysql_redshift_assets.config.resolve import table_config
from mysql_redshift_assets.connect import open_store
from mysql_redshift_assets.state.watermark import Watermark, WatermarkStore
from mysql_redshift_assets.store.objectstore import LocalStore
from mysql_redshift_assets.sync import files as sink_module
from mysql_redshift_assets.sync.files import FileSink
from mysql_redshift_assets_tests.integration.test_fast_reader import run

pytestmark = pytest.mark.mariadb


def watermark_of(project: Project, qualified: str) -> Watermark:
    table = table_config(project.pipeline("testpipe"), qualified)
    watermark = WatermarkStore(open_store(project, table.store)).load(table)
    assert watermark is not None
    return watermark


def source_ids(mysql, table: str) -> list[int]:
    with mysql.cursor() as cur:
        cur.execute(f"SELECT id FROM {table} ORDER BY id")
        return [r[0] for r in cur.fetchall()]


def stored_ids(project: Project, qualified: str) -> list[int]:
    import pyarrow.parquet as pq

    table = table_config(project.pipeline("testpipe"), qualified)
    store = open_store(project, table.store)
    ids: list[int] = []
    for record in watermark_of(project, qualified).files:
        fs, path = store.arrow_location(record.key)
        ids += [int(v) for v in pq.read_table(path, filesystem=fs).column("id").to_pylist()]
    return ids


@pytest.fixture
def items(mysql, mysql_db) -> str:
    """2,000 small rows: 4 files of 500 in pages of 100."""
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE items (id INT PRIMARY KEY, note VARCHAR(40))")
        cur.execute("INSERT INTO items SELECT seq, CONCAT('item ', seq) FROM seq_1_to_2000")
    return f"{mysql_db}.items"


def test_a_file_is_stored_while_the_next_one_is_written(items, mysql, make_project, monkeypatch):
    project = make_project(
        {items: {"append_only": True}}, store="local", chunk_rows=100, file_rows=500
    )
    events: list[tuple[float, str, int]] = []
    lock = threading.Lock()

    def note(what: str, seq: int) -> None:
        with lock:
            events.append((time.monotonic(), what, seq))

    real_put, real_write = LocalStore.put_file, FileSink.write

    def slow_put(self, local_path, key, upload=None):
        seq = int(key.rsplit("/", 1)[1].split(".")[0])
        note("store", seq)
        time.sleep(0.5)  # a slow store: the next file's rows keep coming meanwhile
        stored = real_put(self, local_path, key, upload)
        note("stored", seq)
        return stored

    def write(self, batch):
        note("write", self.seq)
        return real_write(self, batch)

    monkeypatch.setattr(LocalStore, "put_file", slow_put)
    monkeypatch.setattr(FileSink, "write", write)
    result = run(project, items, "overlap")

    assert [f.rows for f in result.files] == [500, 500, 500, 500]
    assert stored_ids(project, items) == source_ids(mysql, "items")
    for seq in range(3):  # while file `seq` was being stored, file `seq + 1` was written
        start = next(t for t, what, s in events if what == "store" and s == seq)
        end = next(t for t, what, s in events if what == "stored" and s == seq)
        assert any(start < t < end for t, what, s in events if what == "write" and s == seq + 1)
    # At most one file is being stored at a time, and they are stored in order.
    stores = [(what, s) for _, what, s in events if what in ("store", "stored")]
    assert stores == [(w, s) for s in range(4) for w in ("store", "stored")]
    # Recorded in file order, each with its own last position.
    watermark = watermark_of(project, items)
    assert [f.key.rsplit("/", 1)[1] for f in watermark.files] == [
        f"{i:010d}.parquet" for i in range(4)
    ]
    assert [f.last.pk for f in watermark.files] == [["500"], ["1000"], ["1500"], ["2000"]]


def test_a_file_that_fails_to_store_is_never_recorded(items, mysql, make_project, monkeypatch):
    project = make_project(
        {items: {"append_only": True}}, store="local", chunk_rows=100, file_rows=500
    )
    real_put = LocalStore.put_file

    def put(self, local_path, key, upload=None):
        if key.endswith("0000000001.parquet"):
            raise OSError("disk full (injected)")
        return real_put(self, local_path, key, upload)

    monkeypatch.setattr(LocalStore, "put_file", put)
    with pytest.raises(OSError, match="injected"):
        run(project, items, "fails")
    watermark = watermark_of(project, items)
    assert watermark.status == "failed"
    assert [f.rows for f in watermark.files] == [500]  # file 0 only: stored, then recorded
    assert watermark.position == watermark.files[0].last and watermark.position.pk == ["500"]
    store = open_store(project, table_config(project.pipeline("testpipe"), items).store)
    keys = sorted(o.key for o in store.list("") if o.key.endswith(".parquet"))
    assert [k.rsplit("/", 1)[1] for k in keys] == ["0000000000.parquet"]

    monkeypatch.setattr(LocalStore, "put_file", real_put)
    resumed = run(project, items, "resume")
    assert resumed.rows == 1500
    assert stored_ids(project, items) == source_ids(mysql, "items")  # no gap, no duplicate


# -- S3: parts while the file is written -------------------------------------------------------
@pytest.fixture
def wide(mysql, mysql_db) -> str:
    """6,000 rows of ~4 KB of random text (~3 KB compressed): files of 3,000 rows are ~9 MB,
    more than one S3 part (8 MiB)."""
    blob = "TO_BASE64(RANDOM_BYTES(1024))"
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE wide (id INT PRIMARY KEY, payload TEXT)")
        cur.execute(
            f"INSERT INTO wide SELECT seq, CONCAT({blob}, {blob}, {blob}) FROM seq_1_to_6000"
        )
    return f"{mysql_db}.wide"


@pytest.mark.s3
def test_big_files_go_to_s3_in_parts_and_a_failed_run_leaves_no_part_behind(
    wide, mysql, make_project, monkeypatch
) -> None:
    project = make_project(
        {wide: {"append_only": True}}, store="s3", chunk_rows=1000, file_rows=3000
    )
    table = table_config(project.pipeline("testpipe"), wide)
    store = open_store(project, table.store)
    client = store._client  # the moto server's own view: multipart uploads in progress
    bucket = store.bucket
    sent_before_close: list[int] = []
    real_footer = sink_module.read_footer
    footers = 0

    def footer_fails_on_the_second_file(path, *args):
        nonlocal footers
        footers += 1
        uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        sent_before_close.append(len(uploads))
        if footers == 2:
            raise OSError("unreadable footer (injected)")
        return real_footer(path, *args)

    monkeypatch.setattr(sink_module, "read_footer", footer_fails_on_the_second_file)
    with pytest.raises(OSError, match="injected"):
        run(project, wide, "fails")
    # Each file had a multipart upload under way before it was even closed ...
    assert sent_before_close == [1, 1]
    # ... and the failed one is aborted: no upload left, no object for file 1.
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    watermark = watermark_of(project, wide)
    assert [f.rows for f in watermark.files] == [3000]
    keys = sorted(o.key for o in store.list("") if o.key.endswith(".parquet"))
    assert keys == [watermark.files[0].key]

    monkeypatch.setattr(sink_module, "read_footer", real_footer)
    resumed = run(project, wide, "resume")
    assert resumed.rows == 3000
    assert stored_ids(project, wide) == source_ids(mysql, "wide")
    for record in watermark_of(project, wide).files:
        assert record.bytes > 8 << 20  # bigger than one part ...
        head = client.head_object(Bucket=bucket, Key=f"backup/{record.key}")
        assert head["ETag"].strip('"').endswith("-2")  # ... so sent as 2 parts
        assert head["ContentLength"] == record.bytes
    with mysql.cursor() as cur:
        cur.execute("SELECT SUM(LENGTH(payload)) FROM wide")
        (source_chars,) = cur.fetchone()
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    total = 0
    for record in watermark_of(project, wide).files:
        fs, path = store.arrow_location(record.key)
        total += pc.sum(pc.binary_length(pq.read_table(path, filesystem=fs)["payload"])).as_py()
    assert total == source_chars
