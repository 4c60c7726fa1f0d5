"""What the execution page shows: facts, timeline, steps, children, events, timers, signals,
published values (``ctx.set_event``), runs.

Everything is loaded here in a fixed number of queries, with the long lists cut at a
limit: an execution of 10,000 steps still gives a page that loads fast and stays short.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from django.utils.html import format_html

from .. import step_ids
from ..events import events_of
from ..models import (
    FINAL_STATUSES,
    LIVE_STATUSES,
    EventValue,
    RunOutcome,
    Signal,
    Status,
    StepResult,
    StepStatus,
    Timer,
    WorkerProcess,
    WorkflowExecution,
    WorkflowRun,
)
from . import children, payloads, timeline
from .formatting import between, duration, full_moment, outcome_badge, short_error
from .listing import page_facts
from .waits import awaited_execution, waiting_for_html

# Past these the page lists the first rows and says how many more there are (and where).
STEP_LIMIT = 100
EVENT_LIMIT = 200
SIGNAL_LIMIT = 200
RUN_LIMIT = 200
# Timeline lanes shown at once; the others are folded below them.
OPEN_LANES = 30


@dataclass
class StepRow:
    step: StepResult
    offset: str
    duration: str
    outcome: str  # HTML


def page_context(execution: WorkflowExecution, now: dt.datetime) -> dict:
    """The template context of the execution page."""
    steps_query = StepResult.objects.filter(execution_id=execution.pk).order_by("id")
    steps = list(steps_query[: STEP_LIMIT + 1])
    steps_total = len(steps)
    if steps_total > STEP_LIMIT:
        steps = steps[:STEP_LIMIT]
        steps_total = steps_query.count()
    runs = list(WorkflowRun.objects.filter(execution_id=execution.pk).order_by("epoch"))
    timers = list(Timer.objects.filter(execution_id=execution.pk).order_by("due_at"))
    signals = list(Signal.objects.filter(execution_id=execution.pk).order_by("id")[:SIGNAL_LIMIT])
    published = list(EventValue.objects.filter(execution_id=execution.pk).order_by("key"))
    running_step = _running_step(execution)
    drawn = timeline.build(execution, steps, runs, timers, now, running_step)
    events = events_of(execution)
    hand_backs = sum(run.outcome == RunOutcome.HANDED_BACK for run in runs)
    row = page_facts([execution])[execution.pk] if execution.status in LIVE_STATUSES else None
    awaited = awaited_execution(execution, row) if row is not None else ""
    # The parent, the execution waited for and those the steps started: one query.
    related = children.related_rows({execution.parent, awaited} | children.step_executions(steps))
    awaited_by = children.awaited_by_step(runs)
    waited_by = children.waiters(execution)
    facts = _facts(execution, runs, hand_backs, now, related, execution.parent in waited_by)
    if row is not None:
        about = children.about(related.get(awaited)) if awaited else ""
        facts.insert(0, ("Waiting for", waiting_for_html(execution, row, now, about)))
    others = [eid for eid in waited_by if eid != execution.parent]
    if others:
        facts.append(("Waited for by", children.links(others, children.WAITER_LIMIT)))
    return {
        "execution": execution,
        "facts": facts,
        "input_html": payloads.render(execution.input),
        "result_html": payloads.render(execution.result) if execution.result is not None else "",
        "timeline": drawn,
        "open_lanes": drawn.lanes[:OPEN_LANES],
        "folded_lanes": drawn.lanes[OPEN_LANES:],
        "step_rows": [_step_row(step, execution.created_at, related, awaited_by) for step in steps],
        "steps_total": steps_total,
        "steps_cut": steps_total - len(steps),
        "events": events[:EVENT_LIMIT],
        "events_cut": max(0, len(events) - EVENT_LIMIT),
        "timers": timers,
        "signal_rows": _signal_rows(execution, signals, steps, runs),
        "published_rows": [(event, payloads.render(event.value)) for event in published],
        "run_rows": [_run_row(run, now) for run in runs[-RUN_LIMIT:]],
        "runs_cut": max(0, len(runs) - RUN_LIMIT),
        "run_count": len(runs) - hand_backs,
        "hand_backs": hand_backs,
        "running_step": running_step,
        **children.children_context(execution),
    }


def _facts(execution, runs, hand_backs, now, related, parent_waits) -> list[tuple[str, object]]:
    started = execution.started_at
    facts: list[tuple[str, object]] = [("Workflow", execution.workflow_name)]
    if execution.parent:
        parent = format_html(
            "{}{}{}",
            children.execution_link(execution.parent),
            children.about(related.get(execution.parent)),
            ", waiting for this one" if parent_waits else "",
        )
        facts.append(("Parent", parent))
    facts += [
        ("Queue", execution.queue),
        ("Priority", f"{execution.priority} (lower runs first)"),
        ("Created", full_moment(execution.created_at)),
    ]
    if started is None:
        never = "never: it timed out while queued" if execution.status == Status.TIMED_OUT else ""
        facts.append(("Started", never or "not yet"))
    else:
        facts.append(("Started", full_moment(started)))
    if execution.finished_at is not None:
        facts.append(("Finished", full_moment(execution.finished_at)))
        facts.append(
            ("Took", duration(between(started or execution.created_at, execution.finished_at)))
        )
    else:
        facts.append(("Age", duration(between(execution.created_at, now))))
    run_text = f"{len(runs) - hand_backs}"
    if hand_backs:
        run_text += f" (and {hand_backs} handed back before starting: not counted)"
    facts.append(("Runs", run_text))
    if execution.retries:
        facts.append(
            ("Retried", f"{execution.retries} time(s), last {full_moment(execution.retried_at)}")
        )
    if execution.deadline_at is not None:
        facts.append(("Times out at", full_moment(execution.deadline_at)))
    if execution.status == Status.RUNNING and execution.lease_owner:
        facts.append(
            ("Held by", f"{execution.lease_owner} until {full_moment(execution.lease_expires_at)}")
        )
    if execution.cancel_reason:
        facts.append(("Cancel reason", execution.cancel_reason))
    return facts


def _step_row(step: StepResult, origin: dt.datetime, related, awaited_by) -> StepRow:
    if step.status == StepStatus.FAILED:
        outcome = format_html(
            '<span class="dd-error">{}</span>{}',
            short_error(step.error_type, step.error_message, width=300),
            format_html(
                '<details class="dd-fold"><summary>traceback</summary>'
                '<pre class="dd-traceback">{}</pre></details>',
                step.error_traceback,
            )
            if step.error_traceback
            else "",
        )
    elif step.name == step_ids.SLEEP:
        outcome = format_html('<span class="dd-muted">{}</span>', "slept")
    elif (composed := children.step_outcome(step, related, awaited_by)) is not None:
        outcome = composed
    else:
        outcome = payloads.render(step.result)
    return StepRow(
        step,
        "+" + duration(between(origin, step.started_at)),
        duration(between(step.started_at, step.finished_at)),
        outcome,
    )


def _signal_rows(execution, signals, steps, runs) -> list[dict]:
    prefix = step_ids.WAIT_SIGNAL_PREFIX
    waited = {s.name[len(prefix) :] for s in steps if s.name.startswith(prefix)}
    for run in runs:
        name = step_ids.name_of(run.waiting_on)
        if run.outcome == RunOutcome.WAITING_SIGNAL and name.startswith(prefix):
            waited.add(name[len(prefix) :])
    ended = execution.status in FINAL_STATUSES
    rows = []
    for signal in signals:
        warning = ""
        if signal.consumed_at is None:
            if ended:
                warning = "never received: the execution has ended"
            elif signal.name not in waited:
                warning = (
                    f"no ctx.wait_signal({signal.name!r}) so far: it is received only if "
                    "the workflow waits for that name"
                )
        rows.append(
            {"signal": signal, "payload": payloads.render(signal.payload), "warning": warning}
        )
    return rows


def _run_row(run: WorkflowRun, now) -> dict:
    return {
        "run": run,
        "badge": outcome_badge(run.outcome),
        "duration": duration(between(run.started_at, run.ended_at or now)),
        "handed_back": run.outcome == RunOutcome.HANDED_BACK,
    }


def _running_step(execution: WorkflowExecution) -> str:
    if execution.status != Status.RUNNING or not execution.lease_owner:
        return ""
    steps = (
        WorkerProcess.objects.filter(pk=execution.lease_owner)
        .values_list("current_steps", flat=True)
        .first()
    )
    try:
        return json.loads(steps).get(execution.pk, "") if steps else ""
    except ValueError:
        return ""
