"""Executions that start and wait for others (``ctx.start_workflow``, ``ctx.wait_workflow``).

What the execution page shows of them: the parent, the children (the first ``CHILD_LIMIT``
and a count per status), the executions waiting for this one, and the start and wait steps
in words ("started execution <id>", "execution <id> failed: ValueError: …") instead of the
recorded envelope. A fixed number of queries, whatever the number of children.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe

from .. import serialization, step_ids
from ..models import (
    LIVE_STATUSES,
    RunOutcome,
    Status,
    StepResult,
    StepStatus,
    WorkflowExecution,
    WorkflowRun,
)
from ..store.waits import WAIT_TIMED_OUT as TIMED_OUT_RECORD
from . import payloads
from .formatting import between, duration, short_error, status_badge
from .waits import CHILD_DETAIL, execution_url

# The children listed on the page; the list filtered by parent shows them all.
CHILD_LIMIT = 50
# The executions waiting for this one that are named on its page.
WAITER_LIMIT = 10
# How ctx.wait_workflow records a wait whose timeout fired first.
WAIT_TIMED_OUT = TIMED_OUT_RECORD["status"]
_ENDINGS = {
    Status.COMPLETED: "completed",
    Status.FAILED: "failed",
    Status.CANCELED: "was canceled",
    Status.TIMED_OUT: "timed out",
}


@dataclass
class WaitRecord:
    """A recorded ``ctx.wait_workflow`` step, decoded."""

    execution_id: str
    status: str  # the awaited execution's end, or WAIT_TIMED_OUT
    result: bytes | None = None
    error_type: str = ""
    error_message: str = ""

    @property
    def summary(self) -> str:
        """ "execution <id> completed", "… failed: ValueError: boom", "gave up waiting …"."""
        awaited = f"execution {self.execution_id}" if self.execution_id else "the execution"
        if self.status == WAIT_TIMED_OUT:
            return f"gave up waiting for {awaited}: the wait timed out"
        text = f"{awaited} {_ENDINGS.get(self.status, self.status.lower())}"
        if self.error_type or self.error_message:
            text += ": " + self.error_text
        return text

    @property
    def waited(self) -> str:
        """ "waited for execution <id>, which failed: ValueError: boom", for the timeline."""
        if self.status == WAIT_TIMED_OUT:
            return self.summary
        awaited = f"execution {self.execution_id}" if self.execution_id else "an execution"
        text = f"waited for {awaited}, which {_ENDINGS.get(self.status, self.status.lower())}"
        if self.error_type or self.error_message:
            text += ": " + self.error_text
        return text

    @property
    def error_text(self) -> str:
        if self.error_type:
            return short_error(self.error_type, self.error_message, width=300)
        return self.error_message


def started_execution(step: StepResult) -> str:
    """The id of the execution a ``ctx.start_workflow`` step started, or ''."""
    if not step.name.startswith(step_ids.START_WORKFLOW_PREFIX):
        return ""
    if step.status != StepStatus.COMPLETED or step.result is None:
        return ""
    try:
        value = serialization.loads(step.result)
    except Exception:  # noqa: BLE001 - an odd record is shown as it is stored
        return ""
    return value if isinstance(value, str) else ""


def awaited_by_step(runs: list[WorkflowRun]) -> dict[str, str]:
    """The execution each ``ctx.wait_workflow`` step suspended on waited for, by step id.

    A wait whose timeout fired is recorded by the timer, without the awaited id; the run
    that suspended on it names it ("execution <id>").
    """
    return {
        run.waiting_on: run.detail[len(CHILD_DETAIL) :]
        for run in runs
        if run.outcome == RunOutcome.WAITING_CHILD and run.detail.startswith(CHILD_DETAIL)
    }


def wait_record(step: StepResult, awaited: dict[str, str] | None = None) -> WaitRecord | None:
    """A ``ctx.wait_workflow`` step's record, or None for any other step (or an odd one).

    ``awaited`` is :func:`awaited_by_step`, for the waits that timed out.
    """
    if step.name != step_ids.WAIT_WORKFLOW or step.status != StepStatus.COMPLETED:
        return None
    try:
        value = serialization.loads(step.result)
    except Exception:  # noqa: BLE001
        return None
    if not isinstance(value, dict) or not isinstance(value.get("status"), str):
        return None
    result = value.get("result")
    return WaitRecord(
        # The awaited id, recorded with the wait (compose._wait_children), or else known
        # from the run that suspended on it.
        execution_id=step.arguments or (awaited or {}).get(step.step_id, ""),
        status=value["status"],
        result=result if isinstance(result, bytes) else None,
        error_type=str(value.get("error_type") or ""),
        error_message=str(value.get("error_message") or ""),
    )


def execution_link(execution_id: str, shown: str | None = None) -> SafeString:
    return format_html(
        '<a class="dd-mono" href="{}" title="{}">{}</a>',
        execution_url(execution_id),
        execution_id,
        execution_id if shown is None else shown,
    )


def about(row: dict | None) -> SafeString:
    """ " (child_adds, Waiting)" for an execution's row, or that it is no longer stored."""
    if row is None:
        return format_html(' <span class="dd-muted">{}</span>', "(not stored any more)")
    return format_html(
        ' <span class="dd-muted">(<span class="dd-mono">{}</span>)</span> {}',
        row["workflow_name"],
        status_badge(row["status"]),
    )


