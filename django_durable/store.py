"""Every change of workflow state, and every lock: the one door to the engine's tables.

Writes made on behalf of a run are fenced: they name the lease epoch the run was claimed
with, and they change nothing once that epoch is gone (the lease was taken over, the
execution was canceled, timed out or suspended). A fenced write that changes nothing raises
``_Abort`` and the run stops without writing anything else.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from django.db import IntegrityError, connection
from django.db.models import F, Q
from django.utils import timezone

from . import dialect
from .exceptions import (
    ExecutionConflict,
    ExecutionFinished,
    ExecutionNotFound,
    _Abort,
)
from .models import (
    FINAL_STATUSES,
    LIVE_STATUSES,
    Signal,
    Status,
    StepResult,
    StepStatus,
    Timer,
    TimerKind,
    WorkflowExecution,
)
from .serialization import dumps

Executions = WorkflowExecution.objects


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


# --- executions -----------------------------------------------------------------------


def create_execution(
    workflow_name: str,
    input_data: bytes,
    *,
    execution_id: str | None = None,
    timeout: float | None = None,
    owner: str | None = None,
    lease_seconds: float = 60.0,
) -> tuple[str, bool]:
    """Insert a new execution; return its id and whether it was created.

    A given ``execution_id`` makes the start idempotent: if it exists for the same workflow,
    nothing is written. With ``owner``, the execution starts already claimed by that owner.
    """
    execution_id = execution_id or str(uuid.uuid4())
    now = timezone.now()
    row = WorkflowExecution(
        id=execution_id,
        workflow_name=workflow_name,
        input=input_data,
        created_at=now,
        updated_at=now,
        deadline_at=now + dt.timedelta(seconds=timeout) if timeout else None,
    )
    if owner:
        row.status = Status.RUNNING
        row.lease_owner = owner
        row.lease_epoch = 1
        row.lease_expires_at = now + dt.timedelta(seconds=lease_seconds)
        row.runs = 1
        row.started_at = now
    try:
        with dialect.write_transaction():
            row.save(force_insert=True)
            if row.deadline_at:
                Timer.objects.create(
                    execution_id=execution_id,
                    step_id="ctx.timeout",
                    kind=TimerKind.WORKFLOW_TIMEOUT,
                    due_at=row.deadline_at,
                    created_at=now,
                )
    except IntegrityError:
        existing = Executions.filter(pk=execution_id).values_list("workflow_name", flat=True).first()
        if existing is None:
            raise
        if existing != workflow_name:
            raise ExecutionConflict(execution_id, existing, workflow_name) from None
        return execution_id, False
    return execution_id, True


def _runnable(now: dt.datetime) -> Q:
    return Q(status=Status.PENDING) | Q(status=Status.RUNNING, lease_expires_at__lt=now)


def claim(owner: str, limit: int, lease_seconds: float) -> list[ClaimedExecution]:
    """Claim up to ``limit`` runnable executions (pending, or with an expired lease).

    Candidates are locked and skipped-if-locked where the database supports it; each is then
    taken with a compare-and-set on its epoch, which is what makes the claim correct on
    every database, SQLite included.
    """
    if limit <= 0:
        return []
    now = timezone.now()
    expires = now + dt.timedelta(seconds=lease_seconds)
    claimed = []
    with dialect.write_transaction():
        candidates = Executions.filter(_runnable(now)).order_by("created_at")
        if connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True)
        rows = list(
            candidates.values_list(
                "id", "status", "lease_epoch", "workflow_name", "input", "deadline_at",
                "retry_step_id", "retry_attempts", "started_at",
            )[:limit]
        )
        for (eid, status, epoch, name, input_data, deadline, retry_step, retry_n, started) in rows:
            taken = Executions.filter(pk=eid, status=status, lease_epoch=epoch).update(
                status=Status.RUNNING,
                lease_owner=owner,
                lease_epoch=epoch + 1,
                lease_expires_at=expires,
                runs=F("runs") + 1,
                started_at=started or now,
                updated_at=now,
            )
            if taken:
                claimed.append(
                    ClaimedExecution(
                        Lease(eid, epoch + 1, owner), name, bytes(input_data), deadline,
                        retry_step, retry_n,
                    )
                )
    return claimed


def claim_one(execution_id: str, owner: str, lease_seconds: float) -> ClaimedExecution | None:
    """Claim one given execution if it is runnable now (used by ``run_workflow``)."""
    now = timezone.now()
    with dialect.write_transaction():
        row = (
            Executions.filter(_runnable(now), pk=execution_id)
            .values_list(
                "status", "lease_epoch", "workflow_name", "input", "deadline_at",
                "retry_step_id", "retry_attempts", "started_at",
            )
            .first()
        )
        if row is None:
            return None
        status, epoch, name, input_data, deadline, retry_step, retry_n, started = row
        taken = Executions.filter(pk=execution_id, status=status, lease_epoch=epoch).update(
            status=Status.RUNNING,
            lease_owner=owner,
            lease_epoch=epoch + 1,
            lease_expires_at=now + dt.timedelta(seconds=lease_seconds),
            runs=F("runs") + 1,
            started_at=started or now,
            updated_at=now,
        )
    if not taken:
        return None
    return ClaimedExecution(
        Lease(execution_id, epoch + 1, owner), name, bytes(input_data), deadline, retry_step,
        retry_n,
    )


def renew_leases(leases: list[Lease], lease_seconds: float) -> set[str]:
    """Extend the leases still held; return the ids of those that are."""
    if not leases:
        return set()
    owner = leases[0].owner
    wanted = {lease.execution_id: lease.epoch for lease in leases}
    current = Executions.filter(
        pk__in=list(wanted), lease_owner=owner, status=Status.RUNNING
    ).values_list("id", "lease_epoch")
    held = {eid for eid, epoch in current if wanted.get(eid) == epoch}
    if held:
        Executions.filter(pk__in=list(held), lease_owner=owner, status=Status.RUNNING).update(
            lease_expires_at=timezone.now() + dt.timedelta(seconds=lease_seconds)
        )
    return held


def release(lease: Lease) -> bool:
    """Give an execution back (graceful stop): it becomes runnable by anyone at once."""
    return bool(
        _fenced(lease).update(
            status=Status.PENDING, lease_owner="", lease_expires_at=None,
            updated_at=timezone.now(),
        )
    )


def running_owners(prefix: str) -> list[str]:
    """Owners whose name starts with ``prefix`` that hold running executions."""
    return list(
        Executions.filter(status=Status.RUNNING, lease_owner__startswith=prefix)
        .values_list("lease_owner", flat=True)
        .distinct()
    )


def expire_leases_of(owners: list[str]) -> int:
    """End the leases of owners known to be dead, so their executions are claimable now."""
    if not owners:
        return 0
    return Executions.filter(status=Status.RUNNING, lease_owner__in=owners).update(
        lease_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )


def _fenced(lease: Lease):
    return Executions.filter(
        pk=lease.execution_id, lease_epoch=lease.epoch, status=Status.RUNNING
    )


def finish(
    lease: Lease,
    status: str,
    *,
    result: bytes | None = None,
    error_type: str = "",
    error_message: str = "",
    error_traceback: str = "",
    delete_timers: bool = True,
) -> None:
    """End a run's execution with a final status; ``_Abort`` if the lease is gone."""
    now = timezone.now()
    with dialect.write_transaction():
        done = _fenced(lease).update(
            status=status, result=result, error_type=error_type[:255],
            error_message=error_message, error_traceback=error_traceback,
            finished_at=now, updated_at=now, lease_owner="", lease_expires_at=None,
            retry_step_id="", retry_attempts=0,
        )
        if not done:
            raise _Abort("lease lost before the run could finish")
        if delete_timers:
            Timer.objects.filter(execution_id=lease.execution_id).delete()


