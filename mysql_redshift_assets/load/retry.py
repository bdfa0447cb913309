"""The one transaction runner of every warehouse write: the load, the swap, the rebuild and the
delete pass each run their attempt through `run_with_retries`.

An attempt the database aborts as not serializable (Redshift ERROR 1023, PostgreSQL SQLSTATE
40001), or that found under the lock that a rival moved the table on (`RetryLoad`), was rolled
back whole and is run again with exponential backoff and jitter, as AWS advises ("Retry the
canceled transaction",
https://docs.aws.amazon.com/redshift/latest/dg/c_serial_isolation-serializable-isolation-troubleshooting.html).
Each attempt is idempotent: it re-reads the ledger under the target's lock before its first
write, so a rival that finished the work meanwhile leaves it nothing to do. A `LoadError` (a
`StaleLoad` too) is never retried: the same attempt would fail the same way. Anything else ends
the step with one `LoadError` that names the step, the target and what is unchanged.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from mysql_redshift_assets.load.request import LoadError

if TYPE_CHECKING:
    from mysql_redshift_assets.load.base import Warehouse

T = TypeVar("T")

# Attempts of a write that the database aborted as not serializable, or that found, under the
# lock, that a rival wrote what it depends on.
LOAD_ATTEMPTS = 5
RETRY_BASE_SECONDS = 0.5


class RetryLoad(Exception):
    """The attempt was rolled back and can be run again unchanged (it is idempotent)."""


def run_with_retries(
    warehouse: Warehouse, step: str, attempt: Callable[[], T], *, unchanged: str
) -> tuple[T, int]:
    """Run `attempt` until it returns; (its value, attempts run). `step` names the step and its
    target ("swap into redshift:analytics.orders"); `unchanged` says what a failure left as it
    was ("the old table and the ledger are unchanged")."""
    for n in range(1, LOAD_ATTEMPTS + 1):
        try:
            return attempt(), n
        except LoadError:  # a StaleLoad too: the same attempt would fail again
            raise
        except Exception as exc:
            retry = isinstance(exc, RetryLoad) or warehouse.is_serialization_failure(exc)
            if not retry or n == LOAD_ATTEMPTS:
                raise LoadError(
                    f"{step} rolled back after {n} attempt(s) ({type(exc).__name__}: {exc}); "
                    f"{unchanged}"
                ) from exc
        time.sleep(RETRY_BASE_SECONDS * 2 ** (n - 1) * (1 + random.random()))
    raise AssertionError("unreachable")
