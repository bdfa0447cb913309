"""`deletes: soft` and `history: true` (issue 27) end to end, for a cursor table and a binlog
table (the private MariaDB with the binlog on), on DuckDB and the PostgreSQL stand-in: deletes,
a key change, a key deleted then inserted again (back to life), a resync; each step ends in a
row-by-row comparison of MySQL's rows with the warehouse's live rows (`mra$deleted_at IS NULL`,
`mra$valid_to IS NULL`), the soft-deleted keys exactly the keys deleted, the versions with their
intervals; a run with nothing new changes nothing (exactly once)."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest

from mysql_redshift_assets.connect import open_source, open_store, open_warehouse
from mysql_redshift_assets.identifiers import quote_ident
from mysql_redshift_assets.load.request import LoadError
from mysql_redshift_assets.maintenance.resync import resync_table
from mysql_redshift_assets.maintenance.validate import reconcile_table, row_count_check
from mysql_redshift_assets.naming import target_table
from mysql_redshift_assets.state.watermark import WatermarkStore
from mysql_redshift_assets_tests.exactness import Row, Sync, read_mysql

pytestmark = pytest.mark.mariadb

COLUMNS, KEY = ["id", "amount", "note", "updated_at"], ["id"]
TABLE = (
    "CREATE TABLE t (id INT PRIMARY KEY, amount DECIMAL(12,4), note VARCHAR(40), "
    "updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) "
    "ON UPDATE CURRENT_TIMESTAMP(6), KEY (updated_at, id))"
)
DELETED_AT, VALID_FROM, VALID_TO, VERSION = (
    "mra$deleted_at",
    "mra$valid_from",
    "mra$valid_to",
    "mra$version",
)


@pytest.fixture
def mysql_server(binlog_mariadb):
    return binlog_mariadb


def _table(mysql, rows: int = 20) -> None:
    with mysql.cursor() as cur:
        cur.execute(TABLE)
        cur.executemany(
            "INSERT INTO t (id, amount, note, updated_at) VALUES "
            "(%s, %s, %s, '2024-01-01 00:00:00')",
            [(i, f"{i}.5", f"zoë {i} 😀") for i in range(1, rows + 1)],
        )


def _sync(make_project, mysql_db, request, target, capture, **spec) -> Sync:
    schema = request.getfixturevalue("pg_schema") if target == "postgres" else "public"
    how = {"capture": "binlog"} if capture == "binlog" else {"cursor": "updated_at"}
    return Sync.of(
        make_project, mysql_db, "t", {**how, **spec}, target=target,
        target_schema=schema, chunk_rows=7, file_rows=20,
    )  # fmt: skip


def _query(sync: Sync, columns: list[str], where: str = "", order: str = "") -> list[Row]:
    """The warehouse table's `columns` (normalised by the exactness helper's rules)."""
    store = open_store(sync.project, sync.table.store)
    watermark = WatermarkStore(store).load(sync.table)
    warehouse = open_warehouse(sync.project, sync.table.target)
    try:
        ref = warehouse.ref(*target_table(sync.table, watermark))
        cols = ", ".join(quote_ident(c) for c in columns)
        sql = f"SELECT {cols} FROM {ref}" + (f" WHERE {where}" if where else "")
        rows = warehouse.fetchall(sql + (f" ORDER BY {order}" if order else ""))
        warehouse.commit()
    finally:
        warehouse.close()
    return [tuple(_plain(v) for v in r) for r in rows]


def _plain(value: Any) -> Any:
    if hasattr(value, "tzinfo") and getattr(value, "tzinfo", None) is not None:
        from datetime import UTC

        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _assert_live_rows_are_mysql(mysql, sync: Sync, live: str) -> None:
    """MySQL's rows == the warehouse's rows where `live` IS NULL, row by row."""
    want = read_mysql(mysql, "t", COLUMNS, KEY)
    got = _query(sync, COLUMNS, f"{quote_ident(live)} IS NULL", '"id"')
    assert got == want


def _validate(sync: Sync) -> tuple[str, dict]:
    """`validate`'s verdict and the `row_count_reconciled` check's metadata."""
    store = open_store(sync.project, sync.table.store)
    source = open_source(sync.project, sync.table.source)
    warehouse = open_warehouse(sync.project, sync.table.target)
    try:
        counts = reconcile_table(source, WatermarkStore(store), warehouse, sync.table)
    finally:
        warehouse.close()
        source.close()
    outcome = row_count_check(counts)
    for what, n in counts.rows_kept.items():  # the description says what is kept, and how many
        label = {"rows_soft_deleted": "soft-deleted row(s)", "versions_closed": "closed version(s)"}
        assert f"; {n:,} {label[what]} kept" in outcome.description
    return counts.verdict, outcome.metadata


def _resync(sync: Sync, run_id: str) -> None:
    store = open_store(sync.project, sync.table.store)
    source = open_source(sync.project, sync.table.source)
    warehouse = open_warehouse(sync.project, sync.table.target)
    try:
        resync_table(source, store, warehouse, sync.table, run_id=run_id)
    finally:
        warehouse.close()
        source.close()


def _soft_deleted(sync: Sync) -> dict[int, Row]:
    rows = _query(sync, [*COLUMNS, DELETED_AT], f"{quote_ident(DELETED_AT)} IS NOT NULL")
    return {r[0]: r for r in rows}


@pytest.mark.parametrize("capture", ["cursor", "binlog"])
@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_soft_deletes_keep_deleted_rows_and_bring_keys_back(
    mysql, mysql_db, mysql_sessions, make_project, request, target, capture
):
    _table(mysql)
    sync = _sync(make_project, mysql_db, request, target, capture, deletes="soft")
    sync.run("run-1")
    _assert_live_rows_are_mysql(mysql, sync, DELETED_AT)
    assert _soft_deleted(sync) == {}
    before = {r[0]: r for r in read_mysql(mysql, "t", COLUMNS, KEY)}

    app = mysql_sessions()
    with app.cursor() as cur:
        cur.execute("UPDATE t SET amount = 7.25 WHERE id = 5")
        cur.execute("DELETE FROM t WHERE id IN (3, 7)")
        cur.execute("UPDATE t SET id = 100 WHERE id = 10")  # a key change: 10 leaves
        cur.execute("DELETE FROM t WHERE id = 20")
        cur.execute("DELETE FROM t WHERE id = 15")  # and back before the sync: never deleted
        cur.execute("INSERT INTO t (id, amount, note) VALUES (15, 15.0001, 'at once')")
        cur.execute("INSERT INTO t (id, amount, note) VALUES (300, 3.0003, 'short-lived')")
        cur.execute("DELETE FROM t WHERE id = 300")
    _, loaded = sync.run("run-2")
    _assert_live_rows_are_mysql(mysql, sync, DELETED_AT)
    if capture == "cursor":  # the delete pass counts the rows it marked (its ledger row too)
        assert loaded.rows_deleted == 4
    deleted = _soft_deleted(sync)
    # Exactly the keys deleted; a key inserted and deleted between two syncs is one the binlog
    # saw (kept, deleted) and a cursor never read.
    short_lived = deleted.pop(300, None)
    assert sorted(deleted) == [3, 7, 10, 20]
    assert (short_lived is not None) == (capture == "binlog")
    for key, row in deleted.items():  # the row's last values, and when it was deleted
        assert row[:4] == before[key] and row[4] is not None
    verdict, metadata = _validate(sync)
    assert verdict == "ok" and metadata["rows_soft_deleted"] == 4 + (capture == "binlog")

    with app.cursor() as cur:  # back to life, with new values
        cur.execute("INSERT INTO t (id, amount, note) VALUES (7, 70.0001, 'back again')")
        cur.execute("INSERT INTO t (id, amount, note) VALUES (20, 20.0002, 'back too')")
    sync.run("run-3")
    _assert_live_rows_are_mysql(mysql, sync, DELETED_AT)
    assert sorted(_soft_deleted(sync)) == [3, 10] + ([300] if capture == "binlog" else [])
    whole = _query(sync, [*COLUMNS, DELETED_AT], order='"id"')
    sync.load("run-3")  # the same load again: the ledger has its files
    sync.run("run-4")  # nothing new: nothing changes, deletion times included
    assert _query(sync, [*COLUMNS, DELETED_AT], order='"id"') == whole

    with app.cursor() as cur:
        cur.execute("DELETE FROM t WHERE id = 1")
    _resync(sync, "resync-1")  # the new generation lacks 1, 3 and 10: they stay, deleted
    _assert_live_rows_are_mysql(mysql, sync, DELETED_AT)
    after = _soft_deleted(sync)
    assert sorted(after) == [1, 3, 10] + ([300] if capture == "binlog" else [])
    assert after[3] == whole_by_key(whole)[3]  # its first deletion time is kept
    verdict, metadata = _validate(sync)
    assert verdict == "ok" and metadata["rows_soft_deleted"] == len(after)


def whole_by_key(rows: list[Row]) -> dict[int, Row]:
    return {r[0]: r for r in rows}


def _versions(sync: Sync) -> dict[int, list[Row]]:
    """Each key's versions, oldest first: (amount, note, valid_from, valid_to)."""
    rows = _query(
        sync,
        ["id", "amount", "note", VALID_FROM, VALID_TO],
        order=f'"id", {quote_ident(VALID_FROM)}, {quote_ident(VERSION)}',
    )
    out: dict[int, list[Row]] = {}
    for r in rows:
        out.setdefault(r[0], []).append(r[1:])
    return out


