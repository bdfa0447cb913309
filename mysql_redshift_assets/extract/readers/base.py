"""The one interface every reader of keyset pages implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from mysql_redshift_assets.extract.batch import Batch
from mysql_redshift_assets.extract.keyset import Bound


@dataclass(frozen=True)
class PageRequest:
    """One keyset page: rows after `after` (keyset values), inside `bounds`, at most `limit`."""

    after: Sequence[str] | None
    bounds: tuple[Bound, ...]
    limit: int


class TableReader(ABC):
    """Reads one table's keyset pages (`read_table` drives it; it knows no page loop)."""

    name: str
    # Pages may be fetched from other threads, several at once, while the caller writes.
    concurrent: bool = False

    @property
    @abstractmethod
    def page_rows(self) -> int:
        """Rows a page at most."""

    @abstractmethod
    def read(self, request: PageRequest) -> Iterator[Batch]:
        """The page's rows in keyset order, as converted batches."""

    @property
    def integer_key(self) -> bool:
        """The keyset is one integer column (pages may then be key ranges, fetched at once)."""
        return False
