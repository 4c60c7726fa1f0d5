"""The ``ctx`` calls that compose executions: start child workflows and wait for them.

Starting a child is a step whose result is the child's id, recorded in the commit that
creates the child, so a rerun finds the id and starts nothing. Waiting is a step per awaited
execution whose result is how that execution ended; until it ends the parent is ``WAITING``
with no thread held, and the end wakes it (see ``store.children``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from . import clock, queues, step_ids, store
from .exceptions import (
    ChildWorkflowFailed,
    ExecutionNotFound,
    WaitTimeout,
    _ReplayStop,
)
from .models import Status, StepStatus
from .registry import register
from .serialization import dumps, loads
from .step_calls import timeout_seconds

START = step_ids.START_WORKFLOW_PREFIX
WAIT = step_ids.WAIT_WORKFLOW
WAIT_TIMED_OUT = store.WAIT_TIMED_OUT


class Composition:
    """Child workflows, for :class:`~django_durable.context.WorkflowContext`."""

    def start_workflow(
        self,
        name_or_fn: str | Callable[..., Any],
        *,
        workflow_id: str | None = None,
        queue: str | None = None,
        priority: int | None = None,
        **inputs: Any,
    ) -> str:
        """Start a child execution and return its id; a rerun returns the same id.

        The child runs on any worker, like any execution; canceling this execution cancels
        it. ``workflow_id``, ``queue`` and ``priority`` are as for ``start_workflow``.
        """
        return self._start_children(name_or_fn, [(inputs, workflow_id)], queue, priority)[0]

    def start_workflows(
        self,
        name_or_fn: str | Callable[..., Any],
        inputs: Iterable[dict[str, Any]],
        *,
        queue: str | None = None,
        priority: int | None = None,
    ) -> list[str]:
        """Start one child per dict of inputs, in a few commits; return their ids in order.

        The same as calling :meth:`start_workflow` for each, step ids included, but a
        fan-out of a thousand children costs two commits instead of a thousand.
        """
        specs = []
        for item in inputs:
            if not isinstance(item, dict):
                raise TypeError(
                    f"ctx.start_workflows() takes an iterable of dicts of inputs, "
                    f"not one holding {type(item).__name__}"
                )
            specs.append((item, None))
        return self._start_children(name_or_fn, specs, queue, priority)

    def wait_workflow(self, execution_id: str, timeout: float | dt.timedelta | None = None) -> Any:
        """Wait until the execution ends and return its result.

        Raises :class:`~django_durable.exceptions.ChildWorkflowFailed` if it failed, was
        canceled or timed out, and :class:`~django_durable.exceptions.WaitTimeout` if
        ``timeout`` seconds pass first. No thread waits: the execution is ``WAITING``.
        """
        seconds = timeout_seconds(timeout, "ctx.wait_workflow", allow_zero=True)
        return self._wait_children([execution_id], seconds, return_exceptions=False)[0]

    def wait_workflows(
        self, execution_ids: Iterable[str], *, return_exceptions: bool = False
    ) -> list[Any]:
        """Wait until every one of the executions has ended; return their results in order.

        The execution waits for the last of them still running, and the run its end wakes
        collects every other one that has ended by then, so a fan-out of a thousand costs a
        few runs, not a thousand. The first failed one raises ``ChildWorkflowFailed``, unless
        ``return_exceptions=True`` puts the exception in its place in the list.
        """
        return self._wait_children(list(execution_ids), None, return_exceptions)

    def run_workflow(
        self,
        name_or_fn: str | Callable[..., Any],
        *,
        workflow_id: str | None = None,
        queue: str | None = None,
        priority: int | None = None,
        **inputs: Any,
    ) -> Any:
        """:meth:`start_workflow`, then :meth:`wait_workflow`: a child's result."""
        child = self.start_workflow(
            name_or_fn, workflow_id=workflow_id, queue=queue, priority=priority, **inputs
        )
        return self.wait_workflow(child)

    def run_workflows(
        self,
        name_or_fn: str | Callable[..., Any],
        inputs: Iterable[dict[str, Any]],
        *,
        queue: str | None = None,
        priority: int | None = None,
        return_exceptions: bool = False,
    ) -> list[Any]:
        """Fan out and gather: :meth:`start_workflows`, then :meth:`wait_workflows`."""
        children = self.start_workflows(name_or_fn, inputs, queue=queue, priority=priority)
        return self.wait_workflows(children, return_exceptions=return_exceptions)

    # --- the steps ----------------------------------------------------------------------

    def _start_children(self, name_or_fn, specs, queue, priority) -> list[str]:
        definition = register.get_workflow(name_or_fn)
        queue, priority = queues.placement(definition.queue, queue, priority)
        step_name = START + definition.name
        ids: list[str] = []
        pending: list[store.ChildStart] = []
        for inputs, workflow_id in specs:
            step_id = self._enter(step_name, None)
            recorded = self._lookup(step_id, step_name)
            if recorded is not None:
                ids.append(loads(recorded.result))
                continue
            if self._replay:
                raise _ReplayStop(step_id, step_name, "step")
            data = definition.encode_inputs(inputs)
            if workflow_id is not None:
                step_ids.check_execution_id(workflow_id)
                if workflow_id == self._execution_id:
                    raise ValueError(
                        f"ctx.start_workflow(workflow_id={workflow_id!r}): that is this "
                        "execution's own id; a child needs an id of its own"
                    )
            child_id = workflow_id or str(uuid.uuid4())
            pending.append(
                store.ChildStart(
                    step_id,
                    step_name,
                    child_id,
                    workflow_id is not None,
                    definition.name,
                    data,
                    queue,
                    priority,
                    definition.timeout,
                )
            )
            ids.append(child_id)
        if not pending:
            return ids
        if self._on_step is not None:
            self._on_step(pending[0].step_id)
        for first in range(0, len(pending), store.CHILD_BATCH):
            batch = pending[first : first + store.CHILD_BATCH]
            try:
                self._store(store.start_children, self._lease, batch)
            except store.StepConflict:
                raise self._stop_run("a child's start was recorded by another run") from None
            for child in batch:
                self._memo[child.step_id] = store.RecordedStep(
                    child.step_id, child.step_name, StepStatus.COMPLETED, dumps(child.execution_id)
                )
        return ids

    def _wait_children(self, execution_ids, seconds, return_exceptions) -> list[Any]:
        entries = []
        for child_id in execution_ids:
            if not isinstance(child_id, str) or not child_id:
                raise TypeError(
                    f"ctx.wait_workflow() needs an execution id (a string), not {child_id!r}"
                )
            if child_id == self._execution_id:
                raise ValueError(
                    f"execution {child_id!r} cannot wait for itself: it would never end"
                )
            entries.append((self._enter(WAIT, None), child_id))
        missing = [(s, c) for s, c in entries if self._lookup(s, WAIT) is None]
        if missing and self._replay:
            raise _ReplayStop(missing[0][0], WAIT, "child")
        started = clock.now()
        while missing:
            states = self._store(store.child_states, [child for _, child in missing])
            for _, child_id in missing:
                if child_id not in states:
                    raise ExecutionNotFound(child_id)
            ended = [
                store.RecordedStep(
                    step_id,
                    WAIT,
                    StepStatus.COMPLETED,
                    _wait_record(states[child]),
                    arguments=child,
                )
                for step_id, child in missing
                if states[child].ended
            ]
            if not states[missing[0][1]].ended and seconds == 0:
                ended.append(
                    store.RecordedStep(
                        missing[0][0],
                        WAIT,
                        StepStatus.COMPLETED,
                        dumps(WAIT_TIMED_OUT),
                        arguments=missing[0][1],
                    )
                )
            if ended:
                try:
                    self._store(store.record_waits, self._lease, ended, started)
                    self._memo.update((step.step_id, step) for step in ended)
                except store.StepConflict:
                    # The wait's timeout fired meanwhile and recorded it: read the record.
                    self._memo.update(self._store(store.load_steps, self._execution_id))
                missing = [(s, c) for s, c in missing if s not in self._memo]
                if not missing:
                    break
            # Wait for the last one: started last, it most likely ends last, and the run
            # it wakes then collects the others in one look instead of one run each.
            step_id, child_id = missing[-1]
            timeout_at = None if seconds is None else started + dt.timedelta(seconds=seconds)
            outcome = self._store(
                store.suspend_on_child, self._lease, step_id, child_id, timeout_at
            )
            if outcome == store.SUSPENDED:
                self._suspend()
            if outcome == store.RECORDED:
                self._reload(step_id, WAIT)
                missing = missing[:-1]
        results = []
        for step_id, child_id in entries:
            try:
                results.append(_wait_outcome(child_id, self._memo[step_id].result, seconds))
            except (ChildWorkflowFailed, WaitTimeout) as error:
                if not return_exceptions:
                    raise
                results.append(error)
        return results


def _wait_record(state: store.ChildState) -> bytes:
    if state.status == Status.COMPLETED:
        return dumps({"status": str(state.status), "result": state.result})
    return dumps(
        {
            "status": str(state.status),
            "error_type": state.error_type,
            "error_message": state.error_message,
        }
    )


def _wait_outcome(child_id: str, data: bytes | None, seconds: float | None) -> Any:
    record = loads(data)
    status = record["status"]
    if status == Status.COMPLETED:
        return loads(record["result"])
    if status == WAIT_TIMED_OUT["status"]:
        raise WaitTimeout(child_id, seconds or 0.0)
    raise ChildWorkflowFailed(child_id, status, record["error_type"], record["error_message"])