# --- steps ----------------------------------------------------------------------------


_STEP_COLUMNS = [
    "execution_id", "step_id", "name", "status", "result", "error_type", "error_message",
    "error_traceback", "attempts", "started_at", "finished_at",
]


def load_steps(execution_id: str, step_id: str | None = None) -> dict[str, RecordedStep]:
    """Every recorded step of an execution (or the one ``step_id``), by id, in one query."""
    rows = StepResult.objects.filter(execution_id=execution_id)
    if step_id is not None:
        rows = rows.filter(step_id=step_id)
    return {
        row[0]: RecordedStep(
            row[0], row[1], row[2], None if row[3] is None else bytes(row[3]), *row[4:]
        )
        for row in rows.values_list(
            "step_id", "name", "status", "result", "error_type", "error_message",
            "error_traceback", "attempts",
        )
    }


def record_step(lease: Lease, step: RecordedStep, started_at: dt.datetime) -> None:
    """Record a step's outcome with one fenced ``INSERT … SELECT``.

    Raises ``_Abort`` when the lease no longer holds and :class:`StepConflict` when the step
    id is already recorded.
    """
    values = {
        "execution_id": lease.execution_id,
        "step_id": step.step_id,
        "name": step.name,
        "status": step.status,
        "result": step.result,
        "error_type": step.error_type[:255],
        "error_message": step.error_message,
        "error_traceback": step.error_traceback,
        "attempts": step.attempts,
        "started_at": started_at,
        "finished_at": timezone.now(),
    }
    params = [_db_value(StepResult, column, values[column]) for column in _STEP_COLUMNS]
    params += [lease.execution_id, lease.epoch, Status.RUNNING.value]
    sql = dialect.fenced_insert_sql(
        StepResult._meta.db_table, WorkflowExecution._meta.db_table, _STEP_COLUMNS
    )
    try:
        with connection.cursor() as cursor:
            if connection.in_atomic_block:
                # A failed INSERT must not poison the caller's transaction (PostgreSQL).
                with dialect.write_transaction():
                    cursor.execute(sql, params)
            else:
                cursor.execute(sql, params)
            inserted = cursor.rowcount
    except IntegrityError:
        raise StepConflict(step.step_id) from None
    if inserted != 1:
        raise _Abort("lease lost: the step's result was not recorded")


