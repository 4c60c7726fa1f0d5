"""Read-only views for people: an execution's record, runs and events, one step in full,
replays against the current code (one, all, or under a debugger), and the worker table."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field

from django.db.models import F, OuterRef, Subquery
from django.utils import timezone

from . import clock, engine, step_ids
from .api import NameOrFunction, error_dict, execution_row, get_workflow
from .conf import durable_settings
from .events import Event, events_of
from .exceptions import InvalidInput, StepNotRecorded, UnknownWorkflow
from .models import (
    LIVE_STATUSES,
    EventValue,
    RunOutcome,
    Signal,
    Status,
    StepResult,
    Timer,
    TimerKind,
    WorkerProcess,
    WorkflowExecution,
    WorkflowRun,
)
from .registry import register
from .serialization import loads


def workflow_events(execution_id: str) -> list[Event]:
    """An execution's events in time order: created, runs, steps, sleeps, signals, end."""
    return events_of(execution_row(execution_id))


def workflow_runs(execution_id: str) -> list[dict]:
    """The run log of an execution: one dict per run, oldest first."""
    execution_row(execution_id)
    return [
        {
            "run": run.epoch,
            "worker": run.worker,
            "started_at": run.started_at,
            "ended_at": run.ended_at,
            "outcome": run.outcome or "RUNNING",
            "waiting_on": run.waiting_on,
            "detail": run.detail,
        }
        for run in WorkflowRun.objects.filter(execution_id=execution_id).order_by("epoch")
    ]


def inspect_workflow(execution_id: str, replay: bool = False) -> dict:
    """Everything recorded about an execution (and, with ``replay``, a replay verdict)."""
    info = get_workflow(execution_id)
    report = info.as_dict()
    report["runs"] = workflow_runs(execution_id)
    report["events"] = [event.as_dict() for event in workflow_events(execution_id)]
    report["timers"] = [
        {"step_id": t.step_id, "kind": t.kind, "due_at": t.due_at}
        for t in Timer.objects.filter(execution_id=execution_id).order_by("due_at")
    ]
    report["signals"] = [
        {
            "name": s.name,
            "payload": loads(s.payload),
            "sent_at": s.created_at,
            "consumed_at": s.consumed_at,
            "consumed_by_step_id": s.consumed_by_step_id,
        }
        for s in Signal.objects.filter(execution_id=execution_id).order_by("id")
    ]
    report["published"] = {
        event.key: {"value": loads(event.value), "updated_at": event.updated_at}
        for event in EventValue.objects.filter(execution_id=execution_id).order_by("key")
    }
    if replay:
        report["replay"] = engine.replay(execution_id).as_dict()
    return report


@dataclass
class WorkerInfo:
    """A worker process as its row and its leases tell it."""

    id: str
    host: str
    pid: int
    threads: int
    queues: list[str]
    started_at: dt.datetime
    last_heartbeat_at: dt.datetime
    stopped_at: dt.datetime | None
    # "running", "stopped", or "dead" (no heartbeat for longer than a lease).
    state: str
    # What it runs now: {"execution_id", "workflow", "step"} per execution it holds.
    holds: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def list_workers(*, include_stopped: bool = True) -> list[WorkerInfo]:
    """Every known worker, most recently heard from first, with what each holds now."""
    now = clock.now()
    silent_since = now - dt.timedelta(seconds=float(durable_settings.DURABLE_LEASE_SECONDS))
    rows = WorkerProcess.objects.order_by("-last_heartbeat_at")
    if not include_stopped:
        rows = rows.filter(stopped_at__isnull=True, last_heartbeat_at__gte=silent_since)
    workers = list(rows)
    held: dict[str, list[dict]] = {}
    live = [w.id for w in workers if w.stopped_at is None]
    running = WorkflowExecution.objects.filter(status=Status.RUNNING, lease_owner__in=live)
    for eid, owner, workflow in running.values_list("id", "lease_owner", "workflow_name"):
        held.setdefault(owner, []).append({"execution_id": eid, "workflow": workflow, "step": ""})
    result = []
    for worker in workers:
        steps = json.loads(worker.current_steps) if worker.current_steps else {}
        holds = held.get(worker.id, [])
        for item in holds:
            item["step"] = steps.get(item["execution_id"], "")
        if worker.stopped_at is not None:
            state = "stopped"
        elif worker.last_heartbeat_at < silent_since:
            state = "dead"
        else:
            state = "running"
        result.append(
            WorkerInfo(
                id=worker.id,
                host=worker.host,
                pid=worker.pid,
                threads=worker.threads,
                queues=[q for q in worker.queues.split(",") if q],
                started_at=worker.started_at,
                last_heartbeat_at=worker.last_heartbeat_at,
                stopped_at=worker.stopped_at,
                state=state,
                holds=holds,
            )
        )
    return result


