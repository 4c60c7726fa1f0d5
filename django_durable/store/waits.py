"""Suspension on timers and signals, signal delivery, and firing due timers."""

from __future__ import annotations

import datetime as dt

from django.db import connection, transaction
from django.db.models import Count, Min

from .. import clock, dialect, step_ids
from ..exceptions import ExecutionFinished, _Abort
from ..models import (
    FINAL_STATUSES,
    RunOutcome,
    Signal,
    Status,
    StepResult,
    StepStatus,
    Timer,
    TimerKind,
)
from ..serialization import dumps
from . import runs
from .cascades import CASCADE_TIMED_OUT, end_descendants, end_orphans, lock_status, wake_waiters
from .executions import Executions, fenced
from .steps import record_step
from .types import Lease, RecordedStep


def suspend_on_timer(
    lease: Lease, step_id: str, kind: str, due_at: dt.datetime, status: str = Status.SLEEPING
) -> None:
    """Put the execution to sleep until ``due_at``; its run ends here."""
    now = clock.now()
    with dialect.write_transaction():
        if not fenced(lease).update(
            status=status, lease_owner="", lease_expires_at=None, updated_at=now
        ):
            raise _Abort("lease lost before the run could suspend")
        # A timer already there (from an earlier run that crashed after suspending) keeps
        # its original due time.
        add_timer(lease.execution_id, step_id, kind, due_at, now)
        runs.end_run(
            lease.execution_id,
            lease.epoch,
            runs.suspension_outcome(kind),
            waiting_on=step_id,
            detail=f"until {due_at.isoformat()}",
        )


def add_timer(execution_id: str, step_id: str, kind: str, due_at: dt.datetime, now) -> None:
    """Insert a timer of an execution whose row this transaction has already updated.

    After the update, not before: on MySQL the insert's foreign-key check share-locks the
    execution's row, and an update after it would have to upgrade that lock, deadlocking
    with any transaction queued for the row meanwhile (a cancel, a waiter). Existing timer
    rows, which others lock, are still deleted before execution rows (see store.finish).
    """
    timer = Timer(
        execution_id=execution_id, step_id=step_id, kind=kind, due_at=due_at, created_at=now
    )
    Timer.objects.bulk_create([timer], ignore_conflicts=True)


def wait(
    lease: Lease,
    step_id: str,
    timeout_kind: str,
    timeout_at: dt.datetime | None,
    now: dt.datetime,
    *,
    outcome: str,
    detail: str,
    waiting_for: str = "",
) -> None:
    """Make the run's execution ``WAITING`` (for ``waiting_for``, an execution, if given),
    with a timeout timer if ``timeout_at``, and end the run with ``outcome``."""
    if not fenced(lease).update(
        status=Status.WAITING,
        waiting_for=waiting_for,
        lease_owner="",
        lease_expires_at=None,
        updated_at=now,
    ):
        raise _Abort(f"lease lost before the run could wait ({detail})")
    if timeout_at is not None:
        add_timer(lease.execution_id, step_id, timeout_kind, timeout_at, now)
    runs.end_run(lease.execution_id, lease.epoch, outcome, waiting_on=step_id, detail=detail)


SUSPENDED, SIGNALED, RECORDED = "suspended", "signaled", "recorded"
# The recorded result of a ctx.wait_workflow whose timeout fired first.
WAIT_TIMED_OUT = {"status": "WAIT_TIMEOUT"}


def suspend_on_signal(
    lease: Lease, step_id: str, signal_name: str, timeout_at: dt.datetime | None
) -> str:
    """Make the execution wait for a signal.

    Return ``SUSPENDED``, or, having changed nothing, ``SIGNALED`` when a signal arrived
    meanwhile, or ``RECORDED`` when the wait's timeout fired meanwhile (the step is then
    recorded as ``None``). The execution row is updated (and so locked) before looking for
    signals: a signal delivered concurrently either committed before that look and is seen,
    or waits for the row and then finds the execution ``WAITING`` and wakes it.
    """
    now = clock.now()
    with dialect.write_transaction():
        wait(
            lease,
            step_id,
            TimerKind.SIGNAL_TIMEOUT,
            timeout_at,
            now,
            outcome=RunOutcome.WAITING_SIGNAL,
            detail=f"signal {signal_name!r}",
        )
        outcome = SUSPENDED
        if StepResult.objects.filter(execution_id=lease.execution_id, step_id=step_id).exists():
            outcome = RECORDED
        elif Signal.objects.filter(
            execution_id=lease.execution_id, name=signal_name, consumed_at__isnull=True
        ).exists():
            outcome = SIGNALED
        if outcome != SUSPENDED:
            transaction.set_rollback(True)
    return outcome


def consume_signal(
    lease: Lease, step_id: str, name: str, signal_name: str, started_at: dt.datetime
) -> tuple[bool, bytes | None]:
    """Take the oldest unconsumed signal of that name and record it as the step's result."""
    with dialect.write_transaction():
        found = (
            Signal.objects.select_for_update()
            .filter(execution_id=lease.execution_id, name=signal_name, consumed_at__isnull=True)
            .order_by("id")
            .values_list("id", "payload")
            .first()
        )
        if found is None:
            return False, None
        # The wait's timeout timer before the step row (see store.finish): if the scheduler
        # is firing it right now, this waits, and the insert below then conflicts.
        Timer.objects.filter(execution_id=lease.execution_id, step_id=step_id).delete()
        signal_pk, payload = found
        payload = None if payload is None else bytes(payload)
        Signal.objects.filter(pk=signal_pk).update(
            consumed_at=clock.now(), consumed_by_step_id=step_id
        )
        record_step(lease, RecordedStep(step_id, name, StepStatus.COMPLETED, payload), started_at)
    return True, payload


