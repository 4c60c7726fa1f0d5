"""An execution's timeline, laid out on the server: bars as percentages of one time axis.

Each step is a lane with a bar from its start to its end. A sleep's step starts when the
sleep began and ends when its timer fired; a signal wait, or a wait for another execution
(``ctx.wait_workflow``), starts when the run that first reached it suspended. What has not
ended yet (a pending timer, a wait, the step a worker runs now) is an open bar up to its due
time or to now. The runs of the execution are one more lane, so that the gaps between them
(asleep, waiting, queued) show.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from .. import step_ids
from ..models import (
    RunOutcome,
    Status,
    StepResult,
    StepStatus,
    Timer,
    TimerKind,
    WorkflowExecution,
    WorkflowRun,
)
from .children import awaited_by_step, started_execution, wait_record
from .formatting import between, duration, full_moment

# A bar never gets narrower than this (percent of the axis), so an instant step shows.
MIN_WIDTH = 0.35
# A pending timer due this many times further than the elapsed span is drawn up to the
# right edge (with its due time written on it) instead of squashing everything else.
STRETCH_LIMIT = 3.0


@dataclass
class Bar:
    left: float
    width: float
    # css modifier: completed, failed, sleep, signal, child, retry, running, run-<outcome>
    kind: str
    title: str
    label: str = ""
    open: bool = False

    @property
    def style(self) -> str:
        return f"left: {self.left:.3f}%; width: {self.width:.3f}%"


@dataclass
class Lane:
    label: str
    name: str
    bars: list[Bar]
    offset: str
    duration: str
    kind: str = "step"


@dataclass
class Timeline:
    lanes: list[Lane]
    run_lane: Lane
    ticks: list[tuple[float, str]]
    now_at: float | None
    span: float
    totals: dict[str, str] = field(default_factory=dict)


class _Axis:
    def __init__(self, start: dt.datetime, end: dt.datetime):
        self.start = start
        self.span = max((end - start).total_seconds(), 0.001)

    def bar(self, begin: dt.datetime, end: dt.datetime, kind: str, title: str, **extra) -> Bar:
        left = self.percent(begin)
        right = self.percent(end)
        width = max(right - left, MIN_WIDTH)
        left = min(left, 100.0 - MIN_WIDTH)
        return Bar(left, min(width, 100.0 - left), kind, title, **extra)

    def percent(self, when: dt.datetime) -> float:
        return min(100.0, max(0.0, (when - self.start).total_seconds() / self.span * 100))

    def offset(self, when: dt.datetime) -> str:
        return "+" + duration((when - self.start).total_seconds())


def build(
    execution: WorkflowExecution,
    steps: list[StepResult],
    runs: list[WorkflowRun],
    timers: list[Timer],
    now: dt.datetime,
    running_step: str = "",
) -> Timeline:
    """Lay out ``execution``'s steps, pending timers and runs on one axis."""
    start = execution.created_at
    end = execution.finished_at or now
    for step in steps:
        end = max(end, step.finished_at)
    pending = [t for t in timers if t.kind != TimerKind.WORKFLOW_TIMEOUT]
    for timer in pending:
        if between(start, timer.due_at) <= STRETCH_LIMIT * between(start, end):
            end = max(end, timer.due_at)
    axis = _Axis(start, end)
    # When each wait began: the end of the first run that suspended on it.
    suspended_at: dict[str, dt.datetime] = {}
    for run in runs:
        if run.waiting_on and run.ended_at and run.waiting_on not in suspended_at:
            suspended_at[run.waiting_on] = run.ended_at
    awaited = awaited_by_step(runs)
    lanes = [_step_lane(axis, step, suspended_at, awaited) for step in steps]
    recorded = {step.step_id for step in steps}
    live = execution.status not in (
        Status.COMPLETED,
        Status.FAILED,
        Status.CANCELED,
        Status.TIMED_OUT,
    )
    if live:
        lanes += _pending_lanes(axis, execution, runs, pending, recorded, suspended_at, now)
        if running_step and running_step not in recorded:
            began = max([s.finished_at for s in steps] + [r.started_at for r in runs[-1:]])
            bar = axis.bar(began, now, "running", f"running since {full_moment(began)}")
            bar.open = True
            lanes.append(Lane(running_step, "", [bar], axis.offset(began), "running"))
    return Timeline(
        lanes=lanes,
        run_lane=_run_lane(axis, runs, now),
        ticks=[(p, "+" + duration(axis.span * p / 100)) for p in (0, 25, 50, 75, 100)],
        now_at=axis.percent(now) if live and now <= end else None,
        span=axis.span,
        totals=_totals(execution, steps, runs, pending, suspended_at, now),
    )


def _step_lane(axis: _Axis, step: StepResult, suspended_at, awaited=None) -> Lane:
    began = step.started_at
    name = step.name
    if step.name == step_ids.SLEEP:
        kind, what = "sleep", "slept"
    elif step.name.startswith(step_ids.WAIT_SIGNAL_PREFIX):
        kind = "signal"
        what = f"waited for signal {step.name[len(step_ids.WAIT_SIGNAL_PREFIX) :]!r}"
        began = min(began, suspended_at.get(step.step_id, began))
    elif (record := wait_record(step, awaited)) is not None:
        kind, what = "child", record.waited
        began = min(began, suspended_at.get(step.step_id, began))
        name = what
    elif started := started_execution(step):
        kind, what = "completed", f"started execution {started}"
        name = what
    elif step.status == StepStatus.FAILED:
        kind, what = "failed", f"failed: {step.error_type.rsplit('.', 1)[-1]}"
    else:
        kind, what = "completed", "completed"
    seconds = between(began, step.finished_at)
    tries = f", {step.attempts} attempts" if step.attempts > 1 else ""
    title = (
        f"{step.step_id}: {what}{tries}; {full_moment(began)} → {full_moment(step.finished_at)} "
        f"({duration(seconds)})"
    )
    bar = axis.bar(began, step.finished_at, kind, title)
    return Lane(step.step_id, name, [bar], axis.offset(began), duration(seconds), kind)


