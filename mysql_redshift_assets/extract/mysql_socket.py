"""What a MySQLSource sets on pymysql's connection and socket, beyond `pymysql.connect`.

TCP keepalive: pymysql turns it on with the OS's timings (7,200 s idle on Linux), so a flow a
NAT, firewall or load balancer dropped while the source sat idle (between pages, while the
warehouse loads) is found only when a read times out (`read_timeout_seconds`, 30 min by
default). With the source's timings, probes keep the flow alive, and a dead one fails the next
read after idle + interval x probes seconds.
"""

from __future__ import annotations

import socket
from typing import Any, NamedTuple, Protocol, TypedDict


class Keepalive(NamedTuple):
    """TCP keepalive settings, in seconds (probes: unanswered ones before the flow is dead)."""

    idle: int = 60
    interval: int = 10
    probes: int = 6


DEFAULT_KEEPALIVE = Keepalive()


def set_keepalive(sock: socket.socket, keepalive: Keepalive) -> None:
    """Turn TCP keepalive on for `sock` with `keepalive`'s timings (Linux option names)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, keepalive.idle)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, keepalive.interval)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, keepalive.probes)


class PymysqlInternals(Protocol):
    """The pymysql `Connection` attributes its stubs do not declare: the per-read timeout and
    the TCP socket."""

    _read_timeout: float | None
    _sock: socket.socket | None


class ConnectParams(TypedDict):
    """A MySQLSource's `pymysql.connect` arguments (host/port: the server, not a tunnel end)."""

    host: str
    port: int
    user: str
    password: str
    database: str | None
    connect_timeout: float
    read_timeout: float
    write_timeout: float
    charset: str
    conv: dict[Any, Any]  # `raw_conversions()`
    autocommit: bool
