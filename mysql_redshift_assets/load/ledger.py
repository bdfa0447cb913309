"""The load ledger's statements: one row per file loaded, written in the load's own transaction.

A file whose key is in the ledger is never loaded again; that is what makes a re-run harmless.
Every dialect runs this same SQL; `ledger` is the table's qualified name, `ph` the dialect's
parameter placeholder.
"""

from __future__ import annotations

# `table_name` holds `<schema>.<table>` or `<schema>.<table>#deletes`: Redshift names are at most
# 127 bytes each ("Names and identifiers",
# https://docs.aws.amazon.com/redshift/latest/dg/r_names.html), so 127 + 1 + 127 + 8 = 263 bytes.
# Ledgers created with the older VARCHAR(256) are widened in place (`widen_ledger_sql`).
LEDGER_NAME_BYTES = 127 + len(".") + 127 + len("#deletes")


def create_ledger_sql(ledger: str) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {ledger} ("
        '"file_key" VARCHAR(1024) NOT NULL PRIMARY KEY, '
        f'"table_name" VARCHAR({LEDGER_NAME_BYTES}) NOT NULL, '
        '"row_count" BIGINT NOT NULL, '
        '"run_id" VARCHAR(128) NOT NULL, '
        '"loaded_at" TIMESTAMP NOT NULL)'
    )


def widen_ledger_sql(ledger: str) -> str:
    """An existing ledger's `table_name` to LEDGER_NAME_BYTES. Redshift runs it alone in
    autocommit (ALTER COLUMN ... TYPE cannot run in a transaction block,
    https://docs.aws.amazon.com/redshift/latest/dg/r_ALTER_TABLE.html), and only where that page
    allows it: no DEFAULT (the ledger has none), no BYTEDICT/RUNLENGTH/TEXT255/TEXT32K encoding
    (checked first, `Warehouse._ledger_needs_widening`)."""
    return f'ALTER TABLE {ledger} ALTER COLUMN "table_name" TYPE VARCHAR({LEDGER_NAME_BYTES})'


def loaded_keys_sql(ledger: str, ph: str) -> str:
    """Parameters: the table's ledger entry name."""
    return f'SELECT "file_key" FROM {ledger} WHERE "table_name" = {ph}'


def record_file_sql(ledger: str, ph: str, now: str) -> str:
    """Parameters: file key, ledger entry name, row count, run id. `now` is the dialect's
    clock, required (`Warehouse.now_sql`) so that no caller falls back to a default: Redshift documents CURRENT_TIMESTAMP as a deprecated leader-node-only function and
    says to use GETDATE() or SYSDATE instead
    (https://docs.aws.amazon.com/redshift/latest/dg/Date_functions_header.html#date-functions-deprecated)."""
    return (
        f"INSERT INTO {ledger} "
        '("file_key", "table_name", "row_count", "run_id", "loaded_at") '
        f"VALUES ({ph}, {ph}, {ph}, {ph}, {now})"
    )
