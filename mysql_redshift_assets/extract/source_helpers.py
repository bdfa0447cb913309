"""A source's small helpers: a long stream's progress in the log (rows so far and the rate,
every 30 seconds), and the URL connectorx connects with."""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import quote

log = logging.getLogger("mysql_redshift_assets.extract.source")
# A long stream logs its rows so far and rate this often (a slow run is visibly alive).
PROGRESS_EVERY_SECONDS = 30.0


class RateLog:
    """Logs rows so far and the rate every `PROGRESS_EVERY_SECONDS` of one long stream."""

    def __init__(self, what: str) -> None:
        self.what, self.rows = what, 0
        self.started = self.last = time.monotonic()

    def add(self, rows: int) -> None:
        self.rows += rows
        now = time.monotonic()
        if now - self.last >= PROGRESS_EVERY_SECONDS:
            self.last = now
            rate = self.rows / max(now - self.started, 1e-9)
            log.info("%s: %s rows so far (%s rows/s)", self.what, f"{self.rows:,}", f"{rate:,.0f}")


def mysql_url(params: dict[str, Any]) -> str:
    """connectorx's URL for the same account and server (or tunnel end) as pymysql's sessions,
    over TCP, never the server's socket, so the account is the same `user`@`host`. Never
    logged: it carries the password."""
    host, port = params["host"], params["port"]
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    user = quote(params["user"], safe="")
    password = quote(params["password"] or "", safe="")
    database = quote(params["database"] or "", safe="")
    timeout_ms = int(params["connect_timeout"]) * 1000
    return (
        f"mysql://{user}:{password}@{host}:{port}/{database}"
        f"?cxprotocol=binary&prefer_socket=false&tcp_connect_timeout_ms={timeout_ms}"
    )
