"""The Python API: start, wait, run, signal, cancel, get and inspect executions."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from django.db import DatabaseError

from . import clock, dialect, queues, step_ids, store
from .exceptions import (
    ExecutionNotFound,
    WaitTimeout,
    WorkflowFailed,
)
from .inline import InlineDriver
from .models import (
    FINAL_STATUSES,
    Status,
    StepResult,
    WorkflowExecution,
)
from .registry import register
from .serialization import dumps, loads
from .step_calls import timeout_seconds

NameOrFunction = str | Callable[..., Any]


def start_workflow(
    name_or_fn: NameOrFunction,
    *,
    workflow_id: str | None = None,
    queue: str | None = None,
    priority: int | None = None,
    **inputs: Any,
) -> str:
    """Start an execution of a workflow and return its id.

    With ``workflow_id`` the start is idempotent: if an execution with that id exists, it is
    left alone and its id is returned. ``queue`` overrides the workflow's queue and
    ``priority`` places it in that queue (lower runs first; 0 by default). Called inside
    ``transaction.atomic()``, the execution becomes visible to workers when that
    transaction commits.
    """
    return start_workflow_with(
        name_or_fn, inputs, workflow_id=workflow_id, queue=queue, priority=priority
    )


def start_workflow_with(
    name_or_fn: NameOrFunction,
    inputs: dict[str, Any],
    *,
    workflow_id: str | None = None,
    queue: str | None = None,
    priority: int | None = None,
) -> str:
    """:func:`start_workflow` with the inputs as a dict, so that any input name works."""
    return start_execution(
        name_or_fn, inputs, workflow_id=workflow_id, queue=queue, priority=priority
    ).execution_id


@dataclass(frozen=True)
class Started:
    """What a start did: the id, whether it created the execution, and, when it did not,
    whether the existing one was started with other inputs."""

    execution_id: str
    created: bool
    other_inputs: bool = False


def start_execution(
    name_or_fn: NameOrFunction,
    inputs: dict[str, Any],
    *,
    workflow_id: str | None = None,
    queue: str | None = None,
    priority: int | None = None,
) -> Started:
    """:func:`start_workflow_with`, saying whether an execution with the id existed."""
    definition = register.get_workflow(name_or_fn)
    data = definition.encode_inputs(inputs)
    if workflow_id is not None:
        step_ids.check_execution_id(workflow_id)
    queue, priority = queues.placement(definition.queue, queue, priority)
    execution_id, created = store.create_execution(
        definition.name,
        data,
        execution_id=workflow_id,
        timeout=definition.timeout,
        queue=queue,
        priority=priority,
    )
    if created:
        return Started(execution_id, True)
    stored = WorkflowExecution.objects.values_list("input", flat=True).get(pk=execution_id)
    return Started(execution_id, False, other_inputs=loads(stored) != loads(data))


def wait_workflow(execution_id: str, timeout: float | None = None) -> Any:
    """Wait until the execution ends and return its result.

    Raises :class:`~django_durable.exceptions.WorkflowFailed` if it ended without one
    (failed, canceled, timed out) and :class:`~django_durable.exceptions.WaitTimeout` if
    ``timeout`` seconds pass first. Waiting runs nothing: a worker must be running.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    pause = 0.01
    while True:
        row = execution_row(execution_id)
        if row.status in FINAL_STATUSES:
            return _result_of(row)
        if deadline is not None and time.monotonic() >= deadline:
            raise WaitTimeout(execution_id, timeout, row.status)
        remaining = None if deadline is None else deadline - time.monotonic()
        time.sleep(pause if remaining is None else max(0.0, min(pause, remaining)))
        pause = min(pause * 2, 0.5)


def _result_of(row: WorkflowExecution) -> Any:
    if row.status == Status.COMPLETED:
        return loads(row.result)
    message = row.error_message or row.cancel_reason
    raise WorkflowFailed(row.id, row.status, row.error_type, message)


def run_workflow(name_or_fn: NameOrFunction, **inputs: Any) -> Any:
    """Start a workflow and run it to its end in this thread; return its result.

    Meant for scripts and tests. Timers are waited for here (the thread sleeps); a signal
    wait blocks until another process sends the signal. A running worker may take part.
    """
    definition = register.get_workflow(name_or_fn)
    data = definition.encode_inputs(inputs)
    driver = InlineDriver()
    execution_id, _ = store.create_execution(
        definition.name,
        data,
        timeout=definition.timeout,
        queue=queues.check_queue(definition.queue),
        owner=driver.owner,
        lease_seconds=driver.lease_seconds,
    )
    driver.execution_id = execution_id
    # Created already claimed by this driver, so no worker can take it first.
    driver.run(_initial_claim(execution_id, driver.owner))
    while True:
        row = execution_row(execution_id)
        if row.status in FINAL_STATUSES:
            return _result_of(row)
        if driver.run_once():
            continue
        # Nothing to run now: its timer is not due, it waits for a signal, or a worker
        # holds it. Sleep until the timer, or look again shortly.
        due = driver.next_timer_due()
        pause = 0.05 if row.status in (Status.PENDING, Status.RUNNING) else 0.2
        if due is not None:
            pause = min(
                pause if row.status == Status.WAITING else 60.0, (due - clock.now()).total_seconds()
            )
        time.sleep(max(0.0, pause))