def _assert_intervals(versions: dict[int, list[Row]], gaps: set[int] = frozenset()) -> None:
    """Each key's versions follow one another: a version ends where the next begins (later,
    for a key in `gaps`: deleted, then inserted again); only the last may be open."""
    for key, chain in versions.items():
        for older, newer in zip(chain, chain[1:], strict=False):
            assert older[3] is not None, (key, chain)
            assert older[3] <= newer[2] if key in gaps else older[3] == newer[2], (key, chain)
        assert all(v[2] is not None for v in chain), (key, chain)


@pytest.mark.parametrize("capture", ["cursor", "binlog"])
@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_history_keeps_every_version_with_its_interval(
    mysql, mysql_db, mysql_sessions, make_project, request, target, capture
):
    _table(mysql, rows=10)
    sync = _sync(make_project, mysql_db, request, target, capture, history=True)
    sync.run("run-1")
    _assert_live_rows_are_mysql(mysql, sync, VALID_TO)
    assert all(len(v) == 1 for v in _versions(sync).values())

    app = mysql_sessions()
    with app.cursor() as cur:
        cur.execute("UPDATE t SET amount = 1.25 WHERE id = 1")
        cur.execute("UPDATE t SET note = 'first' WHERE id = 2")
        cur.execute("UPDATE t SET note = 'second' WHERE id = 2")
        cur.execute("DELETE FROM t WHERE id = 3")
        cur.execute("UPDATE t SET id = 40 WHERE id = 4")  # a key change
    sync.run("run-2")
    _assert_live_rows_are_mysql(mysql, sync, VALID_TO)
    versions = _versions(sync)
    _assert_intervals(versions)
    assert [v[:2] for v in versions[1]] == [(_d("1.5"), "zoë 1 😀"), (_d("1.25"), "zoë 1 😀")]
    # A cursor sees the rows present at each sync; the binlog every committed version.
    seen = ["zoë 2 😀", "first", "second"] if capture == "binlog" else ["zoë 2 😀", "second"]
    assert [v[1] for v in versions[2]] == seen
    assert versions[2][-1][3] is None  # current
    assert len(versions[3]) == 1 and versions[3][0][3] is not None  # deleted: closed, none open
    assert len(versions[4]) == 1 and versions[4][0][3] is not None
    assert [v[1] for v in versions[40]] == ["zoë 4 😀"] and versions[40][0][3] is None
    assert all(len(versions[k]) == 1 for k in range(5, 11))  # a re-read opens no version

    with app.cursor() as cur:  # the deleted key comes back: a new current version
        cur.execute("INSERT INTO t (id, amount, note) VALUES (3, 3.0003, 'back')")
    sync.run("run-3")
    whole = _versions(sync)
    assert [v[1] for v in whole[3]] == ["zoë 3 😀", "back"] and whole[3][-1][3] is None
    _assert_live_rows_are_mysql(mysql, sync, VALID_TO)
    sync.load("run-3")  # the same load again: the ledger has its files
    sync.run("run-4")  # nothing new: no version opened or closed
    assert _versions(sync) == whole
    verdict, metadata = _validate(sync)
    closed = sum(1 for chain in whole.values() for v in chain if v[3] is not None)
    assert verdict == "ok" and metadata["versions_closed"] == closed

    _resync(sync, "resync-1")  # every old version kept, the current ones closed at the swap
    _assert_live_rows_are_mysql(mysql, sync, VALID_TO)
    after = _versions(sync)
    _assert_intervals(after, gaps={3})
    for key, chain in whole.items():
        assert [v[:2] for v in after[key][: len(chain)]] == [v[:2] for v in chain]


