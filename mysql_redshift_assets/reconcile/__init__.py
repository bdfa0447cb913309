"""MySQL vs the warehouse, reconciled by each database itself, no Dagster.

- `scope.py`: the one path: `reconcile_scope` (MySQL's rows in a scope vs the warehouse's in
  its own: a whole table, or a partition's window) and `Counts`, what a reconciled scope
  reports. Used by validate, the partition windows, the `row_count_reconciled` check (all
  three through `maintenance/validate.py`) and the delete pass (`sync/deletes.py`).
- `canonical.py`: one canonical text per planner type, spelled in MySQL, DuckDB, PostgreSQL and
  Redshift so that all four agree (and the types that cannot be: named, never skipped silently).
- `buckets.py`: key-range or MD5-prefix buckets and the SQL that summarises them
  (count, sum of a 60-bit piece of each key's and each row's MD5).
- `compare.py`: the descent into differing buckets, down to the keys; `Diff`, what differs.
- `keyless.py`: a table without a primary key, compared as a multiset of rows.
"""
