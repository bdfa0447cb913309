"""Every key shape either round-trips exactly or is refused before anything is written.

Each accepted shape: a MariaDB table keyed on it, rows that all share one cursor value (so the
first extraction pages through the key alone, three rows a page, four a file), then updates,
inserts of keys that sort between the existing ones and, for collated keys, updates that change
only case, trailing spaces or accents; after each sync the warehouse equals MySQL row by row, on
DuckDB and on the PostgreSQL stand-in.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from mysql_redshift_assets.config.errors import ConfigError
from mysql_redshift_assets.connect import open_store
from mysql_redshift_assets.extract import plan as plan_module
from mysql_redshift_assets.load.request import LoadError
from mysql_redshift_assets.state.watermark import WatermarkStore
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows

pytestmark = pytest.mark.mariadb
SPEC = {"cursor": "updated_at", "chunk_rows": 3, "file_rows": 4}
T0, T1, T2 = "2024-01-01 00:00:00", "2024-01-02 00:00:00", "2024-01-03 00:00:00"


@dataclass(frozen=True)
class Shape:
    columns: str  # the key column(s) DDL
    key: tuple[str, ...]
    initial: list[tuple[Any, ...]]
    inserts: list[tuple[Any, ...]]  # keys sorting between the initial ones
    key_updates: list[tuple[tuple[Any, ...], tuple[Any, ...]]] = field(default_factory=list)
    primary_key: str = ""  # the PRIMARY KEY clause's inside, when not the key columns


def _rng_bytes(seed: int, n: int, size: int) -> list[tuple[bytes]]:
    rng = random.Random(seed)
    return [(bytes(rng.randrange(256) for _ in range(size)),) for _ in range(n)]


def _uuids(seed: int, n: int) -> list[tuple[str]]:
    rng = random.Random(seed)
    return [(str(uuid.UUID(int=rng.getrandbits(128), version=4)),) for _ in range(n)]


LABELS = ["zeta", "alpha", "mid", "beta", "omega", "delta", "kappa", "eta", "chi", "pi", "rho"]
DEC = [Decimal("1.000000000000000000") + Decimal(i) / 10**20 for i in range(16)]
UUIDS = _uuids(3, 16)
SHAPES: dict[str, Shape] = {
    "enum": Shape(
        "k ENUM(" + ",".join(f"'{x}'" for x in LABELS) + ") NOT NULL",
        ("k",),
        [(x,) for x in LABELS[::2]],
        [(x,) for x in LABELS[1::2]],
    ),
    "set": Shape(
        "k SET('x','b','m','a') NOT NULL",
        ("k",),
        [("x",), ("b",), ("x,b",), ("m",), ("a",), ("x,m",), ("b,a",), ("x,b,m,a",)],
        [("",), ("x,a",), ("b,m",), ("m,a",)],
    ),
    "binary16_uuid": Shape(
        "k BINARY(16) NOT NULL", ("k",), _rng_bytes(1, 12, 16), _rng_bytes(2, 5, 16)
    ),  # fmt: skip
    "varbinary": Shape(
        "k VARBINARY(20) NOT NULL",
        ("k",),
        [(b"a",), (b"a\x00",), (b"\xff\xfe",), (b"\x00",), (b"b ",), (b"\xc3\x28",), (b"z",)],
        [(b"a\x00\x00",), (b"\x80",), (b"b",), (b"",)],
    ),
    "blob_prefix": Shape(
        "k BLOB NOT NULL",
        ("k",),
        [(b"prefix%02d-\xff-tail" % i,) for i in range(0, 12, 2)],
        [(b"prefix%02d-\x00-more" % i,) for i in range(1, 12, 2)],
        [((b"prefix04-\xff-tail",), (b"prefix04-\xff-changed beyond the prefix",))],
        primary_key="k(8)",
    ),
    "char36_uuid": Shape(
        "k CHAR(36) NOT NULL",
        ("k",),
        UUIDS[:12],
        UUIDS[12:],
        [(UUIDS[3], (UUIDS[3][0].upper(),)), (UUIDS[5], (UUIDS[5][0].upper(),))],
    ),  # fmt: skip
    "decimal": Shape(
        "k DECIMAL(30,20) NOT NULL", ("k",), [(d,) for d in DEC[::2]], [(d,) for d in DEC[1::2]]
    ),  # fmt: skip
    "datetime": Shape(
        "k DATETIME(6) NOT NULL",
        ("k",),
        [(f"2024-05-01 10:00:00.{i:06d}",) for i in range(0, 20, 2)],
        [(f"2024-05-01 10:00:00.{i:06d}",) for i in range(1, 20, 4)],
    ),
    "timestamp": Shape(
        "k TIMESTAMP(6) NOT NULL DEFAULT '2000-01-01'",
        ("k",),
        [(f"2024-05-01 10:00:0{i // 10}.{i:06d}",) for i in range(0, 20, 2)],
        [(f"2024-05-01 10:00:0{i // 10}.{i:06d}",) for i in range(1, 20, 4)],
    ),
    "date": Shape(
        "k DATE NOT NULL",
        ("k",),
        [(f"2024-02-{d:02d}",) for d in range(1, 29, 3)],
        [(f"2024-02-{d:02d}",) for d in range(2, 29, 6)],
    ),  # fmt: skip
    "composite": Shape(
        "k1 INT NOT NULL, k2 VARCHAR(20) COLLATE utf8mb4_unicode_ci NOT NULL",
        ("k1", "k2"),
        [(i % 3, w) for i, w in enumerate(["cafe", "éa", "b", "Zed", "ab", "x", "y", "m"])],
        [(0, "c"), (1, "bz"), (2, "a")],
        [((0, "cafe"), (0, "café")), ((1, "éa"), (1, "EA"))],
    ),
    "general_ci": Shape(
        "k VARCHAR(20) COLLATE utf8mb4_general_ci NOT NULL",
        ("k",),
        [(w,) for w in ["apple", "Banana", "cherry", "date", "elder", "fig", "grape", "kiwi"]],
        [("avocado",), ("coconut",), ("fig2",)],
        [(("apple",), ("APPLE",)), (("cherry",), ("cherry  ",)), (("date",), ("Date ",))],
    ),
    "unicode_ci": Shape(
        "k VARCHAR(20) COLLATE utf8mb4_unicode_ci NOT NULL",
        ("k",),
        [(w,) for w in ["resume", "naive", "cafe", "Ol", "uber", "zz", "aa", "mm"]],
        [("cafeteria",), ("nb",), ("o",)],
        [(("resume",), ("résumé",)), (("naive",), ("Naïve  ",)), (("uber",), ("Über",))],
    ),
    "latin1_swedish_ci": Shape(
        "k VARCHAR(20) CHARACTER SET latin1 NOT NULL",
        ("k",),
        [(w,) for w in ["abc", "def", "ghi", "jkl", "mno", "pqr", "stu", "vwx"]],
        [("b",), ("e",), ("z",)],
        [(("abc",), ("ABC",)), (("def",), ("def   ",)), (("ghi",), ("Ghi ",))],
    ),
    "mariadb_default": Shape(  # the database's default: utf8mb4_general_ci, PAD SPACE
        "k VARCHAR(20) NOT NULL",
        ("k",),
        [(w,) for w in ["a", "b", "c", "d", "e", "f", "g", "h"]],
        [("bb",), ("dd",), ("ff",)],
        [(("a",), ("A",)), (("c",), ("c ",))],
    ),
    "utf8mb4_bin_pad": Shape(  # binary, but PAD SPACE: 'x' = 'x  '
        "k VARCHAR(20) COLLATE utf8mb4_bin NOT NULL",
        ("k",),
        [(w,) for w in ["a", "B", "c", "D", "e", "F", "g", "H"]],
        [("A",), ("b",), ("C",)],
        [(("a",), ("a  ",)), (("e",), ("e ",))],
    ),
    "nopad_ci": Shape(
        "k VARCHAR(20) COLLATE utf8mb4_general_nopad_ci NOT NULL",
        ("k",),
        [(w,) for w in ["a", "b", "c", "d", "e", "f", "g", "h"]],
        [("a ",), ("bb",), ("c  ",)],
        [(("b",), ("B",)), (("d",), ("D",))],
    ),
}


def _create(mysql, shape: Shape) -> None:
    key = ", ".join(shape.key)
    with mysql.cursor() as cur:
        cur.execute(
            f"CREATE TABLE t ({shape.columns}, v INT NOT NULL, updated_at DATETIME(6) NOT NULL, "
            f"PRIMARY KEY ({shape.primary_key or key}), KEY (updated_at))"
        )


def _insert(mysql, shape: Shape, keys, at: str, first_v: int) -> None:
    cols = ", ".join(shape.key)
    marks = ", ".join(["%s"] * len(shape.key))
    with mysql.cursor() as cur:
        for i, k in enumerate(keys):
            cur.execute(
                f"INSERT INTO t ({cols}, v, updated_at) VALUES ({marks}, %s, %s)",
                (*k, first_v + i, at),
            )


def _where(shape: Shape) -> str:
    return " AND ".join(f"{c} = %s" for c in shape.key)


def _sync(make_project, mysql_db, target, request) -> Sync:
    schema = request.getfixturevalue("pg_schema") if target == "postgres" else "public"
    return Sync.of(make_project, mysql_db, "t", dict(SPEC), target=target, target_schema=schema)


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
@pytest.mark.parametrize("name", list(SHAPES))
def test_key_shape_round_trips(mysql, mysql_db, make_project, target, request, name) -> None:
    shape = SHAPES[name]
    _create(mysql, shape)
    _insert(mysql, shape, shape.initial, T0, 1)  # one cursor value: pages go by the key alone
    sync = _sync(make_project, mysql_db, target, request)
    columns = [*shape.key, "v", "updated_at"]
    extracted, _ = sync.run("r1")
    assert extracted.rows == len(shape.initial) and len(extracted.files) > 1
    assert_same_rows(mysql, sync, columns, list(shape.key))

    with mysql.cursor() as cur:
        for k in shape.initial[1::3]:  # plain updates
            cur.execute(
                f"UPDATE t SET v = v + 1000, updated_at = %s WHERE {_where(shape)}", (T1, *k)
            )
        for old, new in shape.key_updates:  # only case / spaces / accents / past the prefix
            cols = ", ".join(f"{c} = %s" for c in shape.key)
            cur.execute(
                f"UPDATE t SET {cols}, v = v + 500, updated_at = %s WHERE {_where(shape)}",
                (*new, T2, *old),
            )
            assert cur.rowcount == 1
    _insert(mysql, shape, shape.inserts, T1, 100)
    sync.run("r2")
    assert_same_rows(mysql, sync, columns, list(shape.key))

    with mysql.cursor() as cur:  # and once more: every key touched again, in one run
        cur.execute("UPDATE t SET v = v + 1, updated_at = '2024-01-04 00:00:00'")
    sync.run("r3")
    assert_same_rows(mysql, sync, columns, list(shape.key))


# -- refused shapes: a clear message, and nothing written ----------------------------------------
def _store_files(tmp_path: Path) -> list[str]:
    """The files in the local store, but the table's lease (kept, released, after a run)."""
    return sorted(
        str(p.relative_to(tmp_path))
        for p in (tmp_path / "store").rglob("*")
        if p.is_file() and p.name != "_lease.json"
    )


