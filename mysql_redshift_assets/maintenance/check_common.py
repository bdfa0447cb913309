"""What every step of `check-target` reports (`TargetCheck`) and how a step's failure becomes
a finding (`run_check`), shared by the probes (`check_target.py`) and the production paths
(`check_paths.py`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Status = Literal["OK", "FAIL", "SKIP"]


@dataclass(frozen=True)
class TargetCheck:
    """One finding of `check-target`, the live self-test of a target."""

    name: str
    status: Status
    detail: str

    @property
    def line(self) -> str:
        return f"{self.status:<4} {self.name:<12} {self.detail}"


class CheckFailed(Exception):
    """A check's finding: the message says what is wrong and how to fix it."""


def run_check(
    name: str, probe: Callable[[], tuple[Status, str]], rollback: Callable[[], None] | None = None
) -> TargetCheck:
    """Run one check; any failure is a finding, reported with its reason. `rollback`: called
    after a failure, so that the next check starts without the failed one's transaction."""
    try:
        status, detail = probe()
    except CheckFailed as exc:
        status, detail = "FAIL", str(exc)
    except Exception as exc:  # any failure is a finding, reported with its reason
        status, detail = "FAIL", f"{type(exc).__name__}: {exc}"
    if status == "FAIL" and rollback is not None:
        try:
            rollback()
        except Exception:  # a dead session: the cleanup reports it
            pass
    return TargetCheck(name, status, detail)
