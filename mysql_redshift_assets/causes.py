"""A failure as the one line a user reads: `error: <pipeline> <table>: <cause>`."""

from __future__ import annotations

_OWN = __name__.split(".")[0]


def cause_of(exc: BaseException) -> str:
    """The project's own errors by their message (it names the table, column and fix); any
    other (a driver's, Python's) with its class name, which the message alone may not say.
    Always one line: a multi-line message (a database error's LINE / DETAIL) is joined."""
    text = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
    if type(exc).__module__.split(".")[0] == _OWN and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def table_line(pipeline: str, table: str, cause: str) -> str:
    return f"{pipeline} {table}: {cause}"
