"""The values the store hands to the engine."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True)
class Lease:
    """The right to run one execution, held by ``owner`` at ``epoch``."""

    execution_id: str
    epoch: int
    owner: str
    # Whether, when claimed, an execution might wait for this one (it has a parent, or is
    # awaited): its end then wakes waiters. Otherwise its end checks that none came since.
    awaited: bool = False


@dataclass(frozen=True)
class ClaimedExecution:
    lease: Lease
    workflow_name: str
    input: bytes
    deadline_at: dt.datetime | None
    retry_step_id: str
    retry_attempts: int
    # True when no run ever started before this one: it has no steps, so none are loaded.
    first_run: bool = False


class RecordedStep(NamedTuple):
    """A step's recorded outcome. A named tuple: made at every step, and a frozen
    dataclass costs three times as much to make."""

    step_id: str
    name: str
    status: str
    result: bytes | None = None
    error_type: str = ""
    error_message: str = ""
    error_traceback: str = ""
    attempts: int = 1
    # A short repr of the call's arguments (recorded, never read back by a run).
    arguments: str = ""


class StepConflict(Exception):
    """The step id is already recorded for this execution (someone recorded it first)."""


class LeaseClock:
    """Until when this process may still act on a lease, by its own monotonic clock.

    Renewed from the time a renewal *began*, less a margin, so that a run whose heartbeat is
    stuck (a database lock, a long pause) stops before another worker may take over, rather
    than start a step body after the lease has passed to someone else.
    """

    def __init__(self, lease_seconds: float, margin: float):
        self.lease_seconds = lease_seconds
        self.margin = min(margin, lease_seconds / 2)
        self.valid_until = time.monotonic() + lease_seconds - self.margin

    def renewed(self, began: float) -> None:
        self.valid_until = began + self.lease_seconds - self.margin

    def expired(self) -> bool:
        return time.monotonic() >= self.valid_until