def _d(text: str) -> Any:
    from decimal import Decimal

    return Decimal(text)


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_a_new_mysql_column_and_a_view_of_the_current_rows_through_a_resync(
    mysql, mysql_db, mysql_sessions, make_project, request, target
):
    """The kept columns are not "gone from MySQL" to the schema preflight; the documented view
    of the current versions survives a resync's swap (load/keep.py)."""
    _table(mysql, rows=5)
    sync = _sync(make_project, mysql_db, request, target, "cursor", history=True)
    sync.run("run-1")
    warehouse = open_warehouse(sync.project, sync.table.target)
    schema, name = target_table(sync.table, None)
    view = warehouse.ref(schema, "t_current")
    try:
        warehouse.execute(
            f'CREATE VIEW {view} AS SELECT "id", "amount", "note", "updated_at" '
            f"FROM {warehouse.ref(schema, name)} WHERE {quote_ident(VALID_TO)} IS NULL"
        )
        warehouse.commit()
    finally:
        warehouse.close()
    with mysql_sessions().cursor() as cur:
        cur.execute("ALTER TABLE t ADD COLUMN extra INT NOT NULL DEFAULT 5")
        cur.execute("UPDATE t SET extra = 6, amount = 9 WHERE id = 2")
        cur.execute("DELETE FROM t WHERE id = 3")
    sync.run("run-2")
    columns = [*COLUMNS, "extra"]
    live = _query(sync, columns, f"{quote_ident(VALID_TO)} IS NULL", '"id"')
    assert live == read_mysql(mysql, "t", columns, KEY)
    assert [v[:2] for v in _versions(sync)[2]] == [(_d("2.5"), "zoë 2 😀"), (_d("9"), "zoë 2 😀")]
    _resync(sync, "resync-1")
    assert _query(sync, columns, f"{quote_ident(VALID_TO)} IS NULL", '"id"') == read_mysql(
        mysql, "t", columns, KEY
    )
    warehouse = open_warehouse(sync.project, sync.table.target)
    try:
        rows = warehouse.fetchall(f'SELECT "id", "amount", "note" FROM {view} ORDER BY "id"')
        warehouse.commit()
    finally:
        warehouse.close()
    assert rows == [r[:3] for r in read_mysql(mysql, "t", COLUMNS, KEY)]


