"""Redshift's catalog SQL where PostgreSQL shares it (pg_class, pg_namespace, pg_attribute,
pg_depend, pg_rewrite, format_type, pg_get_viewdef, obj_description, col_description: the
PostgreSQL catalogs "accessible to Amazon Redshift users",
https://docs.aws.amazon.com/redshift/latest/dg/c_intro_catalog_views.html), run as the exact
text the loader sends to Redshift. The SVV_ views (Redshift only) answer with rows shaped as
their documented columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
import pytest

from mysql_redshift_assets.load import redshift_keep as rk
from mysql_redshift_assets.load.evolve import FORMAT_TYPE_SQL, SqlType, typed_columns
from mysql_redshift_assets_tests.conftest import PG_DB, PG_HOST, PG_PORT, PG_USER


@pytest.fixture
def pg(pg_schema: str):
    with psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=PG_DB, autocommit=True
    ) as conn:
        conn.execute(f'CREATE SCHEMA "{pg_schema}"')
        yield conn


def test_format_type_reads_each_type_with_its_width(pg, pg_schema: str) -> None:
    pg.execute(
        f'CREATE TABLE "{pg_schema}".t (a smallint, b integer, c bigint, d numeric(12,4), '
        "e varchar(40), f char(10), g boolean, h real, i double precision, j date, "
        "k timestamp, l timestamptz, m time, n timetz, o bytea)"
    )
    rows = pg.execute(FORMAT_TYPE_SQL, (pg_schema, "t")).fetchall()
    kinds = {name: t for name, (t, _) in typed_columns(rows).items()}
    assert kinds == {
        "a": SqlType("smallint"),
        "b": SqlType("integer"),
        "c": SqlType("bigint"),
        "d": SqlType("decimal", precision=12, scale=4),
        "e": SqlType("varchar", length=40),
        "f": SqlType("char"),
        "g": SqlType("boolean"),
        "h": SqlType("real"),
        "i": SqlType("double"),
        "j": SqlType("date"),
        "k": SqlType("timestamp"),
        "l": SqlType("timestamptz"),
        "m": SqlType("time"),
        "n": SqlType("timetz"),
        "o": SqlType("binary"),
    }


def test_views_are_found_read_dropped_and_recreated_around_a_swap(pg, pg_schema: str) -> None:
    s = f'"{pg_schema}"'
    pg.execute(f"CREATE TABLE {s}.t (id integer, amount numeric(12,2))")
    pg.execute(f"INSERT INTO {s}.t VALUES (1, 2.50)")
    pg.execute(f"CREATE VIEW {s}.v AS SELECT id, amount FROM {s}.t")
    pg.execute(f"CREATE VIEW {s}.vv AS SELECT v.id FROM {s}.v JOIN {s}.t ON t.id = v.id")
    pg.execute(f"COMMENT ON TABLE {s}.t IS 'orders'")
    pg.execute(f"COMMENT ON COLUMN {s}.t.amount IS 'EUR'")
    pg.execute(f"COMMENT ON VIEW {s}.v IS 'dash'")
    owner = pg.execute("SELECT current_user").fetchone()[0]

    def fetch(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        if "svv_user_info" in sql:  # user_name, superuser
            return [(owner, False)]
        if "svv_" in sql:  # no materialized view; no grant
            return []
        return pg.execute(sql, tuple(params)).fetchall()  # the exact Redshift text

    kept = rk.read_redshift(fetch, pg_schema, "t")
    assert [d.name for d in kept.dependents] == ["v", "vv"]  # vv reads v: after it
    assert kept.comment == "orders" and kept.column_comments == {"amount": "EUR"}
    with pg.transaction():
        for sql in kept.drop_statements():
            pg.execute(sql)
        pg.execute(f"DROP TABLE {s}.t")
        pg.execute(f"CREATE TABLE {s}.t (id integer, amount numeric(12,2))")
        pg.execute(f"INSERT INTO {s}.t VALUES (7, 1.25)")
        for sql in kept.restore_statements(f"{s}.t", ["id", "amount"]):
            pg.execute(sql)
    assert pg.execute(f"SELECT id, amount FROM {s}.v").fetchall() == [(7, pytest.approx(1.25))]
    assert pg.execute(f"SELECT id FROM {s}.vv").fetchall() == [(7,)]
    comments = pg.execute(
        f"SELECT obj_description('{pg_schema}.t'::regclass), "
        f"col_description('{pg_schema}.t'::regclass, 2), "
        f"obj_description('{pg_schema}.v'::regclass)"
    ).fetchone()
    assert comments == ("orders", "EUR", "dash")


def test_a_materialized_view_and_a_view_on_it_survive_a_swap(pg, pg_schema: str) -> None:
    """pg_depend finds the MV and the view on it; pg_get_viewdef on a PostgreSQL MV gives only
    the SELECT, which `mv_create_sql` wraps. SVV_MV_INFO answers (schema_name, name,
    autorefresh). The recreated MV is computed from the new table: no REFRESH."""
    s = f'"{pg_schema}"'
    pg.execute(f"CREATE TABLE {s}.t (id integer, amount numeric(12,2))")
    pg.execute(f"INSERT INTO {s}.t VALUES (1, 2.50)")
    pg.execute(f"CREATE MATERIALIZED VIEW {s}.mv AS SELECT id, amount * 2 AS twice FROM {s}.t")
    pg.execute(f"CREATE VIEW {s}.vv AS SELECT mv.id, mv.twice FROM {s}.mv")
    owner = pg.execute("SELECT current_user").fetchone()[0]

    def fetch(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        if "svv_user_info" in sql:
            return [(owner, False)]
        if "svv_mv_info" in sql:
            return [(pg_schema, "mv", "f")]
        if "svv_" in sql:  # no grant
            return []
        return pg.execute(sql, tuple(params)).fetchall()

    kept = rk.read_redshift(fetch, pg_schema, "t")
    assert [(d.name, d.materialized) for d in kept.dependents] == [("mv", True), ("vv", False)]
    assert kept.drop_statements() == [
        f'DROP VIEW {s}."vv"',
        f'DROP MATERIALIZED VIEW {s}."mv"',
    ]
    with pg.transaction():
        for sql in kept.drop_statements():
            pg.execute(sql)
        pg.execute(f"DROP TABLE {s}.t")
        pg.execute(f"CREATE TABLE {s}.t (id integer, amount numeric(12,2))")
        pg.execute(f"INSERT INTO {s}.t VALUES (7, 1.25), (8, 3.00)")
        for sql in kept.restore_statements(f"{s}.t", ["id", "amount"]):
            pg.execute(sql)
    assert pg.execute(f"SELECT id, twice FROM {s}.mv ORDER BY id").fetchall() == [
        (7, pytest.approx(2.5)),
        (8, pytest.approx(6.0)),
    ]
    assert pg.execute(f"SELECT id FROM {s}.vv ORDER BY id").fetchall() == [(7,), (8,)]
    kind = pg.execute(
        "SELECT relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = 'mv'",
        (pg_schema,),
    ).fetchone()
    assert kind == ("m",)
