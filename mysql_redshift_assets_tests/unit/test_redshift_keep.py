"""What a Redshift swap keeps (load/redshift_keep.py): its catalog SQL as exact text, and the
statements produced from rows shaped as the documented columns.

Catalog pages: SVV_RELATION_PRIVILEGES (namespace_name, relation_name, privilege_type,
identity_name, identity_type user/role/group/public, admin_option):
https://docs.aws.amazon.com/redshift/latest/dg/r_SVV_RELATION_PRIVILEGES.html;
SVV_MV_INFO (database_name, schema_name, user_name, name, ...):
https://docs.aws.amazon.com/redshift/latest/dg/r_SVV_MV_INFO.html; SVV_USER_INFO (user_name,
superuser): https://docs.aws.amazon.com/redshift/latest/dg/r_SVV_USER_INFO.html;
obj_description / col_description: https://docs.aws.amazon.com/redshift/latest/dg/r_COMMENT.html;
GRANT ... TO ROLE / GROUP: https://docs.aws.amazon.com/redshift/latest/dg/r_GRANT.html.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from mysql_redshift_assets.load import redshift_keep as rk
from mysql_redshift_assets.load.keep import Grant, Kept
from mysql_redshift_assets.load.redshift import RedshiftWarehouse
from mysql_redshift_assets.load.request import LoadError


def test_catalog_sql_is_exact() -> None:
    assert rk.TABLE_SQL == (
        "SELECT c.oid, TRIM(pg_get_userbyid(c.relowner)), obj_description(c.oid) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s"
    )
    assert rk.DEPENDENTS_SQL == (
        "SELECT DISTINCT r.ev_class FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid "
        "WHERE d.refobjid = %s AND r.ev_class <> %s ORDER BY 1"
    )
    assert rk.GRANTS_SQL == (
        "SELECT privilege_type, identity_name, identity_type, admin_option "
        "FROM svv_relation_privileges WHERE namespace_name = %s AND relation_name = %s "
        "ORDER BY identity_type, identity_name, privilege_type"
    )
    assert rk.MATERIALIZED_SQL == (
        "SELECT TRIM(schema_name), TRIM(name), autorefresh FROM svv_mv_info "
        "WHERE database_name = current_database()"
    )
    assert rk.VIEW_SQL == (
        "SELECT n.nspname, c.relname, c.relkind, pg_get_viewdef(c.oid), "
        "TRIM(pg_get_userbyid(c.relowner)), obj_description(c.oid) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = %s"
    )
    assert rk.LOADER_SQL == (
        "SELECT TRIM(user_name), superuser FROM svv_user_info WHERE user_name = current_user"
    )


class Catalog:
    """Rows by query, as a Redshift cluster would return them for one table `s.t` (oid 10)."""

    def __init__(self, **over: Any) -> None:
        self.rows: dict[tuple[str, tuple[Any, ...]], list[tuple[Any, ...]]] = {
            (rk.TABLE_SQL, ("s", "t")): [(10, "loader", "orders")],
            (rk.LOADER_SQL, ()): [("loader", False)],
            (rk.GRANTS_SQL, ("s", "t")): [
                ("SELECT", "bi", "group", False),
                ("SELECT", "analyst", "role", False),
                ("SELECT", "ana", "user", True),
                ("DELETE", "loader", "user", True),  # the owner's own: not a grant to keep
                ("SELECT", "public", "public", False),
            ],
            (rk.COLUMN_COMMENTS_SQL, (10,)): [("amount", "EUR"), ("gone", "renamed away")],
            (rk.MATERIALIZED_SQL, ()): [],
            # v (11) reads t; vv (12) reads v and t: it comes after v.
            (rk.DEPENDENTS_SQL, (10, 10)): [(11,), (12,)],
            (rk.DEPENDENTS_SQL, (11, 11)): [(12,)],
            (rk.DEPENDENTS_SQL, (12, 12)): [],
            (rk.VIEW_SQL, (11,)): [("s", "v", "v", " SELECT t.id FROM s.t;", "loader", "dash")],
            (rk.VIEW_SQL, (12,)): [("s", "vv", "v", " SELECT v.id FROM s.v;", "loader", None)],
            (rk.GRANTS_SQL, ("s", "v")): [("SELECT", "bi", "group", False)],
            (rk.GRANTS_SQL, ("s", "vv")): [],
        }
        self.rows.update(over)

    def fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return self.rows[(sql, tuple(params))]


def test_views_grants_and_comments_are_kept_in_dependency_order() -> None:
    kept = rk.read_redshift(Catalog().fetch, "s", "t")
    assert kept.drop_statements() == ['DROP VIEW "s"."vv"', 'DROP VIEW "s"."v"']
    assert kept.restore_statements('"s"."t"', ["id", "amount"]) == [
        'GRANT SELECT ON "s"."t" TO GROUP "bi"',
        'GRANT SELECT ON "s"."t" TO ROLE "analyst"',
        'GRANT SELECT ON "s"."t" TO "ana" WITH GRANT OPTION',
        'GRANT SELECT ON "s"."t" TO PUBLIC',
        'COMMENT ON TABLE "s"."t" IS \'orders\'',
        'COMMENT ON COLUMN "s"."t"."amount" IS \'EUR\'',
        'CREATE VIEW "s"."v" AS SELECT t.id FROM s.t',
        'GRANT SELECT ON "s"."v" TO GROUP "bi"',
        'COMMENT ON VIEW "s"."v" IS \'dash\'',
        'CREATE VIEW "s"."vv" AS SELECT v.id FROM s.v',
        'ALTER TABLE "s"."v" OWNER TO "loader"',
        'ALTER TABLE "s"."vv" OWNER TO "loader"',
    ]


def mv_catalog(definition: str | None, owner: str = "loader", auto: str = "t") -> Catalog:
    """s.mv (11) is a materialized view on t; s.vv (12) a view on s.mv. SVV_MV_INFO columns:
    schema_name, name, autorefresh char(1)
    (https://docs.aws.amazon.com/redshift/latest/dg/r_SVV_MV_INFO.html)."""
    catalog = Catalog()
    catalog.rows.update(
        {
            (rk.MATERIALIZED_SQL, ()): [("s", "mv", auto)],
            (rk.DEPENDENTS_SQL, (10, 10)): [(11,)],
            (rk.DEPENDENTS_SQL, (11, 11)): [(12,)],
            (rk.VIEW_SQL, (11,)): [("s", "mv", "v", definition, owner, "daily")],
            (rk.VIEW_SQL, (12,)): [("s", "vv", "v", " SELECT mv.id FROM s.mv;", "loader", None)],
            (rk.GRANTS_SQL, ("s", "mv")): [("SELECT", "bi", "group", False)],
        }
    )
    return catalog


def test_a_materialized_view_and_a_view_on_it_are_kept_in_dependency_order() -> None:
    """pg_get_viewdef gives the DDL the MV was created with (AWS re:Post
    https://repost.aws/questions/QUVNcJX9TYQMSo0lDS2uMcEQ); its name becomes the qualified one,
    its attributes stay, AUTO REFRESH follows SVV_MV_INFO. DROP MATERIALIZED VIEW without
    CASCADE, deepest first; COMMENT ON VIEW (Redshift's COMMENT has no MATERIALIZED VIEW)."""
    ddl = "create materialized view mv backup no sortkey(id) as select id, amount from s.t;"
    kept = rk.read_redshift(mv_catalog(ddl).fetch, "s", "t")
    assert kept.drop_statements() == ['DROP VIEW "s"."vv"', 'DROP MATERIALIZED VIEW "s"."mv"']
    assert kept.restore_statements('"s"."t"', ["id", "amount"])[6:] == [
        'CREATE MATERIALIZED VIEW "s"."mv" backup no sortkey(id) AUTO REFRESH YES AS '
        "select id, amount from s.t",
        'GRANT SELECT ON "s"."mv" TO GROUP "bi"',
        'COMMENT ON VIEW "s"."mv" IS \'daily\'',
        'CREATE VIEW "s"."vv" AS SELECT mv.id FROM s.mv',
        'ALTER TABLE "s"."mv" OWNER TO "loader"',
        'ALTER TABLE "s"."vv" OWNER TO "loader"',
    ]


@pytest.mark.parametrize(
    ("definition", "auto", "expected"),
    [
        # Only the SELECT (as PostgreSQL prints it): one CREATE statement around it.
        (
            " SELECT t.id FROM s.t;",
            "f",
            'CREATE MATERIALIZED VIEW "s"."mv" AS SELECT t.id FROM s.t',
        ),
        (
            " SELECT t.id FROM s.t;",
            "t",
            'CREATE MATERIALIZED VIEW "s"."mv" AUTO REFRESH YES AS SELECT t.id FROM s.t',
        ),
        # The DDL, quoted and qualified, AUTO REFRESH since turned off (ALTER MATERIALIZED VIEW).
        (
            'CREATE MATERIALIZED VIEW "s"."mv" DISTSTYLE KEY DISTKEY(id) AUTO REFRESH YES '
            "AS SELECT id FROM s.t",
            "f",
            'CREATE MATERIALIZED VIEW "s"."mv" DISTSTYLE KEY DISTKEY(id) AS SELECT id FROM s.t',
        ),
    ],
)
def test_the_definition_becomes_one_create_statement(
    definition: str, auto: str, expected: str
) -> None:
    """https://docs.aws.amazon.com/redshift/latest/dg/materialized-view-create-sql-command.html:
    CREATE MATERIALIZED VIEW mv_name [BACKUP] [table_attributes] [AUTO REFRESH] AS query."""
    kept = rk.read_redshift(mv_catalog(definition, auto=auto).fetch, "s", "t")
    assert kept.dependents[0].create_sql() == expected


def test_a_materialized_view_is_refused_before_anything_is_written() -> None:
    """Unreadable definition, or another owner and no superuser: refused, naming the fix."""
    with pytest.raises(LoadError) as err:
        rk.read_redshift(mv_catalog(None).fetch, "s", "t")
    assert str(err.value) == (
        "cannot replace s.t while keeping what depends on it; nothing was written:\n  "
        "materialized view s.mv: pg_get_viewdef gave no definition to create it from; "
        'DROP MATERIALIZED VIEW "s"."mv" before the resync and create it again after'
    )
    catalog = mv_catalog("SELECT id FROM s.t", owner="bob")
    with pytest.raises(LoadError) as err:
        rk.read_redshift(catalog.fetch, "s", "t")
    assert str(err.value) == (
        "cannot replace s.t while keeping what depends on it; nothing was written:\n  "
        "materialized view s.mv belongs to bob, not the loader: only its owner or a superuser "
        'can drop it and create it again; DROP MATERIALIZED VIEW "s"."mv" before the resync and '
        'create it again after, or ALTER TABLE "s"."mv" OWNER TO the loader\'s user, or run the '
        "resync as a superuser"
    )
    # SVV_MV_INFO shows a regular user only its own MVs: bob's is known by its DDL.
    catalog.rows[(rk.MATERIALIZED_SQL, ())] = []
    catalog.rows[(rk.VIEW_SQL, (11,))] = [
        ("s", "mv", "v", "CREATE MATERIALIZED VIEW mv AS SELECT id FROM s.t", "bob", None)
    ]
    with pytest.raises(LoadError, match=r"materialized view s\.mv belongs to bob"):
        rk.read_redshift(catalog.fetch, "s", "t")
    catalog.rows[(rk.LOADER_SQL, ())] = [("loader", True)]
    kept = rk.read_redshift(catalog.fetch, "s", "t")
    assert 'ALTER TABLE "s"."mv" OWNER TO "bob"' in kept.restore_statements('"s"."t"', ["id"])


def test_a_view_owned_by_another_user_is_refused_unless_superuser() -> None:
    catalog = Catalog()
    catalog.rows[(rk.VIEW_SQL, (12,))] = [("s", "vv", "v", "SELECT 1", "bob", None)]
    with pytest.raises(LoadError, match=r"view s\.vv belongs to bob.*WITH NO SCHEMA BINDING"):
        rk.read_redshift(catalog.fetch, "s", "t")
    catalog.rows[(rk.LOADER_SQL, ())] = [("loader", True)]
    kept = rk.read_redshift(catalog.fetch, "s", "t")
    assert kept.restore_statements('"s"."t"', ["id"])[-1] == 'ALTER TABLE "s"."vv" OWNER TO "bob"'


def test_no_table_keeps_nothing_and_comments_double_quotes_and_backslashes() -> None:
    """QUOTE_LITERAL "doubles any embedded single quotation marks and backslashes"
    (https://docs.aws.amazon.com/redshift/latest/dg/r_QUOTE_LITERAL.html)."""
    assert rk.read_redshift(lambda sql, p: [], "s", "t").restore_statements("x", []) == []
    kept = Kept(comment="it's a \\ path", redshift=True)
    assert kept.restore_statements('"s"."t"', []) == [
        "COMMENT ON TABLE \"s\".\"t\" IS 'it''s a \\\\ path'"
    ]


def test_postgres_grants_keep_their_spelling() -> None:
    assert Grant("SELECT", "bi", True).sql("t") == 'GRANT SELECT ON t TO "bi" WITH GRANT OPTION'


def test_the_warehouse_reads_its_catalog() -> None:
    """RedshiftWarehouse no longer inherits the base class's "nothing"."""
    wh = RedshiftWarehouse("rs", connect=lambda: None)
    catalog = Catalog()
    wh.fetchall = catalog.fetch  # type: ignore[method-assign,assignment]
    assert len(wh.kept_objects("s", "t").dependents) == 2