def _pending_lanes(axis, execution, runs, timers, recorded, suspended_at, now) -> list[Lane]:
    lanes = []
    timed = {t.step_id: t for t in timers}
    for timer in timers:
        if timer.step_id in recorded:
            continue
        if timer.kind == TimerKind.SLEEP:
            kind, what, began = "sleep", "sleeping", timer.created_at
        elif timer.kind == TimerKind.RETRY:
            kind, what = "retry", "waiting to retry"
            began = suspended_at.get(timer.step_id, timer.created_at)
        else:
            continue  # a wait's timeout: drawn with the wait below
        lanes.append(_open_lane(axis, timer.step_id, kind, what, began, timer.due_at, now))
    last = runs[-1] if runs else None
    if (
        execution.status == Status.WAITING
        and last is not None
        and last.outcome in (RunOutcome.WAITING_SIGNAL, RunOutcome.WAITING_CHILD)
        and last.waiting_on not in recorded
    ):
        step_id = last.waiting_on
        timeout = timed.get(step_id)
        due = timeout.due_at if timeout is not None else None
        began = suspended_at.get(step_id, last.ended_at or now)
        if last.outcome == RunOutcome.WAITING_CHILD:
            awaited = execution.waiting_for or last.detail.removeprefix("execution ")
            kind, what = "child", f"waiting for execution {awaited}"
        else:
            kind, what = "signal", "waiting for a signal"
        lanes.append(_open_lane(axis, step_id, kind, what, began, due, now))
    return lanes


def _open_lane(axis, step_id, kind, what, began, due, now) -> Lane:
    until = due or now
    title = f"{step_id}: {what} since {full_moment(began)}"
    if due is not None:
        title += f", due {full_moment(due)}"
    label = f"until {full_moment(due)}" if due is not None and axis.percent(due) >= 100 else ""
    bar = axis.bar(began, until, kind, title, label=label, open=True)
    left = "due in " + duration(between(now, due)) if due and due > now else "open"
    return Lane(step_id, step_ids.name_of(step_id), [bar], axis.offset(began), left, kind)


def _run_lane(axis: _Axis, runs: list[WorkflowRun], now: dt.datetime) -> Lane:
    bars = []
    for run in runs:
        ended = run.ended_at or now
        outcome = run.outcome or "running"
        label = RunOutcome(run.outcome).label if run.outcome in RunOutcome.values else "running"
        title = (
            f"run {run.epoch} on {run.worker}: {label.lower()}; {full_moment(run.started_at)} → "
            f"{full_moment(run.ended_at) if run.ended_at else 'now'} "
            f"({duration(between(run.started_at, ended))})"
        )
        kind = "run-" + outcome.lower().replace("_", "-")
        bars.append(axis.bar(run.started_at, ended, kind, title, open=run.ended_at is None))
    first = runs[0].started_at if runs else None
    return Lane("runs", "", bars, axis.offset(first) if first else "", f"{len(runs)}", "run")


def _totals(execution, steps, runs, timers, suspended_at, now) -> dict[str, str]:
    end = execution.finished_at or now
    asleep = sum(
        between(s.started_at, s.finished_at) for s in steps if s.name == step_ids.SLEEP
    ) + sum(between(t.created_at, now) for t in timers if t.kind == TimerKind.SLEEP)
    waiting = 0.0
    # Waits for other executions overlap (wait_workflows records many at once): their union.
    awaited: list[tuple[dt.datetime, dt.datetime]] = []
    for step in steps:
        signal = step.name.startswith(step_ids.WAIT_SIGNAL_PREFIX)
        if signal or step.name == step_ids.WAIT_WORKFLOW:
            began = min(step.started_at, suspended_at.get(step.step_id, step.started_at))
            if signal:
                waiting += between(began, step.finished_at)
            else:
                awaited.append((began, step.finished_at))
    last = runs[-1] if runs else None
    if execution.status == Status.WAITING and last is not None:
        began = suspended_at.get(last.waiting_on, last.ended_at or now)
        if last.outcome == RunOutcome.WAITING_SIGNAL:
            waiting += between(began, now)
        elif last.outcome == RunOutcome.WAITING_CHILD:
            awaited.append((began, now))
    working = sum(
        between(r.started_at, r.ended_at or now)
        for r in runs
        if r.outcome != RunOutcome.HANDED_BACK
    )
    totals = {
        "wall clock": duration(between(execution.created_at, end)),
        "running code": duration(working),
        "asleep": duration(asleep),
        "waiting for signals": duration(waiting),
    }
    if awaited:
        totals["waiting for other executions"] = duration(_union(awaited))
    if execution.started_at is not None:
        totals["queued before the first run"] = duration(
            between(execution.created_at, execution.started_at)
        )
    return totals


def _union(spans: list[tuple[dt.datetime, dt.datetime]]) -> float:
    """Seconds covered by at least one of the spans."""
    total = 0.0
    end = None
    for began, ended in sorted(spans):
        if end is None or began > end:
            total += between(began, ended)
            end = ended
        elif ended > end:
            total += between(end, ended)
            end = ended
    return total
