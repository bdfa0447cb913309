"""Binlog change capture (issue 26), the foundation only: not yet user-facing.

Built: `positions` (file:offset, MariaDB GTID and MySQL GTID set positions, compared and
JSON-serializable: the one position type of the package), `server` (flavour, variables, binlog
end, the GRANT, the setting fixes and the error classes, shared by the others), `preflight` (can
this server and user give us every change from the stored positions), `snapshot` (the initial
copy's read snapshot and its `positions` start), `stream` (one row-based binlog stream per source
per run, committed transactions in commit order up to the binlog end at the call's start, row
changes of the caller's tables with their commit positions), `values` and `changes`. Not built
yet: the `capture: binlog` config key, change files, their load, the watermark, the sensor,
schema changes seen in the stream. docs/binlog.md says what is verified and what remains.
"""
