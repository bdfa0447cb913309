"""What users built on a table, kept across a swap that replaces it (`swap.py`: resync, a full
table's reshape): the views and materialized views that depend on it, its grants, its owner and
its comments.

PostgreSQL refuses `DROP TABLE` while a view or materialized view depends on it, and a dropped
table takes its grants and comments with it
(https://www.postgresql.org/docs/15/sql-droptable.html, "DROP TABLE always removes any indexes,
rules, triggers, and constraints that exist for the target table ... to drop a table that is
referenced by a view ... CASCADE must be specified"); Redshift has the same rule
(https://docs.aws.amazon.com/redshift/latest/dg/r_DROP_TABLE.html, RESTRICT is the default).
So, inside the swap's transaction and under its lock, before anything is written:

    read     every view / materialized view that depends on the table (transitively), with its
             definition, options, owner, grants, comment and (materialized) indexes; the table's
             owner, grants and comments
    refuse   if a dependent cannot be recreated (another kind of object, or an owner the loader
             cannot act as): LoadError naming each object and the fix; nothing was written
    drop     the dependents, deepest first (no CASCADE: only what was read is dropped)
    swap     DROP TABLE target; ALTER TABLE side RENAME TO target
    restore  the dependents in dependency order from their definitions, their owner, grants,
             comment and indexes; the table's grants, owner and comments

One transaction: readers see the old table and the old views until COMMIT.

PostgreSQL reads its catalog in `read_postgres` below, Redshift in `redshift_keep.py` (its own
catalogs: SVV_RELATION_PRIVILEGES for grants, no `aclexplode`; a materialized view's whole
CREATE statement from pg_get_viewdef);
DuckDB needs nothing (no grants; its views bind by name when queried).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mysql_redshift_assets.identifiers import quote_ident
from mysql_redshift_assets.load.request import LoadError


@dataclass(frozen=True)
class Grant:
    privilege: str  # SELECT, INSERT, ...
    grantee: str | None  # None: PUBLIC
    grantable: bool
    # Redshift grants to a user, a ROLE or a GROUP, each spelled in GRANT
    # (https://docs.aws.amazon.com/redshift/latest/dg/r_GRANT.html); PostgreSQL: roles only.
    kind: str = "user"  # user | role | group

    def sql(self, ref: str) -> str:
        if self.grantee is None:
            to = "PUBLIC"
        else:
            prefix = {"role": "ROLE ", "group": "GROUP "}.get(self.kind, "")
            to = prefix + quote_ident(self.grantee)
        option = " WITH GRANT OPTION" if self.grantable else ""
        return f"GRANT {self.privilege} ON {ref} TO {to}{option}"


@dataclass(frozen=True)
class Dependent:
    """A view or materialized view on the table (or on such a view)."""

    schema: str
    name: str
    materialized: bool
    definition: str  # the SELECT, as the catalog prints it
    options: tuple[str, ...]  # e.g. check_option=local, security_barrier=true
    populated: bool
    owner: str
    grants: tuple[Grant, ...]
    comment: str | None
    indexes: tuple[str, ...]  # CREATE INDEX statements (materialized views)
    # Redshift: the whole CREATE MATERIALIZED VIEW statement (its BACKUP, DISTKEY / SORTKEY and
    # AUTO REFRESH clauses), read by `redshift_keep.py`; it has no WITH [NO] DATA.
    ddl: str | None = None

    @property
    def ref(self) -> str:
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}"

    @property
    def kind(self) -> str:
        return "MATERIALIZED VIEW" if self.materialized else "VIEW"

    def create_sql(self) -> str:
        if self.ddl is not None:
            return self.ddl
        options = f" WITH ({', '.join(self.options)})" if self.options else ""
        body = self.definition.strip().rstrip(";")
        data = (" WITH DATA" if self.populated else " WITH NO DATA") if self.materialized else ""
        return f"CREATE {self.kind} {self.ref}{options} AS {body}{data}"


@dataclass
class Kept:
    """Read before the swap; restored after it."""

    owner: str | None = None  # the table's owner when it is not the loader
    grants: list[Grant] = field(default_factory=list)
    comment: str | None = None
    column_comments: dict[str, str] = field(default_factory=dict)
    dependents: list[Dependent] = field(default_factory=list)  # dependency order
    # Redshift's words (`redshift_keep.py`): an owner is changed with ALTER TABLE, views too,
    # and a comment is a plain string constant (no E'' form).
    redshift: bool = False

    def drop_statements(self) -> list[str]:
        return [f"DROP {d.kind} {d.ref}" for d in reversed(self.dependents)]

    def restore_statements(self, target: str, columns: Sequence[str]) -> list[str]:
        """`target`: the swapped-in table's reference; `columns`: its columns (a comment on a
        column the new table no longer has is not restored)."""
        text_of = plain_literal if self.redshift else literal
        out = [g.sql(target) for g in self.grants]
        if self.comment is not None:
            out.append(f"COMMENT ON TABLE {target} IS {text_of(self.comment)}")
        for col, text in self.column_comments.items():
            if col in columns:
                out.append(f"COMMENT ON COLUMN {target}.{quote_ident(col)} IS {text_of(text)}")
        for d in self.dependents:
            out.append(d.create_sql())
            out.extend(d.indexes)
            out.extend(g.sql(d.ref) for g in d.grants)
            if d.comment is not None:
                # Redshift's COMMENT has no MATERIALIZED VIEW form: TABLE, COLUMN, CONSTRAINT,
                # DATABASE, VIEW (https://docs.aws.amazon.com/redshift/latest/dg/r_COMMENT.html).
                kind = "VIEW" if self.redshift else d.kind
                out.append(f"COMMENT ON {kind} {d.ref} IS {text_of(d.comment)}")
        # Owners last: once a view belongs to another role, the loader may no longer grant on it.
        for d in self.dependents:
            kind = "TABLE" if self.redshift else d.kind
            out.append(f"ALTER {kind} {d.ref} OWNER TO {quote_ident(d.owner)}")
        if self.owner is not None:
            out.append(f"ALTER TABLE {target} OWNER TO {quote_ident(self.owner)}")
        return out

    def restore(self, warehouse: Any, target: str, columns: Sequence[str], what: str) -> None:
        """Run `restore_statements`; a view that no longer fits the new table (it reads a column
        MySQL renamed or dropped) raises LoadError naming it, and the caller's transaction rolls
        the whole swap back."""
        for sql in self.restore_statements(target, columns):
            try:
                warehouse.execute(sql)
            except Exception as exc:
                raise LoadError(
                    f"swap into {warehouse.name}:{what} rolled back, the old table and views are "
                    f"unchanged: `{sql}` failed ({type(exc).__name__}: {exc}). Change or drop "
                    "that view (it no longer fits the table's new columns), then run again"
                ) from exc


def literal(text: str) -> str:
    """A string constant for COMMENT, which takes no bound parameter (a utility statement):
    the escape-string form, whatever `standard_conforming_strings` says
    (https://www.postgresql.org/docs/15/sql-syntax-lexical.html#SQL-SYNTAX-STRINGS-ESCAPE)."""
    return "E'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def plain_literal(text: str) -> str:
    """Redshift's string constant, as its QUOTE_LITERAL builds one: it "doubles any embedded
    single quotation marks and backslashes"
    (https://docs.aws.amazon.com/redshift/latest/dg/r_QUOTE_LITERAL.html)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


# -- PostgreSQL's catalogs -----------------------------------------------------------------------
# Views and materialized views are a relation plus an ON SELECT rule (pg_rewrite); the rule
# depends on every relation it reads (https://www.postgresql.org/docs/15/catalog-pg-depend.html).
_DEPENDENTS = """
WITH RECURSIVE deps(oid, depth) AS (
    SELECT r.ev_class, 1 FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
    WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
      AND d.refobjid = %s AND r.ev_class <> %s
    UNION
    SELECT r.ev_class, deps.depth + 1 FROM deps
    JOIN pg_depend d ON d.refobjid = deps.oid AND d.refclassid = 'pg_class'::regclass
      AND d.classid = 'pg_rewrite'::regclass
    JOIN pg_rewrite r ON r.oid = d.objid AND r.ev_class <> deps.oid
)
SELECT c.oid, n.nspname, c.relname, c.relkind = 'm', pg_get_viewdef(c.oid),
       coalesce(c.reloptions, '{}'), coalesce(m.ispopulated, true),
       pg_get_userbyid(c.relowner), pg_has_role(c.relowner, 'MEMBER'),
       has_schema_privilege(c.relowner, c.relnamespace, 'CREATE'),
       obj_description(c.oid, 'pg_class'), max(deps.depth)
FROM deps JOIN pg_class c ON c.oid = deps.oid JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_matviews m ON m.schemaname = n.nspname AND m.matviewname = c.relname
GROUP BY c.oid, n.nspname, c.relname, c.relkind, c.reloptions, m.ispopulated, c.relowner,
         c.relnamespace
ORDER BY max(deps.depth), n.nspname, c.relname
"""
# Anything else that would block the DROP: a normal dependency that is not a view's rule
# (a foreign key from another table, a function's SQL body, ...).
_OTHER_BLOCKERS = """
SELECT pg_describe_object(d.classid, d.objid, d.objsubid) FROM pg_depend d
WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = ANY(%s) AND d.deptype = 'n'
  AND d.classid <> 'pg_rewrite'::regclass
  AND NOT (d.classid = 'pg_class'::regclass AND d.objid = ANY(%s))
ORDER BY 1
"""
_GRANTS = """
SELECT a.privilege_type, CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END,
       a.is_grantable
FROM pg_class c, aclexplode(c.relacl) a
WHERE c.oid = %s AND a.grantee <> c.relowner ORDER BY 2, 1
"""
_TABLE = """
SELECT c.oid, pg_get_userbyid(c.relowner), c.relowner = (SELECT oid FROM pg_roles
       WHERE rolname = current_user), obj_description(c.oid, 'pg_class')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relname = %s
"""
_COLUMN_COMMENTS = """
SELECT a.attname, col_description(a.attrelid, a.attnum) FROM pg_attribute a
WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped
  AND col_description(a.attrelid, a.attnum) IS NOT NULL ORDER BY a.attnum
"""
_INDEXES = "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = %s ORDER BY 1"


def read_postgres(warehouse: Any, schema: str, name: str) -> Kept:
    """Read what the swap must keep of `schema.name` (PostgreSQL); LoadError if some of it
    cannot be kept."""
    rows = warehouse.fetchall(_TABLE, (schema, name))
    if not rows:
        return Kept()
    oid, owner, loader_owns, comment = rows[0]
    kept = Kept(owner=None if loader_owns else owner, comment=comment)
    kept.grants = _grants(warehouse, oid)
    kept.column_comments = dict(warehouse.fetchall(_COLUMN_COMMENTS, (oid,)))
    refused: list[str] = []
    oids = [oid]
    for row in warehouse.fetchall(_DEPENDENTS, (oid, oid)):
        d_oid, d_schema, d_name, mat, definition, options, populated, d_owner = row[:8]
        can_act_as, owner_can_create, d_comment = row[8:11]
        oids.append(d_oid)
        dependent = Dependent(
            d_schema, d_name, mat, definition, tuple(options), populated, d_owner,
            tuple(_grants(warehouse, d_oid)), d_comment,
            tuple(r[0] for r in warehouse.fetchall(_INDEXES, (d_oid,))) if mat else (),
        )  # fmt: skip
        kept.dependents.append(dependent)
        if not can_act_as:
            refused.append(
                f"{dependent.kind.lower()} {d_schema}.{d_name} belongs to {d_owner}, which the "
                f"loader cannot act as: GRANT {quote_ident(d_owner)} TO the loader's user, or "
                f"DROP {dependent.kind} {dependent.ref} first"
            )
        elif not owner_can_create:
            refused.append(
                f"{dependent.kind.lower()} {d_schema}.{d_name} belongs to {d_owner}, which lacks "
                f"CREATE on schema {d_schema} (needed to give it back its view): GRANT CREATE ON "
                f"SCHEMA {quote_ident(d_schema)} TO {quote_ident(d_owner)}"
            )
    for (what,) in warehouse.fetchall(_OTHER_BLOCKERS, (oids, oids)):
        refused.append(f"{what} depends on it and cannot be recreated by the loader: drop it first")
    if refused:
        raise LoadError(
            f"cannot replace {schema}.{name} while keeping what depends on it; nothing was "
            "written:\n  " + "\n  ".join(refused)
        )
    return kept


def _grants(warehouse: Any, oid: int) -> list[Grant]:
    return [Grant(p, g, bool(o)) for p, g, o in warehouse.fetchall(_GRANTS, (oid,))]
