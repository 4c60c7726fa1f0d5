"""The values the store hands to the engine."""

from __future__ import annotations

import datetime as dt
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