def deliver_signal(execution_id: str, name: str, payload: bytes) -> None:
    """Store a signal for an execution and wake it if it is waiting."""
    now = clock.now()
    with dialect.write_transaction():
        status = lock_status(execution_id)
        if status in FINAL_STATUSES:
            raise ExecutionFinished(execution_id, status, "signal")
        Signal.objects.create(execution_id=execution_id, name=name, payload=payload, created_at=now)
        if status == Status.WAITING:
            Executions.filter(pk=execution_id, status=Status.WAITING).update(
                status=Status.PENDING, updated_at=now
            )
            dialect.notify_wake()


# The statuses the updates below must not touch, for a NOT IN: a list of ids beside
# `status IN (...)` makes SQLite without statistics (Django Durable runs no ANALYZE) read
# every execution of those statuses through a status index instead of the ids (17 ms for 10
# ids among 100,000 sleeping executions; W8). NOT IN cannot use an index: the rows are
# found by key, on every database.
_ENDED = sorted(FINAL_STATUSES)
_NOT_SUSPENDED = sorted(set(Status.values) - {Status.SLEEPING, Status.WAITING})


def fire_due_timers(limit: int, execution_ids: list[str] | None = None) -> int:
    """Fire up to ``limit`` due timers in one transaction; return how many fired.

    A sleep's timer records the sleep step as completed and a signal timeout records the
    wait as ``None``; both wake the execution. A retry timer only wakes it. A workflow
    timeout ends a live execution as ``TIMED_OUT``.
    """
    now = clock.now()
    with dialect.write_transaction():
        due = Timer.objects.filter(due_at__lte=now).order_by("due_at")
        if execution_ids is not None:
            due = due.filter(execution_id__in=execution_ids)
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        timers = list(
            due.values_list("id", "execution_id", "step_id", "kind", "due_at", "created_at")[:limit]
        )
        if not timers:
            return 0
        steps, wake, timed_out = [], set(), set()
        none = dumps(None)
        for _pk, eid, step_id, kind, due_at, created_at in timers:
            if kind == TimerKind.WORKFLOW_TIMEOUT:
                timed_out.add(eid)
                continue
            wake.add(eid)
            # What the timer's step records: a sleep keeps when it began, and its due time
            # as its result, so that the timeline can show it (ctx.sleep returns None
            # whatever); a signal wait's timeout records None, a child wait's a time-out.
            recorded = {
                TimerKind.SLEEP: (dumps(due_at), created_at),
                TimerKind.SIGNAL_TIMEOUT: (none, now),
                TimerKind.CHILD_TIMEOUT: (dumps(WAIT_TIMED_OUT), created_at),
            }.get(kind)
            if recorded is not None:
                steps.append(
                    StepResult(
                        execution_id=eid,
                        step_id=step_id,
                        name=step_ids.name_of(step_id),
                        status=StepStatus.COMPLETED,
                        result=recorded[0],
                        started_at=recorded[1],
                        finished_at=now,
                    )
                )
        # Every timer first, then children's rows before parents' (a timed-out execution's
        # descendants, then it, then the executions woken: a parent waiting on a child
        # whose ancestor timed out comes last), and the step rows after the rows they
        # belong to are locked: on MySQL their foreign-key check share-locks those rows,
        # which a later update of them would have to upgrade (a deadlock with any waiter).
        Timer.objects.filter(pk__in=[t[0] for t in timers]).delete()
        if timed_out:
            Timer.objects.filter(execution_id__in=list(timed_out)).delete()
            end_descendants(list(timed_out), Status.CANCELED, CASCADE_TIMED_OUT, now)
            Executions.filter(pk__in=list(timed_out)).exclude(status__in=_ENDED).update(
                status=Status.TIMED_OUT,
                finished_at=now,
                updated_at=now,
                lease_owner="",
                lease_expires_at=None,
                error_type="django_durable.exceptions.WorkflowTimeout",
                root_error_type="django_durable.exceptions.WorkflowTimeout",
                error_message="the workflow's timeout passed before it finished",
            )
            runs.end_open_runs(
                timed_out, RunOutcome.TIMED_OUT, "the workflow's timeout passed during the run"
            )
            wake_waiters(list(timed_out), now)
        if wake:
            Executions.filter(pk__in=list(wake)).exclude(status__in=_NOT_SUSPENDED).update(
                status=Status.PENDING, updated_at=now
            )
        if steps:
            StepResult.objects.bulk_create(steps, ignore_conflicts=True)
    if timed_out:
        end_orphans(list(timed_out), CASCADE_TIMED_OUT)
    return len(timers)


def pending_timers() -> tuple[int, dt.datetime | None]:
    """How many timers are waiting to fire, and when the first one is due."""
    timers = Timer.objects.aggregate(count=Count("id"), first=Min("due_at"))
    return timers["count"], timers["first"]


def next_timer_due(execution_ids: list[str] | None = None) -> dt.datetime | None:
    """When the earliest timer (of these executions, if given) is due; ``None`` without one."""
    timers = (
        Timer.objects.all()
        if execution_ids is None
        else Timer.objects.filter(execution_id__in=execution_ids)
    )
    return timers.order_by("due_at").values_list("due_at", flat=True).first()
