"""An execution's events, in time order, derived from its rows (nothing stores events).

Every fact already has a row: the execution (created, retried, forked, ended), its runs (who
ran it, how each run ended), its steps (attempts, timings), its timers (sleeps not yet
fired) and its signals (sent, consumed). Reading them back in time order gives the history
that the admin page and ``durable_inspect`` show, at no cost to the run loop.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from .models import (
    FINAL_STATUSES,
    RunOutcome,
    Signal,
    Status,
    StepResult,
    StepStatus,
    Timer,
    TimerKind,
    WorkflowExecution,
    WorkflowRun,
)
from .step_ids import SLEEP, WAIT_SIGNAL_PREFIX


@dataclass(frozen=True)
class Event:
    """One thing that happened to an execution."""

    at: dt.datetime
    kind: str  # created, forked, retried, run-started, run-ended, step, sleep, timer,
    # signal-sent, signal-consumed, canceled, ended
    summary: str
    step_id: str = ""
    run: int | None = None
    # Seconds the event lasted (a step's first start to its end, a sleep, a run).
    duration: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def events_of(execution: WorkflowExecution) -> list[Event]:
    """Every event of ``execution``, oldest first (four queries, one per table)."""
    events = [Event(execution.created_at, "created", f"started {execution.workflow_name}")]
    if execution.forked_from:
        events.append(
            Event(
                execution.created_at,
                "forked",
                f"forked from {execution.forked_from} at step {execution.forked_from_step}",
                step_id=execution.forked_from_step,
            )
        )
    if execution.retried_at is not None:
        times = "" if execution.retries == 1 else f" (retry {execution.retries})"
        events.append(Event(execution.retried_at, "retried", f"retried{times}"))
    for run in WorkflowRun.objects.filter(execution_id=execution.pk).order_by("epoch"):
        events += _run_events(run)
    steps = StepResult.objects.filter(execution_id=execution.pk).order_by("id")
    for step in steps.defer("result", "error_traceback"):
        events.append(_step_event(step))
    for timer in Timer.objects.filter(execution_id=execution.pk):
        events.append(_timer_event(timer))
    for signal in Signal.objects.filter(execution_id=execution.pk).defer("payload"):
        events.append(Event(signal.created_at, "signal-sent", f"signal {signal.name!r} sent"))
        if signal.consumed_at is not None:
            events.append(
                Event(
                    signal.consumed_at,
                    "signal-consumed",
                    f"signal {signal.name!r} received",
                    step_id=signal.consumed_by_step_id,
                )
            )
    if execution.status in FINAL_STATUSES and execution.finished_at is not None:
        events.append(_end_event(execution))
    order = {kind: n for n, kind in enumerate(_ORDER)}
    return sorted(events, key=lambda event: (event.at, order.get(event.kind, 50)))


# Among events at the same instant: what began before what it led to.
_ORDER = (
    "created",
    "forked",
    "retried",
    "signal-sent",
    "run-started",
    "timer",
    "sleep",
    "signal-consumed",
    "step",
    "run-ended",
    "canceled",
    "ended",
)


def _run_events(run: WorkflowRun) -> list[Event]:
    started = Event(
        run.started_at, "run-started", f"run {run.epoch} by {run.worker}", run=run.epoch
    )
    if not run.outcome:
        return [started]
    label = RunOutcome(run.outcome).label if run.outcome in RunOutcome.values else run.outcome
    summary = f"run {run.epoch} ended: {label.lower()}"
    if run.waiting_on:
        summary += f" at {run.waiting_on}"
    if run.detail:
        summary += f" ({run.detail})"
    ended_at = run.ended_at or run.started_at
    ended = Event(
        ended_at,
        "run-ended",
        summary,
        step_id=run.waiting_on,
        run=run.epoch,
        duration=(ended_at - run.started_at).total_seconds(),
    )
    return [started, ended]


def _step_event(step: StepResult) -> Event:
    duration = (step.finished_at - step.started_at).total_seconds()
    if step.name == SLEEP:
        return Event(step.finished_at, "sleep", "slept", step.step_id, duration=duration)
    if step.name.startswith(WAIT_SIGNAL_PREFIX):
        name = step.name[len(WAIT_SIGNAL_PREFIX) :]
        return Event(
            step.finished_at, "step", f"wait for signal {name!r} done", step.step_id, None, duration
        )
    attempts = "" if step.attempts == 1 else f" after {step.attempts} attempts"
    if step.status == StepStatus.FAILED:
        summary = f"{step.name} failed{attempts}: {step.error_type.rsplit('.', 1)[-1]}"
        if step.error_message:
            summary += f": {_short(step.error_message)}"
    else:
        summary = f"{step.name} completed{attempts}"
    return Event(step.finished_at, "step", summary, step.step_id, duration=duration)


def _timer_event(timer: Timer) -> Event:
    due = f"{timer.due_at:%Y-%m-%d %H:%M:%S %Z}".strip()
    summary = {
        TimerKind.SLEEP: f"sleeping until {due}",
        TimerKind.RETRY: f"next attempt of {timer.step_id} at {due}",
        TimerKind.SIGNAL_TIMEOUT: f"the wait times out at {due}",
        TimerKind.CHILD_TIMEOUT: f"the wait for another execution times out at {due}",
        TimerKind.WORKFLOW_TIMEOUT: f"the workflow times out at {due}",
    }.get(timer.kind, f"{timer.kind} due {due}")
    return Event(timer.created_at, "timer", summary, timer.step_id)


def _end_event(execution: WorkflowExecution) -> Event:
    status = execution.status
    if status == Status.CANCELED:
        reason = f": {execution.cancel_reason}" if execution.cancel_reason else ""
        summary = f"canceled{reason}"
        kind = "canceled"
    else:
        summary = Status(status).label.lower() if status in Status.values else status
        if execution.error_type:
            summary += f": {execution.error_type.rsplit('.', 1)[-1]}"
            if execution.error_message:
                summary += f": {_short(execution.error_message)}"
        kind = "ended"
    began = execution.started_at or execution.created_at
    duration = (execution.finished_at - began).total_seconds()
    return Event(execution.finished_at, kind, summary, duration=duration)


def _short(text: str, width: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
