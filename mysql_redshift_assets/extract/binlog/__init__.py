"""Binlog change capture (issue 26, `capture: binlog`): the server-side pieces.

`positions` (file:offset, MariaDB GTID and MySQL GTID set positions, compared and
JSON-serializable: the one position type of the package), `server` (flavour, variables, binlog
end, the server's position, the GRANT, the setting fixes and the error classes, shared by the
others), `preflight` (can this server and user give us every change from the stored positions),
`snapshot` (the initial copy's read snapshot and its `positions` start), `stream` (one row-based
binlog stream per source per run, committed transactions in commit order up to the binlog end at
the call's start, row changes of the caller's tables with their commit positions), `values`,
`convert` and `changes`. The run's side is `sync/binlog.py` and `sync/binlog_copy.py`; the user's
page is docs/binlog.md.
"""