def test_a_long_key_prefix_is_refused_before_anything_is_written(
    mysql, mysql_db, make_project, tmp_path
) -> None:
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE t (k BLOB NOT NULL, v INT, updated_at DATETIME(6), "
                    "PRIMARY KEY (k(1100)))")  # fmt: skip
        cur.execute("INSERT INTO t VALUES (REPEAT('a', 1200), 1, '2024-01-01')")
    sync = Sync.of(make_project, mysql_db, "t", dict(SPEC))
    with pytest.raises(ConfigError) as err:
        sync.run()
    message = str(err.value)
    assert f"{mysql_db}.t" in message and "'k'" in message
    assert "first 1100 bytes" in message and "primary_key:" in message
    assert _store_files(tmp_path) == []
    assert sync.warehouse_rows(["k"], ["k"]) == []


def test_a_column_named_like_the_key_identity_is_refused(mysql, mysql_db, make_project, tmp_path):
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE t (k VARCHAR(10) PRIMARY KEY, `mra$key` INT, "
                    "updated_at DATETIME(6))")  # fmt: skip
        cur.execute("INSERT INTO t VALUES ('a', 1, '2024-01-01')")
    sync = Sync.of(make_project, mysql_db, "t", dict(SPEC))
    with pytest.raises(ConfigError, match=r"column 'mra\$key' is the name .* rename the MySQL"):
        sync.run()
    assert _store_files(tmp_path) == []
    assert sync.warehouse_rows(["k"], ["k"]) == []


