"""Repair and clean up executions: retry, fork, prune. Public through ``django_durable``."""

from __future__ import annotations

import datetime as dt
import functools
import math
import uuid
from collections.abc import Iterable

from . import clock, step_ids, store
from .exceptions import (
    DurableError,
    ExecutionNotFound,
    InvalidInput,
    NotRetryable,
    UnknownWorkflow,
)
from .models import FINAL_STATUSES, Status, WorkflowExecution
from .registry import register


def retry_workflow(execution_id: str) -> str:
    """Run a FAILED, CANCELED or TIMED_OUT execution again; return its id.

    It keeps every completed step and runs again from the step that failed or was
    interrupted. Raises :class:`~django_durable.exceptions.NotRetryable` for an execution
    that is live or completed, and changes nothing then.
    """
    error = retry_workflows([execution_id])[execution_id]
    if error is not None:
        raise error
    return execution_id


def retry_workflows(execution_ids: Iterable[str]) -> dict[str, DurableError | None]:
    """Retry each execution; return, in order, ``None`` for each retried, else why not.

    Meant for many at once (``durable_retry --all-failed``): a few queries per 500
    executions, each batch in a short transaction of its own.
    """
    ids = list(dict.fromkeys(execution_ids))
    outcome: dict[str, DurableError | None] = {}
    known = _statuses(ids)
    timeouts: dict[str, float | None] = {}
    unknown: dict[str, UnknownWorkflow] = {}
    candidates = []
    for eid in ids:
        if eid not in known:
            outcome[eid] = ExecutionNotFound(eid)
            continue
        status, name = known[eid]
        if status not in store.RETRYABLE_STATUSES:
            outcome[eid] = NotRetryable(eid, status)
            continue
        if name not in timeouts and name not in unknown:
            try:
                timeouts[name] = register.get_workflow(name).timeout
            except UnknownWorkflow as exc:
                unknown[name] = exc  # its code is gone: a retry would only fail again
        if name in unknown:
            outcome[eid] = unknown[name]
            continue
        candidates.append(eid)
    retried = store.retry(candidates, functools.partial(_timeout_of, timeouts))
    now_known = _statuses([eid for eid in candidates if eid not in retried])
    for eid in candidates:
        if eid in retried:
            outcome[eid] = None
        else:  # it changed between the look and the retry (another retry, a prune)
            status = now_known.get(eid, (None, ""))[0]
            outcome[eid] = ExecutionNotFound(eid) if status is None else NotRetryable(eid, status)
    return {eid: outcome[eid] for eid in ids}


def _timeout_of(known: dict[str, float | None], name: str) -> float | None:
    # Children retried with their parent are looked up here as they come.
    if name not in known:
        try:
            known[name] = register.get_workflow(name).timeout
        except UnknownWorkflow:
            known[name] = None
    return known[name]


def failed_workflows(workflow: str | None = None) -> list[str]:
    """Ids of every ``FAILED`` execution, of one workflow if given, oldest first."""
    name = None if workflow is None else register.get_workflow(workflow).name
    return store.failed_execution_ids(name)


def _statuses(ids: list[str]) -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    rows = WorkflowExecution.objects.values_list("id", "status", "workflow_name")
    for start in range(0, len(ids), store.repairs.BATCH_SIZE):
        batch = ids[start : start + store.repairs.BATCH_SIZE]
        found.update({eid: (status, name) for eid, status, name in rows.filter(pk__in=batch)})
    return found


def fork_workflow(execution_id: str, *, from_step: str, workflow_id: str | None = None) -> str:
    """Start a new execution from an existing one's record, up to ``from_step``; return its id.

    The new execution has the source's workflow and inputs, and its record holds the
    source's completed steps recorded before ``from_step``: those return their recorded
    results, and the workflow runs for real from ``from_step`` on. The source is not
    changed. With ``workflow_id`` the fork is idempotent, like a start with an id.
    """
    if not isinstance(from_step, str) or not from_step:
        raise InvalidInput("from_step must be the step id of a recorded step")
    if workflow_id is not None:
        step_ids.check_execution_id(workflow_id)
    source = WorkflowExecution.objects.filter(pk=execution_id).values_list("workflow_name")
    name = source.first()
    if name is None:
        raise ExecutionNotFound(execution_id)
    definition = register.get_workflow(name[0])
    new_id, _created = store.fork(
        execution_id, from_step, workflow_id or str(uuid.uuid4()), definition.timeout
    )
    return new_id


def prune_workflows(
    *, older_than_days: float, statuses: Iterable[str] | None = None, dry_run: bool = False
) -> int:
    """Delete finished executions that ended more than ``older_than_days`` ago.

    Only executions in ``statuses`` (default: every final status) go, with their steps,
    timers, signals and runs, in batches of short transactions. Return how many (would)
    go. Rows of workers not heard from for as long are deleted too.
    """
    days = older_than_days
    if isinstance(days, bool) or not isinstance(days, (int, float)) or not math.isfinite(days):
        raise InvalidInput(f"the age must be a number of days, not {days!r}")
    if days < 0:
        raise InvalidInput(f"the age must be 0 days or more, not {days:g}")
    wanted = list(FINAL_STATUSES) if statuses is None else list(statuses)
    for status in wanted:
        if status not in Status.values:
            raise InvalidInput(f"unknown status {status!r}; the statuses are {_all(Status)}")
        if status not in FINAL_STATUSES:
            raise InvalidInput(
                f"cannot prune {status} executions: only finished ones "
                f"({_all(FINAL_STATUSES)}) can be pruned"
            )
    now = clock.now()
    before = now - dt.timedelta(days=days)
    pruned = store.prune(before, wanted, dry_run=dry_run)
    if not dry_run:
        # A live worker beats every few seconds; a day of silence is a stopped or dead one.
        store.prune_workers(min(before, now - dt.timedelta(days=1)))
    return pruned


def _all(statuses) -> str:
    return ", ".join(s for s in Status.values if s in set(statuses))