@pytest.mark.parametrize("option", ["soft", "history"])
@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_the_option_turned_on_for_a_table_already_loaded(
    mysql, mysql_db, mysql_sessions, make_project, request, target, option
):
    """The columns are added at the next load; the rows loaded before are live / current."""
    _table(mysql, rows=5)
    sync = _sync(make_project, mysql_db, request, target, "cursor")
    sync.run("run-1")
    on = {"deletes": "soft"} if option == "soft" else {"history": True}
    sync = Sync(sync.project, replace(sync.table, **on))
    with mysql_sessions().cursor() as cur:
        cur.execute("UPDATE t SET amount = 9 WHERE id = 1")
        cur.execute("DELETE FROM t WHERE id = 2")
    sync.run("run-2")
    retired = DELETED_AT if option == "soft" else VALID_TO
    _assert_live_rows_are_mysql(mysql, sync, retired)
    kept = _query(sync, ["id"], f"{quote_ident(retired)} IS NOT NULL", '"id"')
    assert kept == ([(2,)] if option == "soft" else [(1,), (2,)])


class _Crash(RuntimeError):
    pass


@pytest.mark.parametrize("option", ["history", "soft"])
@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_a_failure_before_the_ledger_row_leaves_versions_and_deletions_as_they_were(
    mysql, mysql_db, mysql_sessions, make_project, request, target, option, monkeypatch
):
    """The history merge and the soft delete pass commit with their ledger rows or not at all:
    a failure at the ledger row rolls the closed versions / deletion times back, and the run
    after it applies them once."""
    from mysql_redshift_assets.load import base, deletes

    def crash(*args: Any, **kwargs: Any) -> None:
        raise _Crash("the ledger row fails")

    _table(mysql, rows=5)
    on = {"history": True} if option == "history" else {"deletes": "soft"}
    sync = _sync(make_project, mysql_db, request, target, "cursor", **on)
    sync.run("run-1")
    with mysql_sessions().cursor() as cur:
        cur.execute("UPDATE t SET amount = 9 WHERE id = 1")
        cur.execute("DELETE FROM t WHERE id = 2")
    before = _query(sync, [*COLUMNS, *(n for n, _ in _kept(option))], order='"id"')
    # History: the merge's ledger rows fail; soft deletes: the delete pass's.
    failing = (
        (base.Warehouse, "_record_in_ledger")
        if option == "history"
        else (deletes, "ledger", SimpleNamespace(record_file_sql=crash))  # the pass's alone
    )
    with monkeypatch.context() as patch:
        patch.setattr(*failing) if len(failing) == 3 else patch.setattr(*failing, crash)
        with pytest.raises((_Crash, LoadError), match="the ledger row fails"):
            sync.run("run-2")
    if option == "history":  # the closed version and the new one were rolled back
        assert _query(sync, [*COLUMNS, VALID_FROM, VALID_TO, VERSION], order='"id"') == before
        sync.load("run-3")
        after = _versions(sync)
        assert [len(after[k]) for k in sorted(after)] == [2, 1, 1, 1, 1]
        assert after[2][0][3] is not None  # closed by the pass
        _assert_intervals(after)
        _assert_live_rows_are_mysql(mysql, sync, VALID_TO)
    else:  # the merge committed; the deletion time was rolled back with the pass
        assert _soft_deleted(sync) == {}
        sync.load("run-3")
        assert sorted(_soft_deleted(sync)) == [2]
        _assert_live_rows_are_mysql(mysql, sync, DELETED_AT)


def _kept(option: str) -> list[tuple[str, str]]:
    if option == "history":
        return [(VALID_FROM, ""), (VALID_TO, ""), (VERSION, "")]
    return [(DELETED_AT, "")]
