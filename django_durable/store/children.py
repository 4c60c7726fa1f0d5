"""Child executions: started with the parent's step, waited for without a thread.

Rows are locked child before parent in every transaction that touches both: a child that
ends updates its own row, then wakes the executions waiting for it (``finish``), and a
parent about to wait locks the child's row before its own (``suspend_on_child``). So a child
that ends while its parent is about to wait either ended first, and the parent sees it and
does not wait, or ends after, and finds the parent ``WAITING`` and wakes it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from .. import clock, dialect, step_ids
from ..exceptions import ExecutionConflict, StepConflict, _Abort
from ..models import (
    FINAL_STATUSES,
    RunOutcome,
    StepResult,
    StepStatus,
    Timer,
    TimerKind,
    WorkflowExecution,
)
from ..serialization import dumps
from .executions import Executions, fenced, pending_fields
from .types import Lease, RecordedStep
from .waits import RECORDED, SUSPENDED, wait

ENDED = "ended"
# Rows per statement where a fan-out writes or reads many executions at once.
BATCH = 500
CHILD_BATCH = BATCH


@dataclass(frozen=True)
class ChildStart:
    """One ``ctx.start_workflow``: its step, and the execution it starts."""

    step_id: str
    step_name: str
    execution_id: str
    # Given by the workflow (workflow_id=...): it may exist already, started by anyone.
    explicit: bool
    workflow_name: str
    input: bytes
    queue: str
    priority: int
    timeout: float | None


@dataclass(frozen=True)
class ChildState:
    """An execution as a waiter sees it."""

    status: str
    result: bytes | None = None
    error_type: str = ""
    error_message: str = ""

    @property
    def ended(self) -> bool:
        return self.status in FINAL_STATUSES


def start_children(lease: Lease, children: list[ChildStart]) -> None:
    """Create the child executions and record the steps that started them, in one commit.

    A child with an explicit id that exists for the same workflow is not created again (the
    step then names the existing one); for another workflow, :class:`ExecutionConflict`.
    """
    now = clock.now()
    try:
        with dialect.write_transaction():
            if not fenced(lease).update(updated_at=now):
                raise _Abort("lease lost before the run could start its children")
            explicit = [child.execution_id for child in children if child.explicit]
            existing = dict(
                Executions.filter(pk__in=explicit).values_list("id", "workflow_name")
                if explicit
                else []
            )
            for child in children:
                found = existing.get(child.execution_id)
                if found is not None and found != child.workflow_name:
                    raise ExecutionConflict(child.execution_id, found, child.workflow_name)
            rows = [
                WorkflowExecution(
                    **pending_fields(
                        child.execution_id,
                        child.workflow_name,
                        child.input,
                        now,
                        child.timeout,
                        child.queue,
                        child.priority,
                        parent=lease.execution_id,
                    )
                )
                for child in children
                if child.execution_id not in existing
            ]
            Executions.bulk_create(rows, batch_size=BATCH)
            Timer.objects.bulk_create(
                [
                    Timer(
                        execution_id=row.id,
                        step_id=step_ids.WORKFLOW_TIMEOUT,
                        kind=TimerKind.WORKFLOW_TIMEOUT,
                        due_at=row.deadline_at,
                        created_at=now,
                    )
                    for row in rows
                    if row.deadline_at
                ],
                batch_size=BATCH,
            )
            StepResult.objects.bulk_create(
                [
                    StepResult(
                        execution_id=lease.execution_id,
                        step_id=child.step_id,
                        name=child.step_name,
                        status=StepStatus.COMPLETED,
                        result=dumps(child.execution_id),
                        started_at=now,
                        finished_at=now,
                        arguments=f"{child.workflow_name} → {child.execution_id}"[:1000],
                    )
                    for child in children
                ],
                batch_size=BATCH,
            )
            if rows:
                dialect.notify_wake()
    except IntegrityError:
        # A start step recorded by another run, or an explicit id created meanwhile.
        raise StepConflict(children[0].step_id) from None


def child_states(execution_ids: list[str]) -> dict[str, ChildState]:
    """The state of each of these executions that exists, by id."""
    states = {}
    for first in range(0, len(execution_ids), BATCH):
        rows = Executions.filter(pk__in=execution_ids[first : first + BATCH]).values_list(
            "id", "status", "result", "root_error_type", "error_message", "cancel_reason"
        )
        for eid, status, result, error_type, message, reason in rows:
            states[eid] = ChildState(
                status,
                None if result is None else bytes(result),
                error_type,
                message or reason,
            )
    return states


def record_waits(lease: Lease, steps: list[RecordedStep], started_at: dt.datetime) -> None:
    """Record ended waits in one commit, deleting their timeout timers first (see
    ``store.finish``). A gather records a thousand waits with a few statements."""
    now = clock.now()
    try:
        with dialect.write_transaction():
            Timer.objects.filter(
                execution_id=lease.execution_id, step_id__in=[step.step_id for step in steps]
            ).delete()
            if not fenced(lease).update(updated_at=now):
                raise _Abort("lease lost: the waits were not recorded")
            StepResult.objects.bulk_create(
                [
                    StepResult(
                        execution_id=lease.execution_id,
                        step_id=step.step_id,
                        name=step.name,
                        status=step.status,
                        result=step.result,
                        attempts=step.attempts,
                        started_at=started_at,
                        finished_at=now,
                        arguments=step.arguments,
                    )
                    for step in steps
                ],
                batch_size=BATCH,
            )
    except IntegrityError:
        # A wait's timeout fired meanwhile and recorded it.
        raise StepConflict(steps[0].step_id) from None


def suspend_on_child(
    lease: Lease, step_id: str, child_id: str, timeout_at: dt.datetime | None
) -> str:
    """Make the execution wait for ``child_id`` to end.

    Return ``SUSPENDED``, or, having changed nothing, ``ENDED`` when the child has ended
    meanwhile, or ``RECORDED`` when the wait's timeout fired meanwhile.
    """
    now = clock.now()
    with dialect.write_transaction():
        child = (
            Executions.select_for_update()
            .filter(pk=child_id)
            .values_list("status", "parent", "awaited")
            .first()
        )
        outcome = SUSPENDED
        if child is None or child[0] in FINAL_STATUSES:
            outcome = ENDED
        elif StepResult.objects.filter(execution_id=lease.execution_id, step_id=step_id).exists():
            outcome = RECORDED
        if outcome != SUSPENDED:
            transaction.set_rollback(True)
            return outcome
        wait(
            lease,
            step_id,
            TimerKind.CHILD_TIMEOUT,
            timeout_at,
            now,
            outcome=RunOutcome.WAITING_CHILD,
            detail=f"execution {child_id}",
            waiting_for=child_id,
        )
        if child[1] != lease.execution_id and not child[2]:
            # Not our child: mark it, so that its end looks for the executions waiting.
            Executions.filter(pk=child_id).update(awaited=True)
    return outcome
