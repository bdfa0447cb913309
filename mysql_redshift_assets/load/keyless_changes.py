"""A keyless table's binlog changes (`capture: binlog`) applied as a multiset of whole rows.

Without a primary key a row is its full image (the binlog's row images are full:
`binlog_row_image=FULL`), and identical rows are interchangeable: MySQL's `DELETE ... LIMIT 1`
of one of two identical rows leaves one, and so must the warehouse. So the merge counts: for
every row image a change touches,

    wanted = (copies the target holds now) + (inserts) - (deletes)    -- an update is both

and the target then holds exactly `wanted` copies of it (none if that is below zero: a delete of
a row the warehouse never had). In SQL, under the load's lock, in its transaction:

    CREATE TEMP TABLE old  AS SELECT the target's rows whose image a change touches
    CREATE TEMP TABLE want AS SELECT image, SUM(w): +1 an old copy, +1 an insert, -1 a delete
    DELETE FROM target USING want WHERE <image matches>
    INSERT INTO target SELECT image FROM (old copies, then inserted rows, numbered per image)
                       WHERE number <= wanted

The numbered pool holds `old + inserts >= wanted` copies of each image, so no numbers table is
needed. Images match NULL to NULL (`a = b OR (a IS NULL AND b IS NULL)`; GROUP BY and PARTITION
BY already group NULLs together), the same text on Redshift, PostgreSQL and DuckDB
(https://docs.aws.amazon.com/redshift/latest/dg/r_WF_ROW_NUMBER.html: PARTITION BY and ORDER BY
are both optional). The order of the changes does not matter to a multiset, so a keyless table
needs no commit order: only that each change is applied once (the ledger's discipline).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from mysql_redshift_assets.identifiers import quote_ident
from mysql_redshift_assets.store.parquet import DELETED_COLUMN


def _matches(left: str, right: str, columns: Sequence[str]) -> str:
    return " AND ".join(
        f"({left}.{c} = {right}.{c} OR ({left}.{c} IS NULL AND {right}.{c} IS NULL))"
        for c in columns
    )


def keyless_change_sql(target: str, staging: str, names: Sequence[str]) -> list[str]:
    """The statements that apply `staging`'s changes to `target` as a multiset (in order)."""
    token = uuid.uuid4().hex[:8]
    old, want = quote_ident(f"mra_old_{token}"), quote_ident(f"mra_want_{token}")
    cols = [quote_ident(n) for n in names]
    listed = ", ".join(cols)
    deleted = quote_ident(DELETED_COLUMN)
    touched = (
        f"SELECT {listed} FROM {target} WHERE EXISTS (SELECT 1 FROM {staging} "
        f"WHERE {_matches(target, staging, cols)})"
    )
    pool = (
        f"SELECT {listed} FROM {old} UNION ALL SELECT {listed} FROM {staging} WHERE NOT {deleted}"
    )
    numbered = f'SELECT {listed}, ROW_NUMBER() OVER (PARTITION BY {listed}) AS "mra_copy" FROM ({pool}) AS "pool"'
    alias = '"numbered"'
    picked = ", ".join(f"{alias}.{c}" for c in cols)
    return [
        f"CREATE TEMP TABLE {old} AS {touched}",
        f'CREATE TEMP TABLE {want} AS SELECT {listed}, SUM("mra_w") AS "mra_want" FROM ('
        f'SELECT {listed}, 1 AS "mra_w" FROM {old} UNION ALL '
        f'SELECT {listed}, CASE WHEN {deleted} THEN -1 ELSE 1 END AS "mra_w" FROM {staging}'
        f') AS "counted" GROUP BY {listed}',
        f"DELETE FROM {target} USING {want} WHERE {_matches(target, want, cols)}",
        f'INSERT INTO {target} ({listed}) SELECT {picked} FROM ({numbered}) AS "numbered" '
        f"JOIN {want} ON {_matches(alias, want, cols)} "
        f'WHERE "numbered"."mra_copy" <= {want}."mra_want"',
        f"DROP TABLE {old}",
        f"DROP TABLE {want}",
    ]
