"""Redshift's reconciliation text (reconcile/canonical.py) against the AWS pages it relies on.

Redshift cannot run here. Where PostgreSQL spells a value's text the same way, the text is the
same string (asserted below), and integration/test_reconcile.py runs it on PostgreSQL against
MariaDB; the rest is pinned as exact text with its page.
"""

from __future__ import annotations

import pytest

from mysql_redshift_assets.reconcile.canonical import (
    PIECE_DIGITS,
    PIECE_START,
    canonical,
    piece,
    warehouse_text,
)
from mysql_redshift_assets_tests.unit.test_reconcile_sql import col

SHARED = [
    col("i", "int"),
    col("u", "bigint", "bigint unsigned"),
    col("b", "bit", "bit(1)"),
    col("y", "year"),
    col("d", "decimal", "decimal(12,4)"),
    col("t", "varchar", "varchar(10)", 40),
    col("j", "json"),
    col("day", "date"),
    col("at", "datetime", "datetime(6)"),
    col("ts", "timestamp", "timestamp(6)"),
]


@pytest.mark.parametrize("column", SHARED, ids=lambda c: c.source.data_type)
def test_redshift_and_postgresql_spell_each_value_the_same(column) -> None:
    """MD5, CAST(.. AS VARCHAR), CASE, TO_CHAR(.., 'YYYY-MM-DD HH24:MI:SS.US') and the
    TIMESTAMPTZ -> TIMESTAMP cast in a UTC session: the same text on both, so the PostgreSQL
    runs compare Redshift's text with MySQL's
    (https://docs.aws.amazon.com/redshift/latest/dg/r_MD5.html,
    https://docs.aws.amazon.com/redshift/latest/dg/r_TO_CHAR.html,
    https://docs.aws.amazon.com/redshift/latest/dg/r_FORMAT_strings.html)."""
    c = canonical(column)
    assert warehouse_text("redshift", c) == warehouse_text("postgres", c)


def test_binary_is_hexed_by_to_hex() -> None:
    """TO_HEX(varbyte) -> VARCHAR (https://docs.aws.amazon.com/redshift/latest/dg/r_TO_HEX.html)."""
    c = canonical(col("h", "varbinary", "varbinary(8)", 8))
    assert warehouse_text("redshift", c) == 'TO_HEX("h")'


def test_a_piece_fits_strtol_and_the_sums_fit_decimal_38() -> None:
    """STRTOL returns BIGINT, "must be within the signed 64-bit range"
    (https://docs.aws.amazon.com/redshift/latest/dg/r_STRTOL.html): 15 hex digits are at most
    2^60 - 1. SUM of BIGINT is a BIGINT that can overflow, of DECIMAL a NUMERIC(38)
    (https://docs.aws.amazon.com/redshift/latest/dg/r_SUM.html): each piece is cast first, and
    10^38 / 2^60 rows (about 8.6e19) would be needed to overflow it."""
    assert piece("redshift", "M") == "CAST(STRTOL(SUBSTRING(M, 17, 15), 16) AS DECIMAL(38,0))"
    assert (PIECE_START, PIECE_DIGITS) == (17, 15)
    assert 16**PIECE_DIGITS - 1 < 2**63 - 1
    assert 10**38 // 16**PIECE_DIGITS > 8 * 10**19
