"""`with` for the clients a caller opens: a source, a store, a warehouse close when the block ends.

with open_source(project, name) as source, open_warehouse(project, target) as warehouse:
    ...
"""

from __future__ import annotations

from abc import abstractmethod
from types import TracebackType
from typing import Self


class Closing:
    """A client that holds connections until `close()`; as a context manager, closed on exit."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
