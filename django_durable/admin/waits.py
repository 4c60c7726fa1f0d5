"""One line saying what an execution waits for now, or how it ended."""

from __future__ import annotations

import datetime as dt

from django.contrib.admin.utils import quote
from django.urls import reverse
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString

from .. import step_ids
from ..models import RunOutcome, Status, TimerKind, WorkflowExecution
from .formatting import moment, relative, short_error
from .listing import RowFacts

# What a run that suspended in ctx.wait_workflow writes as its detail.
CHILD_DETAIL = "execution "


def waiting_for(execution: WorkflowExecution, facts: RowFacts, now: dt.datetime) -> str:
    """ "signal 'approve' since 14:02:11, times out at 15:02:11", "sleep until …", …"""
    child = awaited_execution(execution, facts)
    if child:
        return f"execution {child}{_child_wait_tail(facts, now)}"
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


def waiting_for_html(
    execution: WorkflowExecution, facts: RowFacts, now: dt.datetime, about: str = ""
) -> SafeString:
    """:func:`waiting_for` as HTML: the execution waited for (if any) is a link to its page.

    ``about`` is put after the link (e.g. the awaited execution's workflow and status).
    """
    child = awaited_execution(execution, facts)
    if not child:
        return escape(waiting_for(execution, facts, now))
    return format_html(
        'execution <a class="dd-mono" href="{}">{}</a>{}{}',
        execution_url(child),
        child,
        about,
        _child_wait_tail(facts, now),
    )


def awaited_execution(execution: WorkflowExecution, facts: RowFacts) -> str:
    """The id of the execution this one waits for in ``ctx.wait_workflow``, or ''."""
    if execution.status != Status.WAITING:
        return ""
    run = facts.latest_run
    if run is not None and run.outcome and run.outcome != RunOutcome.WAITING_CHILD:
        return ""  # a signal wait: waiting_for is left from an earlier wait, if set
    if execution.waiting_for:
        return execution.waiting_for
    if run is not None and run.detail.startswith(CHILD_DETAIL):
        return run.detail[len(CHILD_DETAIL) :]
    return ""


def execution_url(execution_id: str) -> str:
    return reverse("admin:django_durable_workflowexecution_change", args=[quote(execution_id)])


def _child_wait_tail(facts: RowFacts, now: dt.datetime) -> str:
    """ " since 14:02:11, times out at 15:02:11" for a wait in ctx.wait_workflow."""
    run = facts.latest_run
    text = ""
    if run is not None and run.outcome == RunOutcome.WAITING_CHILD and run.ended_at:
        text = f" since {moment(run.ended_at, now)}"
    for timer in facts.timers:
        if timer.kind != TimerKind.CHILD_TIMEOUT:
            continue
        if run is None or timer.step_id == run.waiting_on:
            text += f", times out at {moment(timer.due_at, now)} ({relative(timer.due_at, now)})"
            break
    return text


def _last_attempt(execution: WorkflowExecution) -> str:
    # Written by every failed attempt of the step now being retried (see store.steps).
    if not execution.retry_attempts:
        return ""
    limit = f" of {execution.retry_max_attempts}" if execution.retry_max_attempts else ""
    error = short_error(execution.retry_error_type, execution.retry_error_message)
    return f"; attempt {execution.retry_attempts}{limit} failed: {error}"


def _waiting(run, timers, now) -> str:
    if run is None or not run.waiting_on:
        return "a signal or another execution"
    since = moment(run.ended_at, now) if run.ended_at else "?"
    step_id = run.waiting_on
    name = step_ids.name_of(step_id)
    if name.startswith(step_ids.WAIT_SIGNAL_PREFIX):
        name = name[len(step_ids.WAIT_SIGNAL_PREFIX) :]
    text = f"signal {name!r} since {since}"
    timeout = timers.get(step_id)
    if timeout is not None and timeout.kind == TimerKind.SIGNAL_TIMEOUT:
        text += f", times out at {moment(timeout.due_at, now)}"
    return text