def test_a_collated_key_extracted_before_the_identity_existed_is_refused(
    mysql, mysql_db, make_project, tmp_path, monkeypatch
) -> None:
    with mysql.cursor() as cur:
        cur.execute("CREATE TABLE t (k VARCHAR(10) PRIMARY KEY, v INT, updated_at DATETIME(6))")
        cur.execute("INSERT INTO t VALUES ('a', 1, '2024-01-01'), ('b', 2, '2024-01-01')")
    sync = Sync.of(make_project, mysql_db, "t", dict(SPEC))
    with monkeypatch.context() as old_code:  # as the project extracted before `mra$key`
        old_code.setattr(plan_module, "identity_column", lambda *a: None)
        sync.run("old")
    with mysql.cursor() as cur:
        cur.execute("UPDATE t SET k = 'A', updated_at = '2024-01-02' WHERE k = 'a'")
    files, rows = _store_files(tmp_path), sync.warehouse_rows(["k", "v"], ["k"])
    store = open_store(sync.project, sync.table.store)
    watermark = WatermarkStore(store).load(sync.table)

    with pytest.raises(ConfigError) as err:
        sync.extract("new")
    message = str(err.value)
    assert f"{mysql_db}.t" in message and "k (utf8mb4_general_ci)" in message
    assert "Drop the warehouse table and run `mysql-redshift watermark reset" in message
    assert _store_files(tmp_path) == files
    assert WatermarkStore(store).load(sync.table) == watermark
    assert sync.warehouse_rows(["k", "v"], ["k"]) == rows

    # After a reset alone the extraction reads everything again, and the load refuses: the
    # warehouse rows still have no identity.
    from mysql_redshift_assets.maintenance.watermarks import reset

    reset(WatermarkStore(store), sync.table)
    sync.extract("after-reset")
    with pytest.raises(LoadError, match=r"loaded before the project carried MySQL's key ident"):
        sync.load("after-reset")
    assert sync.warehouse_rows(["k", "v"], ["k"]) == rows
