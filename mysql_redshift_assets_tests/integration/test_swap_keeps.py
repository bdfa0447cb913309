"""Issue 24, item 1: a swap (resync, a full table's reshape) keeps what users built on the table:
views, a view on a view, a materialized view, grants to another role, owners and comments.
The loader runs as a non-superuser on PostgreSQL, owning what it creates, as on Redshift; the
views belong to an analyst role the loader is a member of. Item 6: the swap's ledger rows use
the dialect's clock.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import psycopg
import pytest

from mysql_redshift_assets.connect import open_warehouse
from mysql_redshift_assets.load import evolve
from mysql_redshift_assets.load.postgres import PostgresWarehouse
from mysql_redshift_assets.load.request import LoadError
from mysql_redshift_assets.targets import POSTGRES
from mysql_redshift_assets_tests.conftest import PG_DB, PG_HOST, PG_PORT, PG_USER, pg_query
from mysql_redshift_assets_tests.exactness import Sync, assert_same_rows
from mysql_redshift_assets_tests.integration.test_resync import (
    COLUMNS,
    RENAMED,
    _create,
    _rename,
    resync,
)

pytestmark = [pytest.mark.mariadb]


@dataclass
class Roles:
    loader: str
    analyst: str
    reader: str
    outsider: str


def _admin() -> psycopg.Connection[Any]:
    return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_DB, autocommit=True)


@pytest.fixture
def roles(pg_schema: str) -> Iterator[Roles]:
    tag = uuid.uuid4().hex[:8]
    r = Roles(f"mra_loader_{tag}", f"mra_analyst_{tag}", f"mra_reader_{tag}", f"mra_out_{tag}")
    with _admin() as conn:
        conn.execute(f'CREATE ROLE "{r.loader}" LOGIN')
        conn.execute(f'GRANT CREATE ON DATABASE "{PG_DB}" TO "{r.loader}"')
        for role in (r.analyst, r.reader, r.outsider):
            conn.execute(f'CREATE ROLE "{role}"')
        conn.execute(f'GRANT "{r.analyst}" TO "{r.loader}"')  # the docs' advice
    try:
        yield r
    finally:
        with _admin() as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{pg_schema}" CASCADE')
            for role in (r.analyst, r.reader, r.outsider, r.loader):
                conn.execute(f'DROP OWNED BY "{role}"')
                conn.execute(f'DROP ROLE "{role}"')


@pytest.fixture(params=["duckdb", "postgres"])
def target(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "duckdb":
        return {"target": "duckdb"}
    roles: Roles = request.getfixturevalue("roles")
    schema = request.getfixturevalue("pg_schema")
    return {"target": "postgres", "target_schema": schema, "pg_user": roles.loader}


def build_on_it(sync: Sync, request: pytest.FixtureRequest) -> None:
    """What analysts build on the loaded table."""
    s = sync.table.target_schema
    views = [
        f'CREATE VIEW "{s}".v_orders AS SELECT id, amount FROM "{s}".orders',
        f'CREATE VIEW "{s}".v_big AS SELECT id FROM "{s}".v_orders WHERE amount > 30',
    ]
    if sync.table.target == "duckdb":
        warehouse = open_warehouse(sync.project, sync.table.target)
        try:
            for sql in views:
                warehouse.execute(sql)
            warehouse.commit()
        finally:
            warehouse.close()
        return
    r: Roles = request.getfixturevalue("roles")
    with _admin() as conn:
        for role in (r.analyst, r.reader):
            conn.execute(f'GRANT USAGE ON SCHEMA "{s}" TO "{role}"')
            conn.execute(f'GRANT SELECT ON "{s}".orders TO "{role}"')
        conn.execute(f'GRANT CREATE ON SCHEMA "{s}" TO "{r.analyst}"')
        conn.execute(f"COMMENT ON TABLE \"{s}\".orders IS 'MySQL orders, it''s synced'")
        conn.execute(f"COMMENT ON COLUMN \"{s}\".orders.amount IS 'in EUR'")
        conn.execute(f'SET ROLE "{r.analyst}"')
        for sql in views:
            conn.execute(sql)
        conn.execute(
            f'CREATE MATERIALIZED VIEW "{s}".mv_total AS '
            f'SELECT count(*) AS n, sum(amount) AS total FROM "{s}".orders'
        )
        conn.execute(f'CREATE INDEX ON "{s}".mv_total (n)')
        conn.execute(f'GRANT SELECT ON "{s}".v_orders, "{s}".v_big, "{s}".mv_total TO "{r.reader}"')
        conn.execute(f"COMMENT ON VIEW \"{s}\".v_orders IS 'for the dashboard'")
        conn.execute("RESET ROLE")


def check_kept(
    mysql, sync: Sync, request: pytest.FixtureRequest, mv_total: tuple[Any, ...] | None = None
) -> None:
    """The views answer with the new rows; on PostgreSQL the reader can still read the table
    and every view, and the owners, grants, comments and the index are there. The materialized
    view holds MySQL's total, or `mv_total` (what it was filled with, when rows came after)."""
    s = sync.table.target_schema
    with mysql.cursor() as cur:
        cur.execute("SELECT id, amount FROM orders ORDER BY id")
        want = [(i, a) for i, a in cur.fetchall()]
        cur.execute("SELECT count(*), sum(amount) FROM orders")
        want_total = mv_total or tuple(cur.fetchone())
    big = [(i,) for i, a in want if a > 30]
    if sync.table.target == "duckdb":
        warehouse = open_warehouse(sync.project, sync.table.target)
        try:
            got = warehouse.fetchall(f'SELECT id, amount FROM "{s}".v_orders ORDER BY 1')
            assert got == want
            assert warehouse.fetchall(f'SELECT id FROM "{s}".v_big ORDER BY 1') == big
        finally:
            warehouse.close()
        return
    r: Roles = request.getfixturevalue("roles")
    with _admin() as conn:
        conn.execute(f'SET ROLE "{r.reader}"')
        assert conn.execute(f'SELECT id, amount FROM "{s}".v_orders ORDER BY 1').fetchall() == want
        assert conn.execute(f'SELECT id FROM "{s}".v_big ORDER BY 1').fetchall() == big
        assert conn.execute(f'SELECT n, total FROM "{s}".mv_total').fetchone() == want_total
        assert conn.execute(f'SELECT count(*) FROM "{s}".orders').fetchone() == (len(want),)
        conn.execute("RESET ROLE")
        owners = conn.execute(
            "SELECT c.relname, pg_get_userbyid(c.relowner), obj_description(c.oid, 'pg_class') "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'v', 'm') AND c.relname <> "
            "'mysql_redshift_loads' ORDER BY 1",
            (s,),
        ).fetchall()
        assert owners == [
            ("mv_total", r.analyst, None),
            ("orders", r.loader, "MySQL orders, it's synced"),
            ("v_big", r.analyst, None),
            ("v_orders", r.analyst, "for the dashboard"),
        ]
        comment = conn.execute(
            f"SELECT col_description('\"{s}\".orders'::regclass, 2)"  # amount
        ).fetchone()
        assert comment == ("in EUR",)
        indexes = conn.execute("SELECT count(*) FROM pg_indexes WHERE schemaname = %s "
                               "AND tablename = 'mv_total'", (s,)).fetchone()  # fmt: skip
        assert indexes == (1,)