def inspect_step(execution_id: str, step_id: str) -> dict:
    """One recorded step in full: arguments, result or error with traceback, timings."""
    execution_row(execution_id)
    step = StepResult.objects.filter(execution_id=execution_id, step_id=step_id).first()
    if step is None:
        recorded = list(
            StepResult.objects.filter(execution_id=execution_id)
            .order_by("id")
            .values_list("step_id", flat=True)
        )
        raise StepNotRecorded(execution_id, step_id, recorded)
    return {
        "execution_id": execution_id,
        "step_id": step.step_id,
        "name": step.name,
        "status": step.status,
        "arguments": step.arguments,
        "attempts": step.attempts,
        "started_at": step.started_at,
        "finished_at": step.finished_at,
        "duration": (step.finished_at - step.started_at).total_seconds(),
        "result": loads(step.result),
        "error": error_dict(step.error_type, step.error_message, step.error_traceback),
    }


def replay_workflows(workflow: NameOrFunction | None = None) -> list[engine.ReplayReport]:
    """Replay every unfinished execution (of one workflow) against the current code.

    Nothing runs and nothing is written. An execution whose workflow is no longer
    registered is reported as diverged. This is the gate to run before deploying new
    workflow code: any diverged report means a live execution would break.
    """
    rows = WorkflowExecution.objects.filter(status__in=list(LIVE_STATUSES))
    if workflow is not None:
        rows = rows.filter(workflow_name=register.get_workflow(workflow).name)
    reports = []
    for execution_id in rows.order_by("created_at").values_list("id", flat=True).iterator():
        try:
            reports.append(engine.replay(execution_id))
        except UnknownWorkflow as exc:
            reports.append(engine.ReplayReport(execution_id, "diverged", problems=[str(exc)]))
        except WorkflowExecution.DoesNotExist:
            continue  # pruned or finished and removed meanwhile
    return reports


def debug_workflow(execution_id: str, debugger: object) -> engine.ReplayReport:
    """Replay an execution under ``debugger`` (a ``pdb.Pdb``), stopping in the workflow.

    Recorded results are served to the code; no step runs and nothing is written.
    """
    execution_row(execution_id)
    return engine.replay(execution_id, debugger=debugger)


