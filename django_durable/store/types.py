"""The values the store hands to the engine."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Lease:
    """The right to run one execution, held by ``owner`` at ``epoch``."""

    execution_id: str
    epoch: int
    owner: str


@dataclass(frozen=True)
class ClaimedExecution:
    lease: Lease
    workflow_name: str
    input: bytes
    deadline_at: dt.datetime | None
    retry_step_id: str
    retry_attempts: int


@dataclass(frozen=True)
class RecordedStep:
    step_id: str
    name: str
    status: str
    result: bytes | None = None
    error_type: str = ""
    error_message: str = ""
    error_traceback: str = ""
    attempts: int = 1


class StepConflict(Exception):
    """The step id is already recorded for this execution (someone recorded it first)."""
