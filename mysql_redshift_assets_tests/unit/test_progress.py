"""cli/progress.py: the live bar, the plain lines, the summary table (issue 18)."""

from __future__ import annotations

import io
import logging
import re

from mysql_redshift_assets.cli.progress import (
    STORED_LOGGER,
    STORED_MESSAGE,
    SyncProgress,
    summary_table,
)

SUMMARY = {
    "assets": {
        "shop/shop/orders/parquet": {"rows": 1_500_000, "files": 15, "bytes": 9_437_184,
                                     "seconds": 7.5},
        "shop/shop/orders/redshift": {"rows_loaded": 1_500_000, "files_loaded": 15,
                                      "table_rows": 1_500_000, "seconds": 3.0},
    },
    "runs": [{"run_id": "r-1", "success": True, "partitions": None}],
    "errors": [],
}  # fmt: skip


def test_summary_table() -> None:
    assert summary_table(SUMMARY) == (
        "ASSET                      STEP            ROWS  FILES   BYTES  TIME   ROWS/S  TABLE ROWS\n"
        "-------------------------  ---------  ---------  -----  ------  ----  -------  ----------\n"
        "shop/shop/orders/parquet   extracted  1,500,000     15  9.0 MB  7.5s  200,000           -\n"
        "shop/shop/orders/redshift  loaded     1,500,000     15       -  3.0s  500,000   1,500,000\n"
        "run r-1: succeeded"
    )


def _store(table: str, rows: int) -> None:
    logging.getLogger(STORED_LOGGER).info(STORED_MESSAGE, table, f"{table}/x.parquet", rows)


def test_plain_lines_without_a_terminal() -> None:
    stream = io.StringIO()
    with SyncProgress(stream=stream, live=False):
        _store("shop.orders", 1_000_000)
        _store("shop.orders", 250_000)
        logging.getLogger("mysql_redshift_assets.sync.load").warning("a warning %s", "here")
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("shop.orders: 1,000,000 rows in 1 file(s) so far (")
    assert lines[1].startswith("shop.orders: 1,250,000 rows in 2 file(s) so far (")
    assert lines[2] == "warning: a warning here"
    # Outside the block the package logs as before.
    logger = logging.getLogger("mysql_redshift_assets")
    assert logger.propagate and not any(isinstance(h, SyncProgress) for h in logger.handlers)


def test_a_live_bar_per_table_with_rows_of_the_expected() -> None:
    stream = io.StringIO()
    with SyncProgress({"shop.orders": 2_000_000, "shop.items": None}, stream=stream, live=True):
        _store("shop.orders", 1_000_000)
        _store("shop.items", 5)
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", stream.getvalue())
    assert "shop.orders" in screen and "1,000,000/~2,000,000 rows" in screen
    assert "rows/s" in screen and "ETA" in screen
    assert "shop.items" in screen and "5 rows" in screen