def list_workflows(
    *, status: str | None = None, workflow: str | None = None, limit: int = 50
) -> list[dict]:
    """The most recent executions, newest first, with what each is doing now.

    Each dict has ``id``, ``workflow``, ``status``, ``created_at``, ``current_step`` (the
    last recorded step) and ``doing`` (see :func:`describe_now`). A fixed number of queries
    whatever ``limit`` is.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidInput(f"the limit must be a whole number of 1 or more, not {limit!r}")
    rows = WorkflowExecution.objects.order_by("-created_at")
    if status:
        if status not in Status.values:
            raise InvalidInput(f"unknown status {status!r}; the statuses are {Status.values}")
        rows = rows.filter(status=status)
    if workflow:
        rows = rows.filter(workflow_name=workflow)
    last_step = StepResult.objects.filter(execution=OuterRef("pk")).order_by("-id")
    rows = rows.annotate(current_step=Subquery(last_step.values("step_id")[:1]))
    found = list(
        rows.values(
            "id", "status", "created_at", "current_step", "lease_owner", workflow=F("workflow_name")
        )[:limit]
    )
    doing = describe_now(found)
    for row in found:
        row["doing"] = doing[row["id"]]
        del row["lease_owner"]
    return found


def describe_now(executions: list[dict]) -> dict[str, str]:
    """What each execution is doing now, in a few words, by id.

    ``executions`` are dicts with ``id``, ``status``, ``lease_owner`` and, optionally,
    ``workflow`` (a pending execution of a workflow this code lacks says so). Sleeping ones
    say until when (or which step's retry), waiting ones which signal or which execution
    (and until when),
    running ones the step their worker last reported; finished ones ``-``. Three queries
    at most, whatever the number of executions.
    """
    ids = [row["id"] for row in executions]
    timers: dict[str, list[Timer]] = {}
    for timer in Timer.objects.filter(execution_id__in=ids).exclude(
        kind=TimerKind.WORKFLOW_TIMEOUT
    ):
        timers.setdefault(timer.execution_id, []).append(timer)
    waiting = [row["id"] for row in executions if row["status"] == Status.WAITING]
    waits: dict[str, str] = {}
    if waiting:
        runs = WorkflowRun.objects.filter(
            execution_id__in=waiting,
            outcome__in=[RunOutcome.WAITING_SIGNAL, RunOutcome.WAITING_CHILD],
        ).order_by("epoch")
        for eid, step_id, outcome, detail in runs.values_list(
            "execution_id", "waiting_on", "outcome", "detail"
        ):
            # The latest run's wait wins; a child wait's detail is "execution <id>".
            waits[eid] = detail if outcome == RunOutcome.WAITING_CHILD else step_id
    owners = {row["lease_owner"] for row in executions if row["status"] == Status.RUNNING}
    steps_of: dict[str, dict] = {}
    if owners:
        for worker_id, current in WorkerProcess.objects.filter(pk__in=owners).values_list(
            "id", "current_steps"
        ):
            steps_of[worker_id] = json.loads(current) if current else {}
    described = {}
    for row in executions:
        eid, status = row["id"], row["status"]
        if status == Status.SLEEPING:
            text = _sleeping(timers.get(eid, []))
        elif status == Status.WAITING:
            text = _waiting(waits.get(eid, ""), timers.get(eid, []))
        elif status == Status.RUNNING:
            step = steps_of.get(row["lease_owner"], {}).get(eid, "")
            text = f"running {step}" if step else "running"
        elif status == Status.PENDING:
            workflow = row.get("workflow")
            if workflow and workflow not in register.workflows:
                # Workers running this code would hand it back: say so, not "queued".
                text = f"queued, but this code has no workflow {workflow!r}"
            else:
                text = "queued for a worker"
        else:
            text = "-"
        described[eid] = text
    return described


def _when(moment: dt.datetime) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M:%S %Z}" if moment else "?"


def _sleeping(timers: list[Timer]) -> str:
    for timer in timers:
        if timer.kind == TimerKind.RETRY:
            return f"retrying {timer.step_id} at {_when(timer.due_at)}"
        if timer.kind == TimerKind.SLEEP:
            return f"ctx.sleep until {_when(timer.due_at)}"
    return "sleeping"


def _waiting(step_id: str, timers: list[Timer]) -> str:
    if step_id.startswith("execution "):
        text = f"waiting for {step_id}"
        for timer in timers:
            if timer.kind == TimerKind.CHILD_TIMEOUT:
                text += f" until {_when(timer.due_at)}"
        return text
    name = step_ids.name_of(step_id)[len(step_ids.WAIT_SIGNAL_PREFIX) :] if step_id else ""
    text = f"waiting for signal {name!r}" if name else "waiting for a signal"
    for timer in timers:
        if timer.kind == TimerKind.SIGNAL_TIMEOUT and timer.step_id == step_id:
            text += f" until {_when(timer.due_at)}"
    return text


def pending_signals(execution_id: str) -> list[dict]:
    """Signals sent to an execution that no wait has received yet, oldest first."""
    rows = Signal.objects.filter(execution_id=execution_id, consumed_at__isnull=True)
    return [
        {"name": name, "sent_at": sent_at}
        for name, sent_at in rows.order_by("id").values_list("name", "created_at")
    ]


def list_schedules() -> list[dict]:
    """Every scheduled workflow: its cron expression, next tick, and latest execution."""
    from . import schedules
    from .registry import scheduled_workflows

    now = clock.now()
    found = []
    for definition in scheduled_workflows(register):
        latest = (
            WorkflowExecution.objects.filter(
                workflow_name=definition.name, pk__startswith=f"{definition.name}@"
            )
            .order_by("-created_at")
            .values("id", "status")
            .first()
        )
        found.append(
            {
                "workflow": definition.name,
                "schedule": definition.schedule,
                "next_tick": schedules.next_tick(definition.schedule, now),
                "latest_execution": latest["id"] if latest else None,
                "latest_status": latest["status"] if latest else None,
            }
        )
    return found