def related_rows(ids: set[str]) -> dict[str, dict]:
    """Workflow name and status of each of these executions that is stored, in one query."""
    ids = {eid for eid in ids if eid}
    if not ids:
        return {}
    rows = WorkflowExecution.objects.filter(pk__in=ids).values("id", "workflow_name", "status")
    return {row["id"]: row for row in rows}


def step_outcome(
    step: StepResult, related: dict[str, dict], awaited: dict[str, str]
) -> SafeString | None:
    """A start or wait step's outcome in words, with links; None for any other step."""
    started = started_execution(step)
    if started:
        return format_html(
            "started execution {}{}", execution_link(started), about(related.get(started))
        )
    record = wait_record(step, awaited)
    if record is None:
        return None
    if record.execution_id:
        link = format_html("execution {}", execution_link(record.execution_id))
    else:
        link = format_html("{}", "the execution")
    if record.status == WAIT_TIMED_OUT:
        return format_html(
            'gave up waiting for {}: <span class="dd-error">{}</span>',
            link,
            "the wait timed out",
        )
    ending = _ENDINGS.get(record.status, record.status.lower())
    if record.status == Status.COMPLETED:
        return format_html(
            "{} {} and returned{}",
            link,
            ending,
            payloads.render(record.result) if record.result is not None else ": null",
        )
    error = record.error_text
    return format_html(
        '{} <span class="dd-error">{}{}</span>',
        link,
        ending,
        f": {error}" if error else "",
    )


def step_executions(steps: list[StepResult]) -> set[str]:
    """The executions the listed steps started or waited for."""
    ids = set()
    for step in steps:
        started = started_execution(step)
        if started:
            ids.add(started)
    return ids


@dataclass
class ChildRow:
    execution: WorkflowExecution
    url: str
    badge: SafeString
    took: str


def children_context(execution: WorkflowExecution) -> dict:
    """The Children section: a count per status, and the first ``CHILD_LIMIT`` children.

    Two queries on the index on ``parent`` (none more when there is no child).
    """
    children = WorkflowExecution.objects.filter(parent=execution.pk)
    counts = dict(children.values_list("status").annotate(n=Count("id")).order_by())
    total = sum(counts.values())
    rows: list[ChildRow] = []
    if total:
        shown = children.order_by("created_at", "id").only(
            "id",
            "workflow_name",
            "status",
            "created_at",
            "started_at",
            "finished_at",
            "error_type",
            "error_message",
            "cancel_reason",
        )
        for child in shown[:CHILD_LIMIT]:
            title = ""
            if child.error_type:
                title = short_error(child.error_type, child.error_message, width=300)
            elif child.cancel_reason:
                title = f"canceled: {child.cancel_reason}"
            took = (
                duration(between(child.started_at, child.finished_at))
                if child.started_at and child.finished_at
                else ""
            )
            rows.append(
                ChildRow(child, execution_url(child.pk), status_badge(child.status, title), took)
            )
    by_status = [
        (status, Status(status).label.lower(), counts[status])
        for status in Status.values
        if counts.get(status)
    ]
    live = sum(n for status, n in counts.items() if status in LIVE_STATUSES)
    return {
        "child_rows": rows,
        "children_total": total,
        "children_cut": total - len(rows),
        "children_live": live,
        "children_by_status": by_status,
        "children_url": reverse("admin:django_durable_workflowexecution_changelist")
        + "?"
        + urlencode({"parent": execution.pk}),
    }


def waiters(execution: WorkflowExecution) -> list[str]:
    """The executions now waiting in ``ctx.wait_workflow`` for this one (at most a few)."""
    if execution.status not in LIVE_STATUSES:
        return []  # its end woke them
    rows = WorkflowExecution.objects.filter(waiting_for=execution.pk, status=Status.WAITING)
    return list(rows.order_by().values_list("id", flat=True)[: WAITER_LIMIT + 1])


def links(ids: list[str], limit: int) -> SafeString:
    shown = [execution_link(eid) for eid in ids[:limit]]
    more = ", and more" if len(ids) > limit else ""
    return mark_safe(", ".join(shown) + more)
