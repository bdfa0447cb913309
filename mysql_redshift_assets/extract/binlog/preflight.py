"""Preflight of binlog change capture: can this server, as this user, give us every change of a
table from its stored position? Each check fails with one `BinlogPreflightError` that names the
setting or the GRANT to fix; nothing is skipped ahead silently.

    report = preflight(conn, positions={"shop.orders": MariaDbGtidPos.parse("0-1-1234")})
    report.warnings   # e.g. a position in the oldest retained binlog file
    report.retention  # "binlog_expire_logs_seconds = 604800 (7.0 days)"

Positions are `positions.py`'s (`FilePosition`, `MariaDbGtidPos`, `MysqlGtidSet`), compared with
their own ordering; the GRANT is `server.grant_statement`, the setting fixes `server`'s too.

What each check reads (MariaDB verified on 10.11; MySQL 8 from its manual):
- `log_bin`, `binlog_format`, `binlog_row_image`, `binlog_row_metadata` (GLOBAL values: new
  sessions take them; a session opened before a `SET GLOBAL` keeps its old format).
- The stream's grants. Reading the binlog needs REPLICATION SLAVE (MariaDB refuses a binlog dump
  without it: "you need (at least one of) the REPLICATION SLAVE privilege(s)"); `SHOW BINARY LOGS`
  and `SHOW MASTER STATUS` need BINLOG MONITOR on MariaDB >= 10.5 (REPLICATION CLIENT is its
  alias there) and REPLICATION CLIENT on MySQL. `@@gtid_binlog_pos`, `BINLOG_GTID_POS()` and the
  `Binlog_snapshot_*` status need no privilege. BINLOG MONITOR / REPLICATION CLIENT is probed with
  `SHOW BINARY LOGS`; REPLICATION SLAVE with `SHOW REPLICAS` on MySQL ("requires the REPLICATION
  SLAVE privilege", https://dev.mysql.com/doc/refman/8.0/en/show-replicas.html) and from
  `SHOW GRANTS` on MariaDB (which lists the grants of the current role too), where no statement
  short of a binlog dump needs it.
- A purged position: `file:offset` against `SHOW BINARY LOGS`; a MariaDB GTID against
  `BINLOG_GTID_POS(oldest file, 4)` (the GTID state where the oldest retained file starts); a
  MySQL GTID set against `GTID_SUBSET(@@GLOBAL.gtid_purged, position)`.
- A replica: MariaDB `Slaves_running` > 0, MySQL a row in `SHOW REPLICA STATUS`; then
  `log_slave_updates` (`log_replica_updates` on MySQL >= 8.0.26) must be ON, or the replicated
  changes are not in this server's binlog.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pymysql

from mysql_redshift_assets.extract.binlog.positions import (
    BinlogPosition,
    FilePosition,
    MariaDbGtidPos,
    MysqlGtidSet,
    PositionError,
)
from mysql_redshift_assets.extract.binlog.server import (
    ACCESS_DENIED,
    KEEP_LONGER,
    ROW_IMAGE_FIX,
    ROW_METADATA_FIX,
    BinlogPreflightError,
    Connection,
    Server,
    current_account,
    detect_server,
    global_variables,
    grant_statement,
    one_row,
    retention_text,
)

VARIABLES = (
    "log_bin",
    "binlog_format",
    "binlog_row_image",
    "binlog_row_metadata",
    "log_slave_updates",
    "log_replica_updates",
    "binlog_expire_logs_seconds",
    "expire_logs_days",
)


@dataclass(frozen=True)
class PreflightReport:
    server: Server
    retention: str
    binlog_files: list[str]
    warnings: list[str] = field(default_factory=list)


def preflight(
    conn: Connection,
    *,
    positions: Mapping[str, BinlogPosition] | None = None,
    need_column_names: bool = True,
    replica: bool | None = None,
) -> PreflightReport:
    """Run every check in order, raising the first failure. `positions`: each table's stored
    position (`{"db.table": MariaDbGtidPos.parse("0-1-42")}`, a `positions.py` type). `replica`: None detects whether the server replicates
    from another one."""
    server = detect_server(conn)
    variables = global_variables(conn, VARIABLES)
    check_settings(server, variables, need_column_names=need_column_names)
    files = check_grants(conn, server)
    if replica is None:
        replica = is_replica(conn, server)
    if replica:
        check_replica_logs_updates(server, variables)
    warnings = []
    for table, position in (positions or {}).items():
        warning = check_position(conn, server, files, table, position)
        if warning:
            warnings.append(warning)
    return PreflightReport(server, retention_text(variables), files, warnings)


def check_settings(
    server: Server, variables: Mapping[str, str], *, need_column_names: bool
) -> None:
    """`log_bin` ON, `binlog_format` ROW, `binlog_row_image` FULL, and `binlog_row_metadata` FULL
    when the reader takes the column names from the row events."""
    if variables.get("log_bin", "OFF").upper() not in ("ON", "1"):
        raise BinlogPreflightError(
            f"the binary log is off on {server}: start the server with log_bin (e.g. "
            "--log-bin=mysql-bin, plus a unique --server-id) and binlog_format=ROW; "
            "log_bin is not dynamic, so this needs a restart"
        )
    fmt = variables.get("binlog_format", "").upper()
    if fmt != "ROW":
        raise BinlogPreflightError(
            f"binlog_format is {fmt or 'unset'} on {server}: binlog capture needs row events. "
            "Run SET GLOBAL binlog_format = 'ROW' and set it in the server's configuration; "
            "sessions opened before keep their old format until they reconnect"
        )
    image = variables.get("binlog_row_image", "").upper()
    if image != "FULL":
        raise BinlogPreflightError(
            f"binlog_row_image is {image or 'unset'} on {server}: a change must carry every "
            f"column: {ROW_IMAGE_FIX}"
        )
    if need_column_names:
        _check_row_metadata(server, variables)


def _check_row_metadata(server: Server, variables: Mapping[str, str]) -> None:
    metadata = variables.get("binlog_row_metadata")
    if metadata is None:
        # MariaDB < 10.5 and MySQL < 8.0.1 have no such variable: their row events carry the
        # column types but never the names.
        raise BinlogPreflightError(
            f"{server} cannot write column names into its row events (binlog_row_metadata "
            "came with MariaDB 10.5 and MySQL 8.0.1): upgrade the server, then "
            "SET GLOBAL binlog_row_metadata = 'FULL'"
        )
    if metadata.upper() != "FULL":
        raise BinlogPreflightError(
            f"binlog_row_metadata is {metadata.upper()} on {server}: the row events must "
            f"carry the column names: {ROW_METADATA_FIX}"
        )


def check_grants(conn: Connection, server: Server) -> list[str]:
    """Both privileges of `grant_statement`, in one error naming what is missing; returns the
    retained binlog files (oldest first), which the monitor probe reads anyway."""
    account = current_account(conn)
    monitor = (
        "BINLOG MONITOR"
        if "BINLOG MONITOR" in grant_statement(server, "")
        else "REPLICATION CLIENT"
    )
    missing = []
    files = _binary_logs(conn)
    if files is None:
        missing.append(f"{monitor} (to list the binlog files and read the server's position)")
    if not _has_replication_slave(conn, server):
        missing.append("REPLICATION SLAVE (to read the binlog)")
    if missing:
        raise BinlogPreflightError(
            f"the MySQL user {account} lacks {' and '.join(missing)} on {server}: run "
            f"{grant_statement(server, account)}"
        )
    return files or []


def _binary_logs(conn: Connection) -> list[str] | None:
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW BINARY LOGS")
            return [str(row[0]) for row in cur.fetchall()]
    except pymysql.err.OperationalError as exc:
        if exc.args[0] in ACCESS_DENIED:
            return None
        raise


def _has_replication_slave(conn: Connection, server: Server) -> bool:
    if not server.is_mariadb:
        statement = "SHOW REPLICAS" if server.version >= (8, 0, 22) else "SHOW SLAVE HOSTS"
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
                cur.fetchall()
            return True
        except pymysql.err.OperationalError as exc:
            if exc.args[0] in ACCESS_DENIED:
                return False
            raise
    with conn.cursor() as cur:
        cur.execute("SHOW GRANTS")
        grants = [str(row[0]) for row in cur.fetchall()]
    for grant in grants:
        privileges, _, rest = grant.partition(" ON ")
        if rest.startswith("*.* TO ") and (
            "ALL PRIVILEGES" in privileges
            or "REPLICATION SLAVE" in privileges
            or "REPLICATION REPLICA" in privileges
        ):
            return True
    return False


def is_replica(conn: Connection, server: Server) -> bool:
    """Whether the server applies changes from a primary (a running replica on MariaDB, where
    `Slaves_running` needs no privilege; a configured channel on MySQL)."""
    with conn.cursor() as cur:
        if server.is_mariadb:
            cur.execute("SHOW GLOBAL STATUS LIKE 'Slaves_running'")
            row = cur.fetchone()
            return row is not None and int(row[1]) > 0
        statement = "SHOW REPLICA STATUS" if server.version >= (8, 0, 22) else "SHOW SLAVE STATUS"
        cur.execute(statement)
        return bool(cur.fetchall())


def check_replica_logs_updates(server: Server, variables: Mapping[str, str]) -> None:
    name = "log_slave_updates"
    if not server.is_mariadb and server.version >= (8, 0, 26):
        name = "log_replica_updates"
    value = variables.get(name, variables.get("log_slave_updates", "OFF"))
    if value.upper() not in ("ON", "1"):
        raise BinlogPreflightError(
            f"{server} is a replica without {name}: the changes it applies from its primary "
            f"are not written to its own binlog. Start it with {name}=ON (not dynamic: a "
            "restart), or read the binlog of the primary"
        )


def check_position(
    conn: Connection, server: Server, files: list[str], table: str, position: BinlogPosition
) -> str | None:
    """Raise if the server no longer has the binlog from `position` on; return a warning when
    the position is close to the purge: it lies in the oldest retained binlog file and that file
    is not the one being written (the server never purges that one), so the next purge, by
    expiry or by `PURGE BINARY LOGS`, removes it."""
    if isinstance(position, MysqlGtidSet):
        with conn.cursor() as cur:
            purged = "SELECT GTID_SUBSET(@@GLOBAL.gtid_purged, %s)"
            if not int(one_row(cur, purged, (position.format(),))[0]):
                raise _purged(server, table, position, "@@GLOBAL.gtid_purged")
        return None
    if not files:
        raise _purged(server, table, position, "SHOW BINARY LOGS (empty)")
    if isinstance(position, MariaDbGtidPos):
        return _check_mariadb_gtid(conn, server, files, table, position)
    return _check_file(server, files, table, position)


def _check_file(server: Server, files: list[str], table: str, position: FilePosition) -> str | None:
    oldest, newest = FilePosition(files[0], 0), FilePosition(files[-1], 0)
    try:
        purged = not position.at_or_after(oldest)
        past = position.file != newest.file and position.at_or_after(newest)
    except PositionError as exc:  # a file of another log
        purged, past, detail = False, True, f" ({exc})"
    else:
        detail = ""
    if purged:
        raise _purged(server, table, position, f"the oldest retained file {oldest.file}")
    if past:
        raise BinlogPreflightError(
            f"the stored binlog position of {table} ({position.format()}) is past the newest "
            f"binlog file of {server} ({newest.file}){detail}: the binlog was reset or this is "
            f"another server. The table needs `mysql-redshift resync` for {table}"
        )
    if position.file == oldest.file and oldest != newest:
        return _near(table, position, oldest.file)
    return None


def _check_mariadb_gtid(
    conn: Connection, server: Server, files: list[str], table: str, position: MariaDbGtidPos
) -> str | None:
    """Compared, in the domains of `position`, with the GTID state where each of the two oldest
    files starts (`BINLOG_GTID_POS(file, 4)`)."""
    starts = []
    with conn.cursor() as cur:
        for name in files[:2]:
            start = MariaDbGtidPos.parse(
                str(one_row(cur, "SELECT BINLOG_GTID_POS(%s, 4)", (name,))[0] or "")
            )
            starts.append(
                MariaDbGtidPos(
                    tuple(g for g in start.gtids if position.domain(g.domain) is not None)
                )
            )
    if not position.at_or_after(starts[0]):
        raise _purged(server, table, position, f"the oldest retained file {files[0]}")
    if len(starts) > 1 and not position.at_or_after(starts[1]):
        return _near(table, position, files[0])
    return None


def _purged(
    server: Server, table: str, position: BinlogPosition, oldest: str
) -> BinlogPreflightError:
    return BinlogPreflightError(
        f"{server} has purged the binlog from the stored position of {table} "
        f"({position.format()}; compared with {oldest}): the changes since then are gone, and "
        f"skipping ahead would lose them. Run `mysql-redshift resync` for {table}, and "
        f"{KEEP_LONGER}"
    )


def _near(table: str, position: BinlogPosition, oldest: str) -> str:
    return (
        f"the stored binlog position of {table} ({position.format()}) lies in the oldest "
        f"retained binlog file ({oldest}): the next purge removes it, and the table would then "
        "need a resync. Run the sync more often or keep the binlog longer "
        "(binlog_expire_logs_seconds)"
    )