def test_a_resync_keeps_the_views_grants_owners_and_comments(
    mysql, mysql_db, make_project, target, request
) -> None:
    _create(mysql)
    sync = Sync.of(make_project, mysql_db, "orders", {"cursor": "updated_at"}, **target)
    sync.run("first")
    build_on_it(sync, request)
    _rename(mysql)
    with mysql.cursor() as cur:
        cur.execute("DELETE FROM orders WHERE id > 50")
    resync(sync)
    check_kept(mysql, sync, request)
    assert_same_rows(mysql, sync, RENAMED, ["id"])
    sync.run("after")  # the next sync loads into the swapped-in table as before
    assert_same_rows(mysql, sync, RENAMED, ["id"])


def test_a_full_tables_reshape_swap_keeps_them_too(
    mysql, mysql_db, make_project, target, request
) -> None:
    _create(mysql)
    sync = Sync.of(make_project, mysql_db, "orders", {"mode": "full"}, **target)
    sync.run("first")
    build_on_it(sync, request)
    _rename(mysql)
    sync.run("second")  # the rename is refused as an ALTER: the table is swapped in whole
    check_kept(mysql, sync, request)
    assert_same_rows(mysql, sync, RENAMED, ["id"])


def test_a_view_the_loader_cannot_recreate_refuses_before_anything_is_written(
    mysql, mysql_db, make_project, roles: Roles, pg_schema: str
) -> None:
    _create(mysql)
    target = {"target": "postgres", "target_schema": pg_schema, "pg_user": roles.loader}
    sync = Sync.of(make_project, mysql_db, "orders", {"cursor": "updated_at"}, **target)
    sync.run("first")
    with _admin() as conn:  # a superuser's view: the loader is no member of its owner
        conn.execute(f'CREATE VIEW "{pg_schema}".v_admin AS SELECT id FROM "{pg_schema}".orders')
    before = sync.warehouse_rows(COLUMNS, ["id"])
    _rename(mysql)
    with pytest.raises(LoadError) as refused:
        resync(sync)
    message = str(refused.value)
    assert f"view {pg_schema}.v_admin belongs to {PG_USER}" in message
    assert f'GRANT "{PG_USER}" TO' in message and "nothing was written" in message
    assert f'DROP VIEW "{pg_schema}"."v_admin" first' in message
    assert sync.warehouse_rows(COLUMNS, ["id"]) == before  # the old table, still readable
    with _admin() as conn:
        assert conn.execute(f'SELECT count(*) FROM "{pg_schema}".v_admin').fetchone() == (60,)


