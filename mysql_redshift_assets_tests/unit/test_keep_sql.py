"""The statements a swap runs to keep what depends on the table (load/keep.py), as exact text."""

from __future__ import annotations

from mysql_redshift_assets.load.keep import Dependent, Grant, Kept, literal


def _view(name: str, materialized: bool = False, **kw) -> Dependent:
    base = dict(definition=" SELECT id FROM s.t;", options=(), populated=True, owner="ana",
                grants=(), comment=None, indexes=())  # fmt: skip
    return Dependent("s", name, materialized, **{**base, **kw})  # type: ignore[arg-type]


def test_comments_are_escape_string_literals() -> None:
    assert literal("it's a \\ path") == "E'it''s a \\\\ path'"


def test_views_are_dropped_deepest_first_and_recreated_in_dependency_order() -> None:
    kept = Kept(
        owner="ana",
        grants=[Grant("SELECT", "bi", True), Grant("UPDATE", None, False)],
        comment="orders",
        column_comments={"amount": "EUR", "gone": "renamed away"},
        dependents=[
            _view("v", options=("check_option=local",), comment="dash",
                  grants=(Grant("SELECT", "bi", False),)),
            _view("mv", True, populated=False, indexes=('CREATE INDEX i ON s.mv USING btree (id)',)),
            _view("vv", definition="SELECT id FROM s.v"),
        ],
    )  # fmt: skip
    assert kept.drop_statements() == [
        'DROP VIEW "s"."vv"',
        'DROP MATERIALIZED VIEW "s"."mv"',
        'DROP VIEW "s"."v"',
    ]
    assert kept.restore_statements('"s"."t"', ["id", "amount"]) == [
        'GRANT SELECT ON "s"."t" TO "bi" WITH GRANT OPTION',
        'GRANT UPDATE ON "s"."t" TO PUBLIC',
        'COMMENT ON TABLE "s"."t" IS E\'orders\'',
        'COMMENT ON COLUMN "s"."t"."amount" IS E\'EUR\'',
        'CREATE VIEW "s"."v" WITH (check_option=local) AS SELECT id FROM s.t',
        'GRANT SELECT ON "s"."v" TO "bi"',
        'COMMENT ON VIEW "s"."v" IS E\'dash\'',
        'CREATE MATERIALIZED VIEW "s"."mv" AS SELECT id FROM s.t WITH NO DATA',
        "CREATE INDEX i ON s.mv USING btree (id)",
        'CREATE VIEW "s"."vv" AS SELECT id FROM s.v',
        'ALTER VIEW "s"."v" OWNER TO "ana"',
        'ALTER MATERIALIZED VIEW "s"."mv" OWNER TO "ana"',
        'ALTER VIEW "s"."vv" OWNER TO "ana"',
        'ALTER TABLE "s"."t" OWNER TO "ana"',
    ]


def test_nothing_to_keep_adds_no_statement() -> None:
    assert Kept().drop_statements() == []
    assert Kept().restore_statements('"s"."t"', ["id"]) == []


def test_the_ledger_clock_is_a_required_argument() -> None:
    """Item 6: no default CURRENT_TIMESTAMP for a caller (the swap did) to fall back to;
    Redshift documents it as a deprecated leader-node-only function
    (https://docs.aws.amazon.com/redshift/latest/dg/Date_functions_header.html)."""
    import inspect

    from mysql_redshift_assets.load import ledger

    now = inspect.signature(ledger.record_file_sql).parameters["now"]
    assert now.default is inspect.Parameter.empty
