"""Binlog change capture (issue 26), the foundation only: not yet user-facing.

Built: `positions` (file:offset, MariaDB GTID and MySQL GTID set positions, compared and
JSON-serializable) and `stream` (one row-based binlog stream per source per run, committed
transactions in commit order up to the binlog end at the call's start, row changes of the
caller's tables with their commit positions). Not built yet: the `capture: binlog` config key,
change files, their load, the watermark, the sensor, schema changes seen in the stream (the
preflight and the consistent snapshot are another lane: `preflight.py`, `snapshot.py`).
docs/binlog.md says what is verified and what remains.
"""
