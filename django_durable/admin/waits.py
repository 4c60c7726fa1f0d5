"""One line saying what an execution waits for now, or how it ended."""

from __future__ import annotations

import datetime as dt

from .. import step_ids
from ..models import RunOutcome, Status, TimerKind, WorkflowExecution
from .formatting import moment, relative, short_error
from .listing import RowFacts


def waiting_for(execution: WorkflowExecution, facts: RowFacts, now: dt.datetime) -> str:
    """ "signal 'approve' since 14:02:11, times out at 15:02:11", "sleep until …", …"""
    status = execution.status
    run = facts.latest_run
    timers = {timer.step_id: timer for timer in facts.timers}
    if status == Status.PENDING:
        if execution.lease_expires_at is not None and execution.lease_expires_at > now:
            return f"runnable again at {moment(execution.lease_expires_at, now)}"
        return f"a free worker thread, since {moment(execution.updated_at, now)}"
    if status == Status.RUNNING:
        worker = execution.lease_owner or "a worker"
        if facts.running_step:
            return f"step {facts.running_step} running on {worker}"
        since = run.started_at if run is not None else execution.updated_at
        return f"running on {worker} since {moment(since, now)}"
    if status == Status.SLEEPING:
        for timer in sorted(timers.values(), key=lambda t: t.due_at):
            due = f"{moment(timer.due_at, now)} ({relative(timer.due_at, now)})"
            if timer.kind == TimerKind.SLEEP:
                return f"sleep until {due}"
            if timer.kind == TimerKind.RETRY:
                return f"retry of step {timer.step_id} at {due}" + _last_attempt(execution)
        return "a timer"
    if status == Status.WAITING:
        return _waiting(run, timers, now)
    if status == Status.TIMED_OUT and execution.started_at is None:
        return "never started: timed out while queued"
    if status == Status.CANCELED:
        return f"canceled: {execution.cancel_reason}" if execution.cancel_reason else "canceled"
    if execution.error_type:
        return short_error(execution.error_type, execution.error_message)
    return ""


def _last_attempt(execution: WorkflowExecution) -> str:
    # Written by every failed attempt of the step now being retried (see store.steps).
    if not execution.retry_attempts:
        return ""
    limit = f" of {execution.retry_max_attempts}" if execution.retry_max_attempts else ""
    error = short_error(execution.retry_error_type, execution.retry_error_message)
    return f"; attempt {execution.retry_attempts}{limit} failed: {error}"


def _waiting(run, timers, now) -> str:
    if run is None or not run.waiting_on:
        return "a signal or a child execution"
    since = moment(run.ended_at, now) if run.ended_at else "?"
    step_id = run.waiting_on
    if run.outcome == RunOutcome.WAITING_CHILD:
        return f"child execution (step {step_id}) since {since}"
    name = step_ids.name_of(step_id)
    if name.startswith(step_ids.WAIT_SIGNAL_PREFIX):
        name = name[len(step_ids.WAIT_SIGNAL_PREFIX) :]
    text = f"signal {name!r} since {since}"
    timeout = timers.get(step_id)
    if timeout is not None and timeout.kind == TimerKind.SIGNAL_TIMEOUT:
        text += f", times out at {moment(timeout.due_at, now)}"
    return text
