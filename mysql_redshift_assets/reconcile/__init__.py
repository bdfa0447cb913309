"""MySQL vs the warehouse, compared in buckets of keys by each database itself, no Dagster.

- `canonical.py`: one canonical text per planner type, spelled in MySQL, DuckDB, PostgreSQL and
  Redshift so that all four agree (and the types that cannot be: named, never skipped silently).
- `buckets.py`: key-range or MD5-prefix buckets and the SQL that summarises them
  (count, sum of a 60-bit piece of each key's and each row's MD5).
- `compare.py`: the descent into differing buckets, down to the keys.

Used by the delete pass (`sync/deletes.py`) and `maintenance/validate.py`.
"""
