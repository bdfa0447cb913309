"""`check-target`'s `validate`: the reconciliation's bucket hashes of the scratch table, in the
target's own SQL spelling, against a reference computed from the same files.

The reconciliation compares MySQL's side (hashes computed by MySQL's SQL, `reconcile/canonical.py`)
with the warehouse's. The canary has no MySQL table (creating one would need privileges a
replica's reader lacks), so the expected side is a DuckDB file in a temporary directory, loaded
with the very files the scratch table got, through the same load path: DuckDB's spelling of the
canonical text is held equal to MySQL's by the reconciliation's own tests
(`integration/test_reconcile*.py`), so equal sums here mean the target's spelling (MD5,
STRTOL/TO_HEX, TO_CHAR, SUM of DECIMAL(38,0) on Redshift) agrees with MySQL's on every value of
the canary. The comparison is `reconcile/compare.py` `compare` on two `reconcile/buckets.py`
`Shape`s, the calls `reconcile_scope` makes.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

from mysql_redshift_assets.extract.schema_types import PlannedColumn
from mysql_redshift_assets.load.base import Warehouse
from mysql_redshift_assets.load.duckdb import DuckDBWarehouse
from mysql_redshift_assets.maintenance.check_common import CheckFailed, Status
from mysql_redshift_assets.reconcile.buckets import Shape
from mysql_redshift_assets.reconcile.canonical import Dialect, canonical
from mysql_redshift_assets.reconcile.compare import MySQLSide, WarehouseSide, compare

# Kept out of the comparison: text with a NUL (only Redshift keeps one; the reference need not).
NOT_COMPARED = frozenset({"nul"})


def open_reference(folder: Path) -> DuckDBWarehouse:
    return DuckDBWarehouse("check-reference", folder / "reference.duckdb")


def reconcile(
    warehouse: Warehouse,
    reference: Warehouse,
    schema: str,
    name: str,
    planned: list[PlannedColumn],
    where: str,
    rows: int,
) -> tuple[Status, str]:
    """Compare the rows of `schema.name` where `where` holds in both warehouses."""
    key = [c for c in planned if c.name == "id"]
    columns = [c for c in planned if c.name not in NOT_COMPARED]
    theirs = Shape.of(
        cast(Dialect, warehouse.dialect), warehouse.ref(schema, name), warehouse.ph, key, columns
    ).within(where, ())
    mine = Shape.of("duckdb", reference.ref(schema, name), reference.ph, key, columns).within(
        where, ()
    )
    # The reference stands where MySQL's side would: `compare` reads each side through `rows`.
    expected = cast(MySQLSide, WarehouseSide(reference, mine))
    diff = compare(expected, WarehouseSide(warehouse, theirs))
    warehouse.commit()
    if not diff.same or diff.warehouse_rows != rows or diff.mysql_rows != rows:
        raise CheckFailed(
            f"the reconciliation of the scratch table differs from the reference: "
            f"{diff.warehouse_rows} rows vs {diff.mysql_rows}; changed {diff.changed}, "
            f"missing {diff.missing}, extra {diff.extra}; examples {diff.examples}"
        )
    excluded = sorted(c.source_name for c in map(canonical, columns) if c.excluded)
    return "OK", (
        f"{rows} rows, {len(theirs.values)} columns hashed in {diff.buckets_compared} bucket(s): "
        f"equal to the reference; not hashed (as in `validate`): {', '.join(excluded)}"
    )
