"""A read snapshot of the tables and the binlog position it corresponds to, exactly: every
transaction committed before the position is in the snapshot, every one after it is not. The
initial copy (and a resync) reads the table in the snapshot and the stream starts at the position.

MariaDB (no lock): `START TRANSACTION WITH CONSISTENT SNAPSHOT` then the status variables
`Binlog_snapshot_file` / `Binlog_snapshot_position`, which the binlog fills in as a participant of
the snapshot ("the binlog position that corresponds to the snapshot",
https://mariadb.com/kb/en/enhancements-for-start-transaction-with-consistent-snapshot/). 10.11 has
no GTID status variable for it: `BINLOG_GTID_POS(file, offset)` converts the position to the GTID
position. Both need no privilege. Reading `SHOW MASTER STATUS` instead, before or after the
`START TRANSACTION`, is off by the commits in between (the integration test shows it).

MySQL 8 has no snapshot position: the sequence of `mysqldump --single-transaction --source-data`,
a global read lock held only while the snapshot opens and the position is read:
`FLUSH TABLES WITH READ LOCK` (needs RELOAD), `START TRANSACTION WITH CONSISTENT SNAPSHOT`,
`SHOW BINARY LOG STATUS` (`SHOW MASTER STATUS` before 8.2; REPLICATION CLIENT), `UNLOCK TABLES`
(which ends no transaction not begun by LOCK TABLES). The lock's known cost: while it waits for a
long-running statement, writers wait behind it (Percona XtraBackup's docs:
https://docs.percona.com/percona-xtrabackup/8.0/flush-tables-with-read-lock.html); a session
`lock_wait_timeout` of 10 s makes the request give up instead of stalling writers longer. We do not
use `performance_schema.log_status` (BACKUP_ADMIN): it reports the log position when it is read,
not when the snapshot opened, so it has the same gap as `SHOW MASTER STATUS`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pymysql

from mysql_redshift_assets.extract.binlog.positions import (
    BinlogPosition,
    FilePosition,
    MariaDbGtidPos,
    MysqlGtidSet,
)
from mysql_redshift_assets.extract.binlog.server import (
    ACCESS_DENIED,
    LOG_BIN_OFF,
    BinlogPreflightError,
    Server,
    current_account,
    detect_server,
    one_row,
    status_statement,
)

Connection = pymysql.connections.Connection
LOCK_WAIT_SECONDS = 10
# The next transaction only: the session's own isolation level is left as it was.
REPEATABLE_READ = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"
SNAPSHOT = "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"


@dataclass(frozen=True)
class SnapshotStart:
    """Where the binlog stream starts after the snapshot, in `positions.py` types: the file
    position, and the GTID position at the same point when the server has one (MariaDB's
    `MariaDbGtidPos`, MySQL's executed `MysqlGtidSet`)."""

    file: FilePosition
    gtid: MariaDbGtidPos | MysqlGtidSet | None

    @property
    def position(self) -> BinlogPosition:
        """The stream's start: the GTID position where there is one, else the file position."""
        return self.gtid or self.file


def open_snapshot(
    conn: Connection, server: Server | None = None
) -> tuple[SnapshotStart, Connection]:
    """Open a REPEATABLE READ, read-only transaction on `conn` and return the binlog position of
    its snapshot (a `SnapshotStart`) with the connection, still in the snapshot: read the tables through it, then
    `commit()` (or `rollback()`) to end it."""
    server = server or detect_server(conn)
    try:
        if server.is_mariadb:
            position = _open_mariadb(conn)
        else:
            position = _open_mysql(conn, server)
    except BaseException:
        conn.rollback()
        raise
    return position, conn


def _open_mariadb(conn: Connection) -> SnapshotStart:
    with conn.cursor() as cur:
        cur.execute(REPEATABLE_READ)
        cur.execute(SNAPSHOT)
    return _mariadb_position(conn)


def _mariadb_position(conn: Connection) -> SnapshotStart:
    """The position of the snapshot just opened on `conn` (not the binlog's current end)."""
    with conn.cursor() as cur:
        cur.execute("SHOW SESSION STATUS LIKE 'Binlog_snapshot_%'")
        status = {str(name).lower(): str(value) for name, value in cur.fetchall()}
        file = status.get("binlog_snapshot_file", "")
        if not file:
            raise BinlogPreflightError(
                f"the server reports no binlog position for the snapshot: {LOG_BIN_OFF}"
            )
        offset = int(status["binlog_snapshot_position"])
        gtid = one_row(cur, "SELECT BINLOG_GTID_POS(%s, %s)", (file, offset))[0]
    return SnapshotStart(
        FilePosition(file, offset), MariaDbGtidPos.parse(str(gtid)) if gtid else None
    )


def _open_mysql(conn: Connection, server: Server) -> SnapshotStart:
    status = status_statement(server)
    with conn.cursor() as cur:
        cur.execute("SET SESSION lock_wait_timeout = %s", (LOCK_WAIT_SECONDS,))
        try:
            cur.execute("FLUSH TABLES WITH READ LOCK")
        except pymysql.err.OperationalError as exc:
            if exc.args[0] in ACCESS_DENIED:
                account = current_account(conn)
                raise BinlogPreflightError(
                    f"the MySQL user {account} cannot take the brief global read lock "
                    f"that ties the initial copy to a binlog position on {server}: run "
                    f"GRANT RELOAD ON *.* TO {account}"
                ) from exc
            raise
        try:
            cur.execute(REPEATABLE_READ)
            cur.execute(SNAPSHOT)
            cur.execute(status)
            row = cur.fetchone()
        finally:
            cur.execute("UNLOCK TABLES")
    if not row:
        raise BinlogPreflightError(f"{status} returned nothing on {server}: {LOG_BIN_OFF}")
    gtid = MysqlGtidSet.parse(str(row[4])) if len(row) > 4 and row[4] else None
    return SnapshotStart(FilePosition(str(row[0]), int(row[1])), gtid)