def test_the_swap_writes_the_ledger_time_with_the_dialects_clock(
    mysql, orders_pg: Sync, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 6: Redshift's GETDATE() (`now_sql`), not a default CURRENT_TIMESTAMP."""
    monkeypatch.setattr(PostgresWarehouse, "now_sql", "TIMESTAMP '2001-02-03 04:05:06'")
    _rename(mysql)
    resync(orders_pg)
    warehouse = open_warehouse(orders_pg.project, orders_pg.table.target)
    try:
        times = warehouse.fetchall(
            f"SELECT DISTINCT CAST(loaded_at AS TEXT) FROM "
            f"{warehouse.ledger(orders_pg.table.target_schema)} WHERE run_id = 'resync-1'"
        )
    finally:
        warehouse.close()
    assert times == [("2001-02-03 04:05:06",)]


@pytest.fixture
def orders_pg(mysql, mysql_db, make_project, pg_schema: str) -> Sync:
    _create(mysql)
    target = {"target": "postgres", "target_schema": pg_schema}
    sync = Sync.of(make_project, mysql_db, "orders", {"cursor": "updated_at"}, **target)
    sync.run("first")
    return sync


def test_a_resync_keeps_the_grants_and_owner_of_a_table_no_view_depends_on(
    mysql, mysql_db, make_project, roles: Roles, pg_schema: str
) -> None:
    """Without a view the old DROP succeeded, and took the grants with it: "permission denied"
    for every dashboard after a resync. The table handed to another role stays that role's."""
    _create(mysql)
    target = {"target": "postgres", "target_schema": pg_schema, "pg_user": roles.loader}
    sync = Sync.of(make_project, mysql_db, "orders", {"cursor": "updated_at"}, **target)
    sync.run("first")
    with _admin() as conn:
        conn.execute(f'GRANT USAGE ON SCHEMA "{pg_schema}" TO "{roles.reader}", PUBLIC')
        conn.execute(f'GRANT SELECT ON "{pg_schema}".orders TO "{roles.reader}" WITH GRANT OPTION')
        conn.execute(f'GRANT UPDATE ON "{pg_schema}".orders TO PUBLIC')
        conn.execute(f'GRANT CREATE ON SCHEMA "{pg_schema}" TO "{roles.analyst}"')
        conn.execute(f'ALTER TABLE "{pg_schema}".orders OWNER TO "{roles.analyst}"')
    acl = "SELECT relacl::text, pg_get_userbyid(relowner) FROM pg_class WHERE oid = %s::regclass"
    with _admin() as conn:
        before = conn.execute(acl, (f'"{pg_schema}".orders',)).fetchone()
    _rename(mysql)
    resync(sync)
    with _admin() as conn:
        assert conn.execute(acl, (f'"{pg_schema}".orders',)).fetchone() == before
        conn.execute(f'SET ROLE "{roles.reader}"')
        assert conn.execute(f'SELECT count(*) FROM "{pg_schema}".orders').fetchone() == (60,)
    assert_same_rows(mysql, sync, RENAMED, ["id"])


def test_a_view_that_no_longer_fits_rolls_the_resync_back_naming_it(
    mysql, mysql_db, make_project, roles: Roles, pg_schema: str
) -> None:
    _create(mysql)
    target = {"target": "postgres", "target_schema": pg_schema, "pg_user": roles.loader}
    sync = Sync.of(make_project, mysql_db, "orders", {"cursor": "updated_at"}, **target)
    sync.run("first")
    with _admin() as conn:
        conn.execute(f'GRANT CREATE, USAGE ON SCHEMA "{pg_schema}" TO "{roles.analyst}"')
        conn.execute(f'GRANT SELECT ON "{pg_schema}".orders TO "{roles.analyst}"')
        conn.execute(f'SET ROLE "{roles.analyst}"')
        conn.execute(f'CREATE VIEW "{pg_schema}".v_notes AS SELECT note FROM "{pg_schema}".orders')
    before = sync.warehouse_rows(COLUMNS, ["id"])
    _rename(mysql)  # note -> remark: the view cannot be recreated on the new table
    with pytest.raises(LoadError) as refused:
        resync(sync)
    message = str(refused.value)
    assert f'CREATE VIEW "{pg_schema}"."v_notes"' in message and "Change or drop" in message
    assert sync.warehouse_rows(COLUMNS, ["id"]) == before
    with _admin() as conn:
        assert conn.execute(f'SELECT count(*) FROM "{pg_schema}".v_notes').fetchone() == (60,)


def test_a_rebuild_keeps_them_too(
    mysql, mysql_db, make_project, roles: Roles, pg_schema: str, request, monkeypatch
) -> None:
    """Redshift's rebuild (a widening ALTER COLUMN TYPE cannot make) run on PostgreSQL: its
    record made to widen only VARCHAR in place, as Redshift's does."""
    real = evolve.dialect_of
    redshift_like = replace(POSTGRES, type_changes_in_place=frozenset({"varchar"}))
    monkeypatch.setattr(
        evolve, "dialect_of", lambda k: redshift_like if k == "postgres" else real(k)
    )
    _create(mysql)
    target = {"target": "postgres", "target_schema": pg_schema, "pg_user": roles.loader}
    sync = Sync.of(make_project, mysql_db, "orders", {"cursor": "updated_at"}, **target)
    sync.run("first")
    build_on_it(sync, request)
    with mysql.cursor() as cur:
        cur.execute("SELECT count(*), sum(amount) FROM orders")
        filled = tuple(cur.fetchone())  # the rebuild refills the MV before the load's rows
        cur.execute("ALTER TABLE orders MODIFY amount DECIMAL(14,2)")
        cur.execute(
            "UPDATE orders SET amount = 123456789012.25, updated_at = '2024-08-01' WHERE id = 7"
        )
    oid = lambda: pg_query("SELECT %s::regclass::oid", (f'"{pg_schema}".orders',))  # noqa: E731
    before = oid()
    sync.run("widened")
    assert oid() != before  # rebuilt (a new table), not altered in place
    check_kept(mysql, sync, request, mv_total=filled)
    assert_same_rows(mysql, sync, COLUMNS, ["id"])