_FIELD_BY_COLUMN: dict[tuple[type, str], object] = {}


def _db_value(model, column: str, value):
    key = (model, column)
    field = _FIELD_BY_COLUMN.get(key)
    if field is None:
        field = next(f for f in model._meta.concrete_fields if f.column == column)
        _FIELD_BY_COLUMN[key] = field
    return field.get_db_prep_value(value, connection)


def record_failed_attempt(lease: Lease, step_id: str, attempts: int) -> None:
    """Remember how many attempts of a step failed, so the count survives a crash."""
    if not _fenced(lease).update(retry_step_id=step_id, retry_attempts=attempts):
        raise _Abort("lease lost while retrying a step")


# --- suspension, timers and signals ---------------------------------------------------


def suspend_on_timer(
    lease: Lease, step_id: str, kind: str, due_at: dt.datetime, status: str = Status.SLEEPING
) -> None:
    """Put the execution to sleep until ``due_at``; its run ends here."""
    now = timezone.now()
    with dialect.write_transaction():
        if not _fenced(lease).update(
            status=status, lease_owner="", lease_expires_at=None, updated_at=now
        ):
            raise _Abort("lease lost before the run could suspend")
        # A timer already there (from an earlier run that crashed after suspending) keeps
        # its original due time.
        Timer.objects.bulk_create(
            [Timer(execution_id=lease.execution_id, step_id=step_id, kind=kind,
                   due_at=due_at, created_at=now)],
            ignore_conflicts=True,
        )


def suspend_on_signal(
    lease: Lease, step_id: str, signal_name: str, timeout_at: dt.datetime | None
) -> bool:
    """Make the execution wait for a signal; ``False`` if one arrived meanwhile.

    The execution row is updated (and so locked) before looking for signals: a signal
    delivered concurrently either committed before that look and is seen, or waits for the
    row and then finds the execution ``WAITING`` and wakes it.
    """
    now = timezone.now()
    with dialect.write_transaction():
        if not _fenced(lease).update(
            status=Status.WAITING, lease_owner="", lease_expires_at=None, updated_at=now
        ):
            raise _Abort("lease lost before the run could wait for a signal")
        if Signal.objects.filter(
            execution_id=lease.execution_id, name=signal_name, consumed_at__isnull=True
        ).exists():
            from django.db import transaction

            transaction.set_rollback(True)
            return False
        if timeout_at is not None:
            Timer.objects.bulk_create(
                [Timer(execution_id=lease.execution_id, step_id=step_id,
                       kind=TimerKind.SIGNAL_TIMEOUT, due_at=timeout_at, created_at=now)],
                ignore_conflicts=True,
            )
    return True


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
        signal_pk, payload = found
        payload = None if payload is None else bytes(payload)
        Signal.objects.filter(pk=signal_pk).update(
            consumed_at=timezone.now(), consumed_by_step_id=step_id
        )
        record_step(
            lease, RecordedStep(step_id, name, StepStatus.COMPLETED, payload), started_at
        )
        Timer.objects.filter(execution_id=lease.execution_id, step_id=step_id).delete()
    return True, payload


