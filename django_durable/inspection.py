"""Read-only views for people: an execution's record, runs and events, one step in full,
replays against the current code (one, all, or under a debugger), and the worker table."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field

from django.utils import timezone

from . import engine
from .api import NameOrFunction, error_dict, execution_row, get_workflow
from .conf import durable_settings
from .events import Event, events_of
from .exceptions import StepNotRecorded, UnknownWorkflow
from .models import (
    LIVE_STATUSES,
    Signal,
    Status,
    StepResult,
    Timer,
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
    now = timezone.now()
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
