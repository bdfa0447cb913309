"""Object stores: S3 against a moto server over HTTP (pagination, bulk delete, multipart) and
the local folder store, with the same list / put / get / delete semantics."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import botocore.exceptions
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mysql_redshift_assets.store.objectstore import LocalStore, ObjectStore
from mysql_redshift_assets.store.s3 import S3Store

MANY = 1100  # more than one ListObjectsV2 page / DeleteObjects call (1000)


@pytest.fixture
def s3(s3_endpoint: str, s3_bucket: str) -> S3Store:
    return S3Store(s3_bucket, "backup/", region="us-east-1", endpoint_url=s3_endpoint)


@pytest.fixture
def raw_client(s3_endpoint: str):
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")


@pytest.fixture
def local(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


@pytest.fixture(params=[pytest.param("s3", marks=pytest.mark.s3), "local"])
def store(request: pytest.FixtureRequest) -> Iterator[ObjectStore]:
    yield request.getfixturevalue(request.param)


def _put_many(store: ObjectStore, keys: list[str]) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda k: store.put_bytes(k.encode(), k), keys))


# -- S3 specifics ----------------------------------------------------------------------------
@pytest.mark.s3
def test_s3_list_and_delete_past_1000_keys(s3: S3Store, raw_client, s3_bucket: str) -> None:
    """One set of 1100 objects (putting them is the slow part) serves both checks."""
    keys = [f"t/incremental/{i:010d}.parquet" for i in range(MANY)]
    _put_many(s3, keys)
    s3.put_bytes(b"{}", "t/watermark.json")
    s3.put_bytes(b"x", "t-other/0000000000.parquet")

    # The server really pages: one call does not return everything.
    first = raw_client.list_objects_v2(Bucket=s3_bucket, Prefix="backup/t/incremental/")
    assert first["IsTruncated"] is True and first["KeyCount"] == 1000

    listed = list(s3.list("t/incremental/"))
    assert sorted(o.key for o in listed) == keys  # relative to the store prefix, none missing
    assert len(listed) == MANY
    assert all(o.size == len(o.key) for o in listed)
    assert len(list(s3.list("t/"))) == MANY + 1
    assert len(list(s3.list(""))) == MANY + 2

    # DeleteObjects takes at most 1000 keys a call: the store must batch.
    assert s3.delete(keys) == MANY
    assert list(s3.list("t/incremental/")) == []
    assert sorted(o.key for o in s3.list("")) == ["t-other/0000000000.parquet", "t/watermark.json"]
    remaining = raw_client.list_objects_v2(Bucket=s3_bucket)
    assert sorted(o["Key"] for o in remaining["Contents"]) == [
        "backup/t-other/0000000000.parquet",
        "backup/t/watermark.json",
    ]


@pytest.mark.s3
def test_s3_multipart_put_file_round_trips(s3: S3Store, raw_client, s3_bucket, tmp_path) -> None:
    data = os.urandom(40 << 20)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    stored = s3.put_file(path, "big/big.bin")
    assert stored.key == "big/big.bin" and stored.size == len(data)
    # Above the 16 MiB threshold the upload is multipart (ETag "<md5>-<parts>"): 40 MiB = 3 parts.
    etag = raw_client.head_object(Bucket=s3_bucket, Key="backup/big/big.bin")["ETag"]
    assert etag.strip('"').endswith("-3")
    got = s3.get_bytes("big/big.bin")
    assert got is not None and len(got) == len(data)
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()


@pytest.mark.s3
def test_s3_small_put_file_is_single_part(s3: S3Store, raw_client, s3_bucket, tmp_path) -> None:
    path = tmp_path / "small.bin"
    path.write_bytes(b"abc" * 1000)
    assert s3.put_file(path, "small.bin").size == 3000
    etag = raw_client.head_object(Bucket=s3_bucket, Key="backup/small.bin")["ETag"]
    assert etag.strip('"') == hashlib.md5(b"abc" * 1000).hexdigest()


def _grow(path: Path, upload, blocks: list[bytes]) -> None:
    """Append `blocks` to `path` one at a time, telling the upload after each (as the sink does
    after each row group)."""
    with open(path, "ab") as out:
        for block in blocks:
            out.write(block)
            out.flush()
            upload.grew(path)


def _uploads(raw_client, bucket: str) -> list[dict]:
    return raw_client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])


@pytest.mark.s3
def test_s3_file_is_sent_in_parts_while_it_is_written(
    s3: S3Store, raw_client, s3_bucket, tmp_path
) -> None:
    """Parts go up as the file grows; the object appears only when put_file completes it."""
    blocks = [os.urandom(1 << 20) for _ in range(21)]  # 21 MiB, appended 1 MiB at a time
    path = tmp_path / "growing.parquet"
    upload = s3.begin_file("t/growing.parquet")
    _grow(path, upload, blocks[:20])

    # Before put_file: two parts of 8 MiB are sent (or on their way), nothing is visible.
    (pending,) = _uploads(raw_client, s3_bucket)
    assert pending["Key"] == "backup/t/growing.parquet"
    for part in upload.parts:
        part.result()
    parts = raw_client.list_parts(
        Bucket=s3_bucket, Key=pending["Key"], UploadId=pending["UploadId"]
    )["Parts"]
    assert [p["Size"] for p in parts] == [8 << 20, 8 << 20]
    assert s3.head("t/growing.parquet") is None

    _grow(path, upload, blocks[20:])
    stored = s3.put_file(path, "t/growing.parquet", upload=upload)
    data = b"".join(blocks)
    assert stored.size == len(data)
    assert s3.get_bytes("t/growing.parquet") == data  # byte-exact, parts in order
    etag = raw_client.head_object(Bucket=s3_bucket, Key="backup/t/growing.parquet")["ETag"]
    assert etag.strip('"').endswith("-3")  # 8 + 8 + the last 5 MiB
    assert _uploads(raw_client, s3_bucket) == []


@pytest.mark.s3
def test_s3_file_smaller_than_a_part_is_one_put(s3: S3Store, raw_client, s3_bucket, tmp_path):
    path = tmp_path / "small.parquet"
    upload = s3.begin_file("t/small.parquet")
    _grow(path, upload, [b"x" * 1000, b"y" * 1000])
    assert _uploads(raw_client, s3_bucket) == []  # nothing started for 2 KB
    assert s3.put_file(path, "t/small.parquet", upload=upload).size == 2000
    etag = raw_client.head_object(Bucket=s3_bucket, Key="backup/t/small.parquet")["ETag"]
    assert etag.strip('"') == hashlib.md5(b"x" * 1000 + b"y" * 1000).hexdigest()


@pytest.mark.s3
def test_s3_aborted_upload_leaves_nothing(s3: S3Store, raw_client, s3_bucket, tmp_path) -> None:
    path = tmp_path / "gone.parquet"
    upload = s3.begin_file("t/gone.parquet")
    _grow(path, upload, [os.urandom(1 << 20) for _ in range(9)])
    assert len(_uploads(raw_client, s3_bucket)) == 1
    upload.abort()
    assert _uploads(raw_client, s3_bucket) == []
    assert s3.head("t/gone.parquet") is None
    upload.abort()  # twice is harmless


@pytest.mark.s3
def test_s3_upload_lost_behind_our_back_fails_and_publishes_nothing(
    s3: S3Store, raw_client, s3_bucket, tmp_path
) -> None:
    """Completing an upload S3 no longer has (a lifecycle rule, another tool) raises: the file
    is never reported stored when it is not."""
    path = tmp_path / "lost.parquet"
    upload = s3.begin_file("t/lost.parquet")
    _grow(path, upload, [os.urandom(1 << 20) for _ in range(9)])
    (pending,) = _uploads(raw_client, s3_bucket)
    for part in upload.parts:
        part.result()
    raw_client.abort_multipart_upload(
        Bucket=s3_bucket, Key=pending["Key"], UploadId=pending["UploadId"]
    )
    # The last part or the completion is refused (S3: NoSuchUpload; moto: a 500 on the part).
    with pytest.raises(botocore.exceptions.ClientError):
        s3.put_file(path, "t/lost.parquet", upload=upload)
    assert s3.head("t/lost.parquet") is None


@pytest.mark.s3
def test_s3_uri_and_arrow_location_read_parquet(s3: S3Store, s3_bucket: str, tmp_path) -> None:
    path = tmp_path / "f.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3]}), path)
    s3.put_file(path, "p/f.parquet")
    assert s3.uri("p/f.parquet") == f"s3://{s3_bucket}/backup/p/f.parquet"
    fs, where = s3.arrow_location("p/f.parquet")
    assert where == f"{s3_bucket}/backup/p/f.parquet"
    assert pq.read_table(where, filesystem=fs).column("id").to_pylist() == [1, 2, 3]


@pytest.mark.s3
def test_s3_without_prefix(s3_endpoint: str, s3_bucket: str) -> None:
    store = S3Store(s3_bucket, region="us-east-1", endpoint_url=s3_endpoint)
    store.put_bytes(b"1", "a/b")
    assert [o.key for o in store.list("a/")] == ["a/b"]
    assert store.uri("a/b") == f"s3://{s3_bucket}/a/b"
    store.check()


@pytest.mark.s3
def test_s3_check_fails_for_a_missing_bucket(s3_endpoint: str) -> None:
    store = S3Store("mra-test-no-such-bucket", region="us-east-1", endpoint_url=s3_endpoint)
    with pytest.raises(Exception):  # noqa: B017 - botocore's ClientError
        store.check()


# -- the same semantics on both stores ---------------------------------------------------------
def test_get_bytes_and_head_of_a_missing_key(store: ObjectStore) -> None:
    assert store.get_bytes("nothing/here.json") is None
    assert store.head("nothing/here.json") is None
    store.put_bytes(b"x", "nothing/else.json")
    assert store.get_bytes("nothing/here.json") is None


def test_put_get_head_overwrite(store: ObjectStore, tmp_path: Path) -> None:
    store.put_bytes(b"first", "a/b/c.json")
    assert store.get_bytes("a/b/c.json") == b"first"
    store.put_bytes(b"second, longer", "a/b/c.json")
    assert store.get_bytes("a/b/c.json") == b"second, longer"
    head = store.head("a/b/c.json")
    assert head is not None and (head.key, head.size) == ("a/b/c.json", 14)
    path = tmp_path / "upload.bin"
    path.write_bytes(bytes(range(256)) * 10)
    stored = store.put_file(path, "a/file.bin")
    assert (stored.key, stored.size) == ("a/file.bin", 2560)
    assert store.get_bytes("a/file.bin") == bytes(range(256)) * 10
    assert path.exists()  # the local source file is left alone


def test_list_and_delete(store: ObjectStore) -> None:
    keys = [f"tbl/incremental/{i:010d}.parquet" for i in range(30)] + ["tbl/watermark.json"]
    _put_many(store, keys + ["tbl2/watermark.json"])
    assert sorted(o.key for o in store.list("tbl/")) == sorted(keys)
    assert sorted(o.key for o in store.list("tbl/incremental/")) == sorted(keys[:-1])
    assert list(store.list("absent/")) == []
    assert {o.key for o in store.list("")} == {*keys, "tbl2/watermark.json"}
    for obj in store.list("tbl/"):
        assert obj.size == len(obj.key) and obj.modified.tzinfo is not None

    assert store.delete(keys[:10]) == 10
    assert sorted(o.key for o in store.list("tbl/")) == sorted(keys[10:])
    assert store.delete([]) == 0
    assert store.get_bytes(keys[0]) is None and store.get_bytes(keys[10]) is not None


def test_list_prefix_that_is_a_single_key(store: ObjectStore) -> None:
    store.put_bytes(b"{}", "tbl/watermark.json")
    assert [o.key for o in store.list("tbl/watermark.json")] == ["tbl/watermark.json"]


def test_check_passes_on_a_reachable_store(store: ObjectStore) -> None:
    store.check()


# -- the local store -------------------------------------------------------------------------
def test_local_many_keys_listed_and_deleted(local: LocalStore) -> None:
    keys = [f"m/{i:05d}" for i in range(300)]
    _put_many(local, keys)
    assert [o.key for o in local.list("m/")] == keys  # sorted, complete
    assert local.delete(keys + ["m/never-existed"]) == 300
    assert list(local.list("m/")) == []


def test_local_temp_files_are_never_listed(local: LocalStore) -> None:
    local.put_bytes(b"real", "t/incremental/0000000000.parquet")
    folder = local.root / "t" / "incremental"
    (folder / ".tmp-abc123").write_bytes(b"half an upload")
    (local.root / "t" / ".tmp-watermark").write_bytes(b"{")
    assert [o.key for o in local.list("t/")] == ["t/incremental/0000000000.parquet"]
    assert [o.key for o in local.list("")] == ["t/incremental/0000000000.parquet"]


def test_local_writes_leave_no_temp_file_behind(local: LocalStore, tmp_path: Path) -> None:
    local.put_bytes(b"x", "a/b.json")
    src = tmp_path / "src.bin"
    src.write_bytes(b"y" * 100)
    local.put_file(src, "a/c.bin")
    assert sorted(p.name for p in (local.root / "a").iterdir()) == ["b.json", "c.bin"]


def test_local_failed_write_leaves_neither_temp_nor_object(local: LocalStore) -> None:
    with pytest.raises(FileNotFoundError):
        local.put_file(Path("/definitely/not/here.bin"), "a/c.bin")
    assert local.head("a/c.bin") is None
    assert list((local.root / "a").iterdir()) == []


def test_local_keys_cannot_leave_the_folder(local: LocalStore) -> None:
    with pytest.raises(ValueError, match="leaves the store folder"):
        local.put_bytes(b"x", "../escape.json")
    with pytest.raises(ValueError, match="leaves the store folder"):
        local.get_bytes("a/../../escape.json")


def test_local_uri_and_arrow_location(local: LocalStore, tmp_path: Path) -> None:
    table = pa.table({"v": ["a", "é"]})
    path = tmp_path / "x.parquet"
    pq.write_table(table, path)
    local.put_file(path, "p/x.parquet")
    assert local.uri("p/x.parquet") == (local.root / "p/x.parquet").resolve().as_uri()
    fs, where = local.arrow_location("p/x.parquet")
    assert pq.read_table(where, filesystem=fs).equals(table)
