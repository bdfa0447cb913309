"""What a swap keeps of a Redshift table (`keep.py` has the algorithm and the records): its
schema-bound views, grants, owner and comments, read from Redshift's catalogs.

Redshift cannot run here: each query is exact text (`unit/test_redshift_keep.py`) and the
decisions are pure functions fed with rows shaped as the documented columns.

    views          pg_depend / pg_rewrite, the PostgreSQL catalogs "accessible to Amazon Redshift
                   users" (https://docs.aws.amazon.com/redshift/latest/dg/c_intro_catalog_views.html);
                   a view's SELECT from pg_get_viewdef, as AWS's own admin view
                   v_generate_view_ddl reads it (awslabs/amazon-redshift-utils).
    late-binding   views WITH NO SCHEMA BINDING do not depend on the table: "you can drop the
                   underlying objects without dropping and recreating the view"; they bind by name
                   when queried (https://docs.aws.amazon.com/redshift/latest/dg/r_CREATE_VIEW.html,
                   usage notes). They are not in pg_depend and are left alone.
    materialized   SVV_MV_INFO names them and says autorefresh 't'
                   (https://docs.aws.amazon.com/redshift/latest/dg/r_SVV_MV_INFO.html); pg_get_viewdef
                   gives the CREATE MATERIALIZED VIEW ... AS ... it was created with (AWS re:Post,
                   https://repost.aws/questions/QUVNcJX9TYQMSo0lDS2uMcEQ; STV_MV_INFO is provisioned-
                   only, https://docs.aws.amazon.com/redshift/latest/dg/c_intro_system_views.html).
                   `mv_create_sql` turns either that DDL or a bare SELECT into one statement
                   (https://docs.aws.amazon.com/redshift/latest/dg/materialized-view-create-sql-command.html:
                   [BACKUP] [table_attributes] [AUTO REFRESH] AS query). It is dropped with DROP
                   MATERIALIZED VIEW, no CASCADE (.../materialized-view-drop-sql-command.html) and
                   created again in the swap's transaction: CREATE computes it from the new table,
                   no REFRESH (which "runs as a transaction of its own",
                   .../materialized-view-refresh-sql-command.html). check-target proves it live.
    grants         SVV_RELATION_PRIVILEGES: identity_type user / role / group / public,
                   admin_option (https://docs.aws.amazon.com/redshift/latest/dg/r_SVV_RELATION_PRIVILEGES.html).
                   A non-superuser sees only "identities they have access to or own": give the
                   loader SYSLOG ACCESS UNRESTRICTED so that every grant is kept.
    comments       obj_description / col_description, as the COMMENT page reads them
                   (https://docs.aws.amazon.com/redshift/latest/dg/r_COMMENT.html).
    owner          an object the loader does not own is refused unless the loader is a superuser
                   (SVV_USER_INFO.superuser, https://docs.aws.amazon.com/redshift/latest/dg/r_SVV_USER_INFO.html):
                   COMMENT needs "a superuser or the owner", and giving a view back to its owner
                   is ALTER TABLE ... OWNER TO.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from mysql_redshift_assets.identifiers import quote_ident
from mysql_redshift_assets.load.keep import Dependent, Grant, Kept
from mysql_redshift_assets.load.request import LoadError

Rows = Sequence[tuple[Any, ...]]
Fetch = Callable[[str, Sequence[Any]], Rows]

# Parameters: schema, table. -> oid, owner, comment.
TABLE_SQL = (
    "SELECT c.oid, TRIM(pg_get_userbyid(c.relowner)), obj_description(c.oid) FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s"
)
# A view is a relation plus its ON SELECT rule (pg_rewrite); the rule depends on what it reads.
# Parameters: the relation's oid twice. -> each dependent's oid.
DEPENDENTS_SQL = (
    "SELECT DISTINCT r.ev_class FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid "
    "WHERE d.refobjid = %s AND r.ev_class <> %s ORDER BY 1"
)
# Parameter: a dependent's oid. -> schema, name, relkind, SELECT, owner, comment.
VIEW_SQL = (
    "SELECT n.nspname, c.relname, c.relkind, pg_get_viewdef(c.oid), "
    "TRIM(pg_get_userbyid(c.relowner)), obj_description(c.oid) FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = %s"
)
# -> schema, name, autorefresh ('t' / 'f', char(1)).
MATERIALIZED_SQL = (
    "SELECT TRIM(schema_name), TRIM(name), autorefresh FROM svv_mv_info "
    "WHERE database_name = current_database()"
)
# Parameters: schema, relation.
GRANTS_SQL = (
    "SELECT privilege_type, identity_name, identity_type, admin_option "
    "FROM svv_relation_privileges WHERE namespace_name = %s AND relation_name = %s "
    "ORDER BY identity_type, identity_name, privilege_type"
)
# Parameter: the table's oid.
COLUMN_COMMENTS_SQL = (
    "SELECT a.attname, col_description(a.attrelid, a.attnum) FROM pg_attribute a "
    "WHERE a.attrelid = %s AND a.attnum > 0 AND col_description(a.attrelid, a.attnum) IS NOT NULL "
    "ORDER BY a.attnum"
)
LOADER_SQL = "SELECT TRIM(user_name), superuser FROM svv_user_info WHERE user_name = current_user"


def parse_grants(rows: Rows, owner: str) -> list[Grant]:
    """SVV_RELATION_PRIVILEGES rows -> grants; the owner's own privileges come with ownership.
    `admin_option` "is always false for role and group identity types"."""
    out = []
    for privilege, name, kind, admin in rows:
        kind = str(kind).strip().lower()
        if kind == "user" and str(name).strip() == owner:
            continue
        grantee = None if kind == "public" else str(name).strip()
        out.append(Grant(str(privilege).strip().upper(), grantee, bool(admin), kind))
    return out


def read_redshift(fetch: Fetch, schema: str, name: str) -> Kept:
    """What the swap must keep of `schema.name` on Redshift; LoadError naming each object that
    cannot be kept, before anything is written."""
    rows = fetch(TABLE_SQL, (schema, name))
    if not rows:
        return Kept(redshift=True)
    oid, owner, comment = rows[0]
    loader, superuser = fetch(LOADER_SQL, ())[0]
    kept = Kept(owner=None if owner == loader else owner, comment=comment, redshift=True)
    kept.grants = parse_grants(fetch(GRANTS_SQL, (schema, name)), owner)
    kept.column_comments = {str(c): str(t) for c, t in fetch(COLUMN_COMMENTS_SQL, (oid,))}
    materialized = {
        (str(s), str(n)): str(auto).strip().lower() in ("t", "true")
        for s, n, auto in fetch(MATERIALIZED_SQL, ())
    }
    refused = []
    if kept.owner is not None and not superuser:
        refused.append(
            f"table {schema}.{name} belongs to {owner}, not the loader: only a superuser can "
            f"give the new table back to it; ALTER TABLE {quote_ident(schema)}."
            f"{quote_ident(name)} OWNER TO the loader's user, or run the resync as a superuser"
        )
    for d_oid in _dependents(fetch, oid):
        row = fetch(VIEW_SQL, (d_oid,))[0]
        d_schema, d_name, relkind, definition, d_owner, d_comment = row
        what = f"{d_schema}.{d_name}"
        # SVV_MV_INFO shows a regular user only its own MVs: another user's is known by its DDL.
        if (d_schema, d_name) in materialized or _HEAD.match(str(definition or "")):
            auto = materialized.get((d_schema, d_name), False)
            d = _materialized(fetch, row, auto, loader, superuser)
            if isinstance(d, str):
                refused.append(d)
            else:
                kept.dependents.append(d)
            continue
        if str(relkind).strip() != "v":
            refused.append(f"{what} (relkind {relkind!r}) depends on it: drop it first")
            continue
        if d_owner != loader and not superuser:
            refused.append(
                f"view {what} belongs to {d_owner}, not the loader: only its owner or a "
                f"superuser can recreate it and give it back; ask {d_owner} to recreate it WITH "
                "NO SCHEMA BINDING (a late-binding view does not depend on the table), or run "
                "the resync as a superuser"
            )
        grants = tuple(parse_grants(fetch(GRANTS_SQL, (d_schema, d_name)), d_owner))
        kept.dependents.append(
            Dependent(
                d_schema, d_name, False, str(definition), (), True, d_owner, grants,
                d_comment, (),
            )
        )  # fmt: skip
    if refused:
        raise LoadError(
            f"cannot replace {schema}.{name} while keeping what depends on it; nothing was "
            "written:\n  " + "\n  ".join(refused)
        )
    return kept


_HEAD = re.compile(
    r'\s*CREATE\s+MATERIALIZED\s+VIEW\s+(?:"(?:[^"]|"")*"|[^\s."(]+)'
    r'(?:\s*\.\s*(?:"(?:[^"]|"")*"|[^\s."(]+))?\s*',
    re.IGNORECASE,
)
_AUTO = re.compile(r"\bAUTO\s+REFRESH\s+(YES|NO)\b", re.IGNORECASE)
_AS = re.compile(r"\bAS\b", re.IGNORECASE)


def mv_create_sql(ref: str, definition: str, autorefresh: bool) -> str:
    """One CREATE MATERIALIZED VIEW for `ref` from pg_get_viewdef's text: the DDL it was created
    with (its name replaced by `ref`, its BACKUP / DISTKEY / SORTKEY / AUTO REFRESH kept) or a
    bare SELECT. AUTO REFRESH as SVV_MV_INFO says now (ALTER MATERIALIZED VIEW may have changed
    it since the DDL): YES written, NO (the default) left out."""
    text = definition.strip().rstrip(";").strip()
    head = _HEAD.match(text)
    if head is None:
        clauses, query = "", text
    else:
        rest = text[head.end() :]
        as_ = _AS.search(rest)
        if as_ is None:
            raise ValueError(f"no AS in {definition!r}")
        clauses, query = rest[: as_.start()].strip(), rest[as_.end() :].strip()
    clauses = " ".join(_AUTO.sub(" ", clauses).split())
    if autorefresh:
        clauses = f"{clauses} AUTO REFRESH YES".strip()
    return f"CREATE MATERIALIZED VIEW {ref} {clauses + ' ' if clauses else ''}AS {query}"


def _materialized(
    fetch: Fetch, row: tuple[Any, ...], autorefresh: bool, loader: str, superuser: bool
) -> Dependent | str:
    """A materialized view on the table, or why it cannot be kept (a refusal naming the fix)."""
    d_schema, d_name, _relkind, definition, d_owner, d_comment = row
    what = f"{d_schema}.{d_name}"
    ref = f"{quote_ident(d_schema)}.{quote_ident(d_name)}"
    fix = f"DROP MATERIALIZED VIEW {ref} before the resync and create it again after"
    if d_owner != loader and not superuser:
        return (
            f"materialized view {what} belongs to {d_owner}, not the loader: only its owner or "
            f"a superuser can drop it and create it again; {fix}, or ALTER TABLE {ref} OWNER TO "
            "the loader's user, or run the resync as a superuser"
        )
    try:
        ddl = mv_create_sql(ref, str(definition or ""), autorefresh)
    except ValueError:
        ddl = ""
    if not str(definition or "").strip() or not ddl:
        return (
            f"materialized view {what}: pg_get_viewdef gave no definition to create it from; {fix}"
        )
    grants = tuple(parse_grants(fetch(GRANTS_SQL, (d_schema, d_name)), d_owner))
    return Dependent(
        d_schema, d_name, True, str(definition), (), True, d_owner, grants, d_comment, (), ddl
    )


def _dependents(fetch: Fetch, oid: Any) -> list[Any]:
    """Every view on `oid`, transitively, each after all it reads (dependency order)."""
    depth: dict[Any, int] = {}
    frontier, level = [oid], 0
    while frontier:
        level += 1
        found = []
        for parent in frontier:
            for (child,) in fetch(DEPENDENTS_SQL, (parent, parent)):
                if depth.get(child, 0) < level and level <= 64:
                    depth[child] = level
                    found.append(child)
        frontier = found
    return sorted(depth, key=lambda o: (depth[o], o))