def deliver_signal(execution_id: str, name: str, payload: bytes) -> None:
    """Store a signal for an execution and wake it if it is waiting."""
    now = timezone.now()
    with dialect.write_transaction():
        status = _lock_status(execution_id)
        if status in FINAL_STATUSES:
            raise ExecutionFinished(execution_id, status, "signal")
        Signal.objects.create(execution_id=execution_id, name=name, payload=payload, created_at=now)
        if status == Status.WAITING:
            Executions.filter(pk=execution_id, status=Status.WAITING).update(
                status=Status.PENDING, updated_at=now
            )


def cancel(execution_id: str, reason: str = "") -> None:
    """Cancel a live execution: no further step of it runs; its timers are deleted."""
    now = timezone.now()
    with dialect.write_transaction():
        status = _lock_status(execution_id)
        if status in FINAL_STATUSES:
            raise ExecutionFinished(execution_id, status, "cancel")
        Executions.filter(pk=execution_id).update(
            status=Status.CANCELED, cancel_reason=reason, finished_at=now, updated_at=now,
            lease_owner="", lease_expires_at=None,
        )
        Timer.objects.filter(execution_id=execution_id).delete()


def _lock_status(execution_id: str) -> str:
    status = (
        Executions.select_for_update().filter(pk=execution_id).values_list("status", flat=True).first()
    )
    if status is None:
        raise ExecutionNotFound(execution_id)
    return status


def fire_due_timers(limit: int, execution_id: str | None = None) -> int:
    """Fire up to ``limit`` due timers in one transaction; return how many fired.

    A sleep's timer records the sleep step as completed and a signal timeout records the
    wait as ``None``; both wake the execution. A retry timer only wakes it. A workflow
    timeout ends a live execution as ``TIMED_OUT``.
    """
    now = timezone.now()
    with dialect.write_transaction():
        due = Timer.objects.filter(due_at__lte=now).order_by("due_at")
        if execution_id is not None:
            due = due.filter(execution_id=execution_id)
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        timers = list(due.values_list("id", "execution_id", "step_id", "kind")[:limit])
        if not timers:
            return 0
        steps, wake, timed_out = [], set(), set()
        none = dumps(None)
        for _pk, eid, step_id, kind in timers:
            if kind == TimerKind.WORKFLOW_TIMEOUT:
                timed_out.add(eid)
                continue
            wake.add(eid)
            if kind in (TimerKind.SLEEP, TimerKind.SIGNAL_TIMEOUT):
                steps.append(
                    StepResult(
                        execution_id=eid, step_id=step_id, name=step_name_of(step_id),
                        status=StepStatus.COMPLETED,
                        result=none if kind == TimerKind.SIGNAL_TIMEOUT else None,
                        started_at=now, finished_at=now,
                    )
                )
        Timer.objects.filter(pk__in=[t[0] for t in timers]).delete()
        if steps:
            StepResult.objects.bulk_create(steps, ignore_conflicts=True)
        if wake:
            Executions.filter(
                pk__in=list(wake), status__in=[Status.SLEEPING, Status.WAITING]
            ).update(status=Status.PENDING, updated_at=now)
        if timed_out:
            Executions.filter(pk__in=list(timed_out), status__in=list(LIVE_STATUSES)).update(
                status=Status.TIMED_OUT, finished_at=now, updated_at=now, lease_owner="",
                lease_expires_at=None,
                error_type="django_durable.exceptions.WorkflowTimeout",
                error_message="the workflow's timeout passed before it finished",
            )
            Timer.objects.filter(execution_id__in=list(timed_out)).delete()
    return len(timers)


def step_name_of(step_id: str) -> str:
    """The step name in a derived step id ``name:count``."""
    return step_id.rsplit(":", 1)[0]


def next_timer_due() -> dt.datetime | None:
    return Timer.objects.order_by("due_at").values_list("due_at", flat=True).first()


def has_runnable() -> bool:
    return Executions.filter(_runnable(timezone.now())).exists()
