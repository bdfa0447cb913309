"""The connectorx reader: keyset pages over MySQL's binary protocol, parsed by connectorx (Rust).

Used where the wire reader's C parser was not built. connectorx needs a user with a password (no
socket authentication): it connects over TCP to the source's host/port (or SSH tunnel end) with
the source's user. What it reads is made exact and converted by `readers/binary.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

from mysql_redshift_assets.extract.readers.binary import (
    BinaryChunk,
    BinaryPathUnavailable,
    BinaryPlan,
    TemporalUnreadable,
    convert_batch,
    keep_rss_flat,
)
from mysql_redshift_assets.extract.shaping import redact
from mysql_redshift_assets.extract.source import SESSION_SQL

# What connectorx's failure on a date it cannot represent (2024-02-31) names.
_CHRONO = ("NaiveDate", "NaiveDateTime", "NaiveTime")
# Failures of the connection, not of one query: the source stays on pymysql for this process.
_CONNECTING = ("connection", "connect", "access denied", "authentication", "timed out")


def available() -> bool:
    try:
        import connectorx  # noqa: F401
    except ImportError:  # pragma: no cover - a dependency, but the text protocol does not need it
        return False
    return True


class ConnectorxReader:
    """Runs page queries of one MySQL source through connectorx.

    `url` returns the connection URL at each call (an SSH tunnel's local end may change); it is
    never logged and never put in an exception: connectorx's own messages are scrubbed of the
    `secrets` before they are re-raised as `BinaryPathUnavailable`.
    """

    def __init__(
        self,
        name: str,
        *,
        url: Callable[[], str],
        render: Callable[[str, Sequence[Any]], str],
        secrets: Sequence[str] = (),
    ) -> None:
        self.name = name
        self._url = url
        self.render = render
        self._secrets = [s for s in secrets if s]
        self.broken: str | None = None  # set when connecting fails: the source stays on pymysql
        keep_rss_flat()

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            for form in {secret, quote(secret, safe="")}:
                text = text.replace(form, "***")
        return redact(text)  # a hash key's pads, should the message quote the query

    def fetch(self, plan: BinaryPlan, sql: str) -> list[BinaryChunk]:
        """Run one query; its rows as converted chunks (in query order)."""
        if self.broken:
            raise BinaryPathUnavailable(self.broken)
        import connectorx as cx

        failure: BinaryPathUnavailable | None = None
        try:
            table = cx.read_sql(
                self._url(), sql, return_type="arrow", pre_execution_query=list(SESSION_SQL)
            )
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: B036 - Rust panics arrive as PanicException(BaseException)
            message = self._scrub(f"{type(exc).__name__}: {exc}".splitlines()[0])[:300]
            if plan.binary_temporal and any(t in message for t in _CHRONO):
                failure = TemporalUnreadable(f"source {self.name!r}: {message}")
            else:
                failure = BinaryPathUnavailable(
                    f"source {self.name!r}: connectorx could not read a page ({message})"
                )
                if any(word in message.lower() for word in _CONNECTING):
                    # Not this query: this source (its pool retries for 30 s before failing).
                    self.broken = str(failure)
        if failure is not None:
            raise failure  # outside the handler: connectorx's message (and URL) is not chained
        try:
            return [convert_batch(plan, rb) for rb in table.to_batches() if rb.num_rows]
        except BinaryPathUnavailable as exc:
            raise BinaryPathUnavailable(f"source {self.name!r}: {exc}") from None

    def close(self) -> None:
        """connectorx opens a connection a query: nothing is kept."""
