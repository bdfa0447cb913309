"""What Redshift refuses that PostgreSQL does not: in-place widenings, and a COPY's failure detail.

Redshift cannot run here: each query is exact text (`unit/test_redshift_limits.py`), and the
decisions are pure functions fed with catalog rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mysql_redshift_assets.load.request import LoadRequest

# ALTER TABLE, under `ALTER COLUMN column_name TYPE updated_varchar_data_type_size`
# (https://docs.aws.amazon.com/redshift/latest/dg/r_ALTER_TABLE.html): "You can't alter a column
# with compression encodings BYTEDICT, RUNLENGTH, TEXT255, or TEXT32K." and "You can't alter
# columns with default values." Such a column is widened by the rebuild (`load/alter.py`).
REFUSED_ENCODINGS = frozenset({"bytedict", "runlength", "text255", "text32k"})

# A column's DEFAULT and its encoding, as SVV_REDSHIFT_COLUMNS states them ("column_default",
# "encoding": https://docs.aws.amazon.com/redshift/latest/dg/r_SVV_REDSHIFT_COLUMNS.html).
# Unlike PG_TABLE_DEF it is not limited to the schemas on the search_path; it also lists
# datashare columns, hence the database filter. Parameters: schema, table.
IN_PLACE_CATALOG_SQL = (
    "SELECT column_name, column_default, encoding FROM svv_redshift_columns "
    "WHERE database_name = current_database() AND schema_name = %s AND table_name = %s"
)


def refused_in_place(rows: Sequence[tuple[Any, ...]]) -> dict[str, str]:
    """From (column, default, encoding) catalog rows: each column Redshift will not widen in
    place, and why."""
    refused = {}
    for column, default, encoding in rows:
        if default is not None and str(default).strip():
            refused[column] = f"it has a DEFAULT ({str(default).strip()})"
        elif encoding is not None and str(encoding).strip().lower() in REFUSED_ENCODINGS:
            refused[column] = f"it is ENCODE {str(encoding).strip().upper()}"
    return refused


# The session's last completed query before the COPY: the COPY's own error rows come after it.
# PG_LAST_QUERY_ID: "the query ID of the most recently completed query in the current session"
# (https://docs.aws.amazon.com/redshift/latest/dg/PG_LAST_QUERY_ID.html).
LAST_QUERY_SQL = "SELECT pg_last_query_id()"
# SYS_LOAD_ERROR_DETAIL: one row per COPY error, with the file, line, column and message;
# `session_id` is "the process ID of the process running the copy"
# (https://docs.aws.amazon.com/redshift/latest/dg/SYS_LOAD_ERROR_DETAIL.html); PG_BACKEND_PID
# is this session's (https://docs.aws.amazon.com/redshift/latest/dg/PG_BACKEND_PID.html).
# Parameter: the query id read before the COPY.
LOAD_ERRORS_SQL = (
    "SELECT query_id, TRIM(file_name), line_number, TRIM(column_name), TRIM(column_type), "
    "TRIM(error_message) FROM sys_load_error_detail "
    "WHERE session_id = pg_backend_pid() AND query_id > %s "
    "ORDER BY query_id, line_number LIMIT 5"
)


def copy_failure_message(
    request: LoadRequest, exc: BaseException, rows: Sequence[tuple[Any, ...]]
) -> str:
    """A COPY's failure, with what SYS_LOAD_ERROR_DETAIL says of it (its first rows)."""
    where = f"{request.target_schema}.{request.target_table}"
    head = (
        f"COPY into the staging table of {where} ({request.table.qualified}) failed "
        f"({type(exc).__name__}: {exc}); target and ledger are unchanged."
    )
    if not rows:
        return head + " SYS_LOAD_ERROR_DETAIL has no row for it (an S3 or permission error)."
    details = "; ".join(
        f"query {query} file {file} line {line} column {column!r} ({ctype}): {message}"
        for query, file, line, column, ctype, message in rows
    )
    return f"{head} SYS_LOAD_ERROR_DETAIL: {details}"