def _initial_claim(execution_id: str, owner: str) -> store.ClaimedExecution:
    row = WorkflowExecution.objects.get(pk=execution_id)
    return store.ClaimedExecution(
        store.Lease(execution_id, row.lease_epoch, owner),
        row.workflow_name,
        bytes(row.input),
        row.deadline_at,
        row.retry_step_id,
        row.retry_attempts,
        first_run=True,
    )


def signal_workflow(execution_id: str, name: str, payload: Any = None) -> None:
    """Send the signal ``name`` with ``payload`` to an execution, waking it if it waits."""
    step_ids.check_signal_name(name)
    data = dumps(payload, what=f"the payload of signal {name!r}")
    store.deliver_signal(execution_id, name, data)


def get_event(execution_id: str, key: str, timeout: float | None = None) -> Any:
    """The latest value the execution published under ``key`` with ``ctx.set_event``.

    Without one yet, wait up to ``timeout`` seconds for it (not at all by default), then
    return ``None``; an execution that has ended publishes nothing more, so the wait stops
    there. On PostgreSQL the wait listens for the publication (LISTEN/NOTIFY) rather than
    polling. Raises :class:`~django_durable.exceptions.ExecutionNotFound` for an unknown id.
    """
    step_ids.check_event_key(key)
    seconds = timeout_seconds(timeout, "get_event", allow_zero=True)
    found, data = store.event_value(execution_id, key)
    if found:
        return loads(data)
    status = execution_row(execution_id).status
    if not seconds or status in FINAL_STATUSES:
        return None
    deadline = time.monotonic() + seconds
    # Listening, a look a second still catches an execution ending without a value;
    # polling, the looks thin out from 10 ms to 200 ms.
    pause, longest = (1.0, 1.0) if dialect.can_listen() else (0.01, 0.2)
    with dialect.published_events() as wait:
        while True:
            found, data = store.event_value(execution_id, key)
            if found:
                return loads(data)
            remaining = deadline - time.monotonic()
            if remaining <= 0 or execution_row(execution_id).status in FINAL_STATUSES:
                return None
            wait(min(pause, remaining))
            pause = min(pause * 2, longest)


def cancel_workflow(execution_id: str, reason: str | None = None) -> None:
    """Cancel a live execution and its live children (theirs too). A step already running
    finishes, but nothing after it."""
    for attempt in range(1, 4):
        try:
            store.cancel(execution_id, reason or "")
            return
        except DatabaseError as exc:
            # A cascade locks many rows: a deadlock with a finishing child is possible, and
            # the database undid this side of it entirely.
            if attempt == 3 or not dialect.is_deadlock(exc):
                raise


@dataclass
class StepInfo:
    step_id: str
    name: str
    status: str
    attempts: int
    started_at: dt.datetime
    finished_at: dt.datetime
    result: Any = None
    error: dict | None = None


@dataclass
class ExecutionInfo:
    id: str
    workflow: str
    status: str
    input: dict
    result: Any
    error: dict | None
    created_at: dt.datetime
    updated_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    runs: int
    steps: list[StepInfo] = field(default_factory=list)
    lease_owner: str = ""
    queue: str = "default"
    priority: int = 0
    # The execution that started it with ctx.start_workflow ("" for none).
    parent: str = ""

    def as_dict(self) -> dict:
        return asdict(self)

    def as_row(self) -> dict:
        """The fields :func:`~django_durable.inspection.describe_now` needs."""
        return {
            "id": self.id,
            "status": self.status,
            "lease_owner": self.lease_owner,
            "workflow": self.workflow,
        }


def get_workflow(execution_id: str) -> ExecutionInfo:
    """Return an execution's status, input, result, error and steps."""
    row = execution_row(execution_id)
    steps = [
        StepInfo(
            step.step_id,
            step.name,
            step.status,
            step.attempts,
            step.started_at,
            step.finished_at,
            loads(step.result),
            error_dict(step.error_type, step.error_message, step.error_traceback),
        )
        for step in StepResult.objects.filter(execution_id=execution_id).order_by("id")
    ]
    error = error_dict(row.error_type, row.error_message, row.error_traceback)
    if row.status == Status.CANCELED:
        error = {"type": "canceled", "message": row.cancel_reason, "traceback": ""}
    return ExecutionInfo(
        id=row.id,
        workflow=row.workflow_name,
        status=row.status,
        input=loads(row.input),
        result=loads(row.result),
        error=error,
        created_at=row.created_at,
        updated_at=row.updated_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        runs=row.runs,
        steps=steps,
        lease_owner=row.lease_owner,
        queue=row.queue,
        priority=row.priority,
        parent=row.parent,
    )


def error_dict(error_type: str, message: str, trace: str) -> dict | None:
    if not error_type and not message:
        return None
    return {"type": error_type, "message": message, "traceback": trace}


def execution_row(execution_id: str) -> WorkflowExecution:
    row = WorkflowExecution.objects.filter(pk=execution_id).first()
    if row is None:
        raise ExecutionNotFound(execution_id)
    return row
