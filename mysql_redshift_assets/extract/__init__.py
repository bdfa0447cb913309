"""Reading MySQL tables, end to end, with no Dagster import.

    plan = plan_table(source, table)                 # plan.py: columns, keys, checks
    upper = upper_bound(source, plan)                # bounds.py: the late-commit bound
    for batch in read_table(source, Scan(plan, after=position, upper=upper)):
        batch.data, batch.first, batch.last          # Arrow rows, and their keyset positions

- `schema_types.py`: the one type planner (MySQL column -> Arrow / Redshift / DuckDB / PostgreSQL).
- `catalog.py`: what information_schema says of a table; `mysql_text.py`: text-protocol values.
- `source.py`: `MySQLSource` (and `demo_source.py`): sessions, streaming queries, snapshots.
- `keyset.py`, `position.py`: the page query, and where a run stands (`Position`, `Bound`).
- `table.py`: `read_table`, the page loop over a reader from `readers/` (wire, connectorx, pymysql).
- `scope.py`: `Scope`, a table's rows where a predicate holds, and `count_in`, MySQL's count;
  `probes.py`: the other questions that read no rows (first row past a position, the largest
  key, MySQL's row estimate, a round trip).
- `row_filter.py`: a table's `where:` checked against MySQL's columns: the SQL every read adds
  (`plan.table_ref` is then the filtered rows) and its evaluation on a binlog row image.
"""

from mysql_redshift_assets.extract.batch import Batch
from mysql_redshift_assets.extract.bounds import null_cursor_rows, upper_bound, window_bounds
from mysql_redshift_assets.extract.keyset import Bound
from mysql_redshift_assets.extract.plan import TablePlan, plan_table
from mysql_redshift_assets.extract.position import Position, keyset_values, position_of
from mysql_redshift_assets.extract.table import Scan, read_table

__all__ = [
    "Batch",
    "Bound",
    "Position",
    "Scan",
    "TablePlan",
    "keyset_values",
    "null_cursor_rows",
    "plan_table",
    "position_of",
    "read_table",
    "upper_bound",
    "window_bounds",
]
