"""Published events: the latest value per key that an execution set with ``ctx.set_event``."""

from __future__ import annotations

import datetime as dt

from .. import clock, dialect
from ..models import EventValue
from .steps import record_step
from .types import Lease, RecordedStep


def publish_event(lease: Lease, step: RecordedStep, key: str, started_at: dt.datetime) -> None:
    """Record the ``set_event`` step and store its value under ``key``, in one transaction.

    Fenced by the step's insert: a run that lost its lease writes neither. A step already
    recorded (by another run) raises :class:`StepConflict` and changes nothing.
    """
    now = clock.now()
    with dialect.write_transaction():
        record_step(lease, step, started_at)
        replaced = EventValue.objects.filter(execution_id=lease.execution_id, key=key).update(
            value=step.result, step_id=step.step_id, updated_at=now
        )
        if not replaced:
            EventValue.objects.create(
                execution_id=lease.execution_id,
                key=key,
                value=step.result,
                step_id=step.step_id,
                updated_at=now,
            )
        dialect.notify_event()


def event_value(execution_id: str, key: str) -> tuple[bool, bytes | None]:
    """Whether a value was published under ``key``, and that value (serialized)."""
    rows = EventValue.objects.filter(execution_id=execution_id, key=key)
    row = rows.values_list("value").first()
    if row is None:
        return False, None
    return True, None if row[0] is None else bytes(row[0])
