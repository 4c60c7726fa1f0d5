"""Repairs and clean-up: retry finished executions, fork one from a step, prune old ones."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

from django.db import IntegrityError
from django.db.models import F

from .. import clock, dialect, step_ids
from ..exceptions import ExecutionExists, ExecutionNotFound, NotRetryable, StepNotRecorded
from ..models import (
    FINAL_STATUSES,
    Status,
    StepResult,
    StepStatus,
    Timer,
    TimerKind,
    WorkflowExecution,
)
from ..serialization import loads
from .cascades import CASCADE_PREFIX
from .executions import Executions

RETRYABLE_STATUSES = frozenset({Status.FAILED, Status.CANCELED, Status.TIMED_OUT})
# Rows changed per transaction by the bulk repairs: a batch keeps every lock short, and
# stays under every database's limit on query parameters.
BATCH_SIZE = 500

TimeoutOf = Callable[[str], "float | None"]


def retry(execution_ids: Iterable[str], timeout_of: TimeoutOf) -> dict[str, str]:
    """Make the retryable executions among ``execution_ids`` runnable again.

    Each keeps its completed steps; its failed steps are deleted so they run again, its
    error is cleared, and a workflow timeout starts anew (``timeout_of(workflow_name)``
    seconds from now). Return ``{execution id: status it had}`` for those retried; the
    others (unknown, or not FAILED, CANCELED or TIMED_OUT) are left as they are.
    """
    retried: dict[str, str] = {}
    ids = list(dict.fromkeys(execution_ids))
    for start in range(0, len(ids), BATCH_SIZE):
        retried.update(_retry_batch(ids[start : start + BATCH_SIZE], timeout_of))
    return retried


def _retry_batch(ids: list[str], timeout_of: TimeoutOf) -> dict[str, str]:
    now = clock.now()
    with dialect.write_transaction():
        rows = list(
            Executions.select_for_update()
            .filter(pk__in=ids, status__in=list(RETRYABLE_STATUSES))
            .values_list("id", "status", "workflow_name")
        )
        if not rows:
            return {}
        by_workflow: dict[str, list[str]] = {}
        for eid, _status, name in rows:
            by_workflow.setdefault(name, []).append(eid)
        retried = [eid for eid, _status, _name in rows]
        StepResult.objects.filter(execution_id__in=retried, status=StepStatus.FAILED).delete()
        children = _forget_failed_child_waits(
            [eid for eid, status, _name in rows if status == Status.FAILED]
        ) + _canceled_with([eid for eid, status, _name in rows if status != Status.FAILED])
        if children:
            # The children first: the parent must not find them failed still.
            _retry_batch(children, timeout_of)
        timers = []
        for name, members in by_workflow.items():
            timeout = timeout_of(name)
            deadline = now + dt.timedelta(seconds=timeout) if timeout else None
            Executions.filter(pk__in=members).update(
                status=Status.PENDING,
                result=None,
                error_type="",
                root_error_type="",
                error_message="",
                error_traceback="",
                cancel_reason="",
                finished_at=None,
                deadline_at=deadline,
                lease_owner="",
                lease_expires_at=None,
                retry_step_id="",
                retry_attempts=0,
                retry_max_attempts=0,
                retry_error_type="",
                retry_error_message="",
                retry_error_traceback="",
                retries=F("retries") + 1,
                retried_at=now,
                updated_at=now,
            )
            if deadline is not None:
                timers += [_timeout_timer(eid, deadline, now) for eid in members]
        # A finished execution has no timers (finishing deletes them); the new ones are not
        # visible to the scheduler before this commits, so the lock order holds.
        Timer.objects.bulk_create(timers, ignore_conflicts=True)
        dialect.notify_wake()
    return {eid: status for eid, status, _name in rows}


def _forget_failed_child_waits(execution_ids: list[str]) -> list[str]:
    """Forget the waits that failed these executions; return the children to retry too.

    A failed execution's tail of waits (the waits recorded after its last other step) holds
    the wait that raised ``ChildWorkflowFailed``, with any gathered beside it. Those that saw
    a child end without a result are deleted, so the retried parent waits again, and the
    children run again from where they failed. A wait the workflow caught and went on from
    is followed by other steps, and stays recorded: the retry replays the same branch.
    """
    children = []
    forget = []
    for execution_id in execution_ids:
        steps = StepResult.objects.filter(execution_id=execution_id).order_by("-id")
        for pk, name, result, child_id in steps.values_list("id", "name", "result", "arguments"):
            if name != step_ids.WAIT_WORKFLOW:
                break
            status = loads(None if result is None else bytes(result))["status"]
            if status == Status.COMPLETED:
                continue
            forget.append(pk)
            if status in RETRYABLE_STATUSES:
                children.append(child_id)
    StepResult.objects.filter(pk__in=forget).delete()
    return children


def _canceled_with(execution_ids: list[str]) -> list[str]:
    """The children a cancel or timeout of these executions canceled with them."""
    return list(
        Executions.filter(
            parent__in=execution_ids,
            status=Status.CANCELED,
            cancel_reason__startswith=CASCADE_PREFIX,
        ).values_list("id", flat=True)
    )


def check_retryable(execution_id: str) -> str:
    """The workflow name of a retryable execution; raise with the reason otherwise."""
    row = Executions.filter(pk=execution_id).values_list("status", "workflow_name").first()
    if row is None:
        raise ExecutionNotFound(execution_id)
    if row[0] not in RETRYABLE_STATUSES:
        raise NotRetryable(execution_id, row[0])
    return row[1]


def failed_execution_ids(workflow_name: str | None = None) -> list[str]:
    """Ids of every FAILED execution (of one workflow), oldest first."""
    rows = Executions.filter(status=Status.FAILED)
    if workflow_name is not None:
        rows = rows.filter(workflow_name=workflow_name)
    return list(rows.order_by("created_at").values_list("id", flat=True))


def fork(
    source_id: str,
    from_step: str,
    new_id: str,
    timeout: float | None,
) -> tuple[str, bool]:
    """Copy ``source_id`` as ``new_id`` with its completed steps recorded before ``from_step``.

    Return the id and whether it was created: a fork that already exists with the same
    source and step is left alone (the fork is idempotent, like a start with an id).
    """
    now = clock.now()
    source = Executions.filter(pk=source_id).values_list("workflow_name", "input").first()
    if source is None:
        raise ExecutionNotFound(source_id)
    workflow_name, data = source
    steps = list(StepResult.objects.filter(execution_id=source_id).order_by("id"))
    recorded = [step.step_id for step in steps]
    if from_step not in recorded:
        raise StepNotRecorded(source_id, from_step, recorded)
    kept = steps[: recorded.index(from_step)]
    deadline = now + dt.timedelta(seconds=timeout) if timeout else None
    row = WorkflowExecution(
        id=new_id,
        workflow_name=workflow_name,
        input=data,
        created_at=now,
        updated_at=now,
        deadline_at=deadline,
        forked_from=source_id,
        forked_from_step=from_step,
    )
    try:
        with dialect.write_transaction():
            row.save(force_insert=True)
            StepResult.objects.bulk_create(
                [_copy_step(step, new_id) for step in kept if step.status == StepStatus.COMPLETED]
            )
            if deadline is not None:
                Timer.objects.create(**_timeout_fields(new_id, deadline, now))
            dialect.notify_wake()
    except IntegrityError:
        existing = Executions.filter(pk=new_id).values_list("forked_from", "forked_from_step")
        if existing.first() == (source_id, from_step):
            return new_id, False
        if not existing.exists():
            raise
        raise ExecutionExists(new_id, f"fork {source_id!r} from step {from_step!r}") from None
    return new_id, True


def _copy_step(step: StepResult, execution_id: str) -> StepResult:
    step.pk = None
    step.execution_id = execution_id
    return step


def _timeout_fields(execution_id: str, deadline: dt.datetime, now: dt.datetime) -> dict:
    return {
        "execution_id": execution_id,
        "step_id": step_ids.WORKFLOW_TIMEOUT,
        "kind": TimerKind.WORKFLOW_TIMEOUT,
        "due_at": deadline,
        "created_at": now,
    }


def _timeout_timer(execution_id: str, deadline: dt.datetime, now: dt.datetime) -> Timer:
    return Timer(**_timeout_fields(execution_id, deadline, now))


def prune(ended_before: dt.datetime, statuses: Iterable[str], *, dry_run: bool = False) -> int:
    """Delete executions in ``statuses`` that ended before ``ended_before``; return how many.

    Their steps, timers, signals and runs go with them. Each batch is its own short
    transaction, so a large prune never holds a long lock. With ``dry_run``, only count.
    """
    wanted = [str(status) for status in statuses]
    if not set(wanted) <= FINAL_STATUSES:
        raise ValueError(f"only finished executions can be pruned, not {wanted}")
    old = Executions.filter(status__in=wanted, finished_at__lt=ended_before)
    if dry_run:
        return old.count()
    deleted = 0
    while True:
        ids = list(old.order_by("finished_at").values_list("id", flat=True)[:BATCH_SIZE])
        if not ids:
            return deleted
        with dialect.write_transaction():
            # The status is checked again: a retry may have made one live meanwhile.
            batch = Executions.filter(pk__in=ids, status__in=wanted, finished_at__lt=ended_before)
            # only("id"): the collector loads the rows it deletes, blobs and all otherwise.
            deleted += batch.only("id").delete()[1].get(WorkflowExecution._meta.label, 0)
