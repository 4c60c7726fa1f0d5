"""Executions: create, claim, renew and release leases, finish, cancel."""

from __future__ import annotations

import datetime as dt
import uuid

from django.db import IntegrityError, connection
from django.db.models import F, Q
from django.utils import timezone

from .. import dialect
from ..exceptions import ExecutionConflict, ExecutionFinished, ExecutionNotFound, _Abort
from ..models import FINAL_STATUSES, Status, Timer, TimerKind, WorkflowExecution
from .types import ClaimedExecution, Lease

Executions = WorkflowExecution.objects


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
            if not owner:
                dialect.notify_wake()
            if row.deadline_at:
                Timer.objects.create(
                    execution_id=execution_id,
                    step_id="ctx.timeout",
                    kind=TimerKind.WORKFLOW_TIMEOUT,
                    due_at=row.deadline_at,
                    created_at=now,
                )
    except IntegrityError:
        existing = (
            Executions.filter(pk=execution_id).values_list("workflow_name", flat=True).first()
        )
        if existing is None:
            raise
        if existing != workflow_name:
            raise ExecutionConflict(execution_id, existing, workflow_name) from None
        return execution_id, False
    return execution_id, True


def _runnable(now: dt.datetime) -> Q:
    return Q(status=Status.PENDING) | Q(status=Status.RUNNING, lease_expires_at__lt=now)


_CLAIM_COLUMNS = (
    "id",
    "status",
    "lease_epoch",
    "workflow_name",
    "input",
    "deadline_at",
    "retry_step_id",
    "retry_attempts",
    "started_at",
)


def claim(owner: str, limit: int, lease_seconds: float) -> list[ClaimedExecution]:
    """Claim up to ``limit`` runnable executions (pending, or with an expired lease).

    Candidates are locked and skipped-if-locked where the database supports it; each is then
    taken with a compare-and-set on its epoch, which is what makes the claim correct on
    every database, SQLite included.
    """
    if limit <= 0:
        return []
    now = timezone.now()
    # Two queries, each served in order by an index: a single OR would make MySQL scan and
    # sort every runnable row, locking all of them before the LIMIT.
    pending = Executions.filter(status=Status.PENDING).order_by("created_at")
    expired = Executions.filter(status=Status.RUNNING, lease_expires_at__lt=now).order_by(
        "lease_expires_at"
    )
    claimed: list[ClaimedExecution] = []
    with dialect.write_transaction():
        for candidates in (pending, expired):
            wanted = limit - len(claimed)
            if wanted <= 0:
                break
            if connection.features.has_select_for_update_skip_locked:
                candidates = candidates.select_for_update(skip_locked=True)
            rows = list(candidates.values_list(*_CLAIM_COLUMNS)[:wanted])
            claimed += [c for row in rows if (c := _take(row, owner, lease_seconds, now))]
    return claimed


def claim_one(execution_id: str, owner: str, lease_seconds: float) -> ClaimedExecution | None:
    """Claim one given execution if it is runnable now (used by ``run_workflow``)."""
    now = timezone.now()
    with dialect.write_transaction():
        row = (
            Executions.filter(_runnable(now), pk=execution_id).values_list(*_CLAIM_COLUMNS).first()
        )
        return None if row is None else _take(row, owner, lease_seconds, now)


def _take(
    row: tuple, owner: str, lease_seconds: float, now: dt.datetime
) -> ClaimedExecution | None:
    eid, status, epoch, name, input_data, deadline, retry_step, retry_attempts, started = row
    taken = Executions.filter(pk=eid, status=status, lease_epoch=epoch).update(
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
        Lease(eid, epoch + 1, owner),
        name,
        bytes(input_data),
        deadline,
        retry_step,
        retry_attempts,
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


def release(lease: Lease, after: float = 0.0) -> bool:
    """Give an execution back: runnable by anyone at once, or only ``after`` seconds.

    A delayed release keeps the execution ``RUNNING`` with a lease that ends then, so a run
    that keeps failing for the same reason is retried with a pause, not in a hot loop.
    """
    now = timezone.now()
    if after > 0:
        changes = {"lease_expires_at": now + dt.timedelta(seconds=after)}
        return bool(fenced(lease).update(updated_at=now, **changes))
    changes = {"status": Status.PENDING, "lease_owner": "", "lease_expires_at": None}
    with dialect.write_transaction():
        released = bool(fenced(lease).update(updated_at=now, **changes))
        if released:
            dialect.notify_wake()
    return released


def running_owners(prefix: str) -> list[str]:
    """Owners whose name starts with ``prefix`` that hold running executions."""
    return list(
        Executions.filter(
            status=Status.RUNNING,
            lease_owner__startswith=prefix,
            lease_expires_at__gt=timezone.now(),
        )
        .order_by()  # the model's ordering would defeat DISTINCT
        .values_list("lease_owner", flat=True)
        .distinct()
    )


def expire_leases_of(owners: list[str]) -> int:
    """End the leases of owners known to be dead, so their executions are claimable now."""
    if not owners:
        return 0
    now = timezone.now()
    return Executions.filter(
        status=Status.RUNNING, lease_owner__in=owners, lease_expires_at__gt=now
    ).update(lease_expires_at=now - dt.timedelta(seconds=1))


def fenced(lease: Lease):
    return Executions.filter(pk=lease.execution_id, lease_epoch=lease.epoch, status=Status.RUNNING)


def finish(
    lease: Lease,
    status: str,
    *,
    result: bytes | None = None,
    error_type: str = "",
    error_message: str = "",
    error_traceback: str = "",
) -> None:
    """End a run's execution with a final status; ``_Abort`` if the lease is gone.

    Its timers go first: every transaction that touches both takes timer rows before the
    execution row (as the scheduler does), so that none of them can deadlock another.
    """
    now = timezone.now()
    with dialect.write_transaction():
        Timer.objects.filter(execution_id=lease.execution_id).delete()
        done = fenced(lease).update(
            status=status,
            result=result,
            error_type=dialect.storable_text(error_type)[:255],
            error_message=dialect.storable_text(error_message),
            error_traceback=dialect.storable_text(error_traceback),
            finished_at=now,
            updated_at=now,
            lease_owner="",
            lease_expires_at=None,
            retry_step_id="",
            retry_attempts=0,
        )
        if not done:
            raise _Abort("lease lost before the run could finish")


def cancel(execution_id: str, reason: str = "") -> None:
    """Cancel a live execution: no further step of it runs; its timers are deleted."""
    now = timezone.now()
    with dialect.write_transaction():
        Timer.objects.filter(execution_id=execution_id).delete()  # timers first: see finish()
        status = lock_status(execution_id)
        if status in FINAL_STATUSES:
            raise ExecutionFinished(execution_id, status, "cancel")
        Executions.filter(pk=execution_id).update(
            status=Status.CANCELED,
            cancel_reason=dialect.storable_text(reason),
            finished_at=now,
            updated_at=now,
            lease_owner="",
            lease_expires_at=None,
        )


def lock_status(execution_id: str) -> str:
    status = (
        Executions.select_for_update()
        .filter(pk=execution_id)
        .values_list("status", flat=True)
        .first()
    )
    if status is None:
        raise ExecutionNotFound(execution_id)
    return status


def has_runnable() -> bool:
    return Executions.filter(_runnable(timezone.now())).exists()
