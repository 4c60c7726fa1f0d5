"""Run one claimed execution once, and replay an execution without running anything.

A run calls the workflow function from the top with a fresh ``ctx``. Completed steps come
back from the record; the first step that is not recorded runs; the run ends when the
function returns or raises (the execution is finished), or when it suspends on a timer or a
signal, or when it loses its lease (nothing more is written).
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import DatabaseError, transaction

from . import clock, store
from .context import WorkflowContext
from .exceptions import (
    ChildWorkflowFailed,
    NonDeterminismError,
    SerializationError,
    StepFailed,
    UnknownWorkflow,
    _Abort,
    _DeadlineExceeded,
    _ReplayStop,
    _Suspend,
)
from .lease_clock import LeaseClock
from .models import FINAL_STATUSES, RunOutcome, Status, WorkflowExecution
from .registry import register
from .serialization import dumps, loads
from .step_calls import describe_error

logger = logging.getLogger("django_durable")


class Outcome(enum.Enum):
    COMPLETED = "completed"
    FAILED = "failed"
    TIMED_OUT = "timed out"
    SUSPENDED = "suspended"
    ABORTED = "aborted"
    # This process has no such workflow (an old worker during a deploy, an app missing from
    # INSTALLED_APPS): nothing was written; the execution is for a worker that knows it.
    UNKNOWN_WORKFLOW = "not runnable here (unknown workflow)"


def run_claimed(
    claimed: store.ClaimedExecution,
    abort: threading.Event | None = None,
    lease_clock: LeaseClock | None = None,
    on_step: Callable[[str], None] | None = None,
) -> Outcome:
    """Run a claimed execution until it finishes, suspends or loses its lease.

    ``on_step(step_id)`` is called before each step body runs (the worker shows it as what
    the execution is doing now).
    """
    lease = claimed.lease
    try:
        return _run(claimed, abort, lease_clock, on_step)
    except _Abort as exc:
        logger.info("run of %s stopped: %s", lease.execution_id, exc)
        _log_lease_lost(lease, str(exc))
        return Outcome.ABORTED
    except DatabaseError as exc:
        logger.warning("run of %s stopped by a database error: %s", lease.execution_id, exc)
        return Outcome.ABORTED


def _run(
    claimed: store.ClaimedExecution,
    abort: threading.Event | None,
    lease_clock: LeaseClock | None,
    on_step: Callable[[str], None] | None,
) -> Outcome:
    lease = claimed.lease
    if claimed.deadline_at is not None and clock.now() >= claimed.deadline_at:
        return _timed_out(lease)
    try:
        definition = register.get_workflow(claimed.workflow_name)
    except UnknownWorkflow:
        return Outcome.UNKNOWN_WORKFLOW
    ctx = WorkflowContext(
        execution_id=lease.execution_id,
        workflow_name=definition.name,
        memo={} if claimed.first_run else store.load_steps(lease.execution_id),
        lease=lease,
        retry_step_id=claimed.retry_step_id,
        retry_attempts=claimed.retry_attempts,
        deadline_at=claimed.deadline_at,
        abort=abort,
        lease_clock=lease_clock,
        on_step=on_step,
    )
    try:
        result = definition.fn(ctx, **loads(claimed.input))
    except _Suspend:
        return Outcome.SUSPENDED
    except _DeadlineExceeded:
        return _timed_out(lease)
    except _Abort:
        raise
    except BaseException as error:  # noqa: BLE001 - a workflow may raise anything
        if ctx.suspended:
            _warn_swallowed(lease.execution_id)
            return Outcome.SUSPENDED
        if isinstance(error, (KeyboardInterrupt, SystemExit)) and (
            threading.current_thread() is threading.main_thread()
        ):
            raise
        error_type, message, trace = describe_error(error)
        logger.warning(
            "execution %s of %s failed: %s: %s",
            lease.execution_id,
            definition.name,
            error_type,
            message,
        )
        logger.debug("execution %s failed with:\n%s", lease.execution_id, trace)
        store.finish(
            lease,
            Status.FAILED,
            error_type=error_type,
            error_message=message,
            error_traceback=trace,
            root_error_type=(
                error.error_type
                if isinstance(error, (StepFailed, ChildWorkflowFailed)) and error.error_type
                else error_type
            ),
        )
        return Outcome.FAILED
    if ctx.suspended:
        _warn_swallowed(lease.execution_id)
        return Outcome.SUSPENDED
    try:
        data = dumps(result, what=f"the result of workflow {definition.name!r}")
    except SerializationError as error:
        store.finish(lease, Status.FAILED, error_type=_type_path(error), error_message=str(error))
        return Outcome.FAILED
    # A first run that ends here never suspended, so it made no timer, and without a
    # deadline it was started with none: there is nothing to delete.
    none_made = claimed.first_run and claimed.deadline_at is None
    store.finish(lease, Status.COMPLETED, result=data, may_have_timers=not none_made)
    return Outcome.COMPLETED


def _log_lease_lost(lease: store.Lease, reason: str) -> None:
    # Not fenced: the run's own log row, and only while nothing else (a cancel, a takeover)
    # has ended it.
    try:
        store.end_run(lease.execution_id, lease.epoch, RunOutcome.LEASE_LOST, detail=reason)
    except DatabaseError as exc:
        logger.warning("could not log the end of the run of %s: %s", lease.execution_id, exc)


def _timed_out(lease: store.Lease) -> Outcome:
    store.finish(
        lease,
        Status.TIMED_OUT,
        error_type="django_durable.exceptions.WorkflowTimeout",
        error_message="the workflow's timeout passed before it finished",
    )
    return Outcome.TIMED_OUT


def _warn_swallowed(execution_id: str) -> None:
    logger.warning(
        "execution %s: the workflow caught the engine's suspension (a bare 'except:' or "
        "'except BaseException:') and went on; the execution is suspended anyway and the "
        "code after the catch will run again when it resumes",
        execution_id,
    )


def _type_path(error: BaseException) -> str:
    return f"{type(error).__module__}.{type(error).__qualname__}"


# --- replay -----------------------------------------------------------------------------


@dataclass
class ReplayReport:
    """What the current code would do with an execution's record."""

    execution_id: str
    verdict: str  # "next-step", "waiting", "completed", "failed", "diverged"
    next_step: dict | None = None
    problems: list[str] = field(default_factory=list)
    result: object = None
    error: str = ""
    replayed_steps: int = 0

    @property
    def diverged(self) -> bool:
        return self.verdict == "diverged"

    def as_dict(self) -> dict:
        return {
            "verdict": self.verdict,
            "diverged": self.diverged,
            "next_step": self.next_step,
            "problems": self.problems,
            "replayed_steps": self.replayed_steps,
            "error": self.error,
        }


def replay(execution_id: str, *, debugger: object | None = None) -> ReplayReport:
    """Run the workflow code against the record without executing a step or writing.

    Everything runs inside a transaction that is rolled back, so even a workflow that
    writes outside its steps leaves no trace. With ``debugger`` (a ``pdb.Pdb``), the
    workflow function is called under it, stopping at its first line.
    """
    execution = WorkflowExecution.objects.get(pk=execution_id)
    definition = register.get_workflow(execution.workflow_name)
    memo = store.load_steps(execution_id)
    order = list(memo)  # recording order: StepResult's default ordering is by id
    report = ReplayReport(execution_id, "completed")
    ctx = WorkflowContext(
        execution_id=execution_id,
        workflow_name=definition.name,
        memo=memo,
        replay=True,
    )
    finished = execution.status in FINAL_STATUSES
    stopped_early = False
    inputs = loads(execution.input)
    with transaction.atomic():
        try:
            if debugger is None:
                report.result = definition.fn(ctx, **inputs)
            else:
                report.result = debugger.runcall(definition.fn, ctx, **inputs)
        except _ReplayStop as stop:
            stopped_early = True
            report.next_step = {"step_id": stop.step_id, "name": stop.name, "kind": stop.kind}
            report.verdict = "waiting" if stop.kind in ("timer", "signal", "child") else "next-step"
            if finished and execution.status in (Status.COMPLETED, Status.FAILED):
                report.problems.append(
                    f"the execution ended {execution.status} but the code would now run "
                    f"{stop.kind} {stop.step_id!r} ({stop.name}), which is not recorded"
                )
        except NonDeterminismError as exc:
            stopped_early = True
            report.problems.append(str(exc))
        except Exception as exc:  # noqa: BLE001 - the workflow's own failure is a verdict
            report.verdict = "failed"
            report.error = f"{_type_path(exc)}: {exc}"
        transaction.set_rollback(True)
    report.replayed_steps = sum(1 for step_id in ctx.visited if step_id in memo)
    if not stopped_early:
        unreached = [step_id for step_id in order if step_id not in set(ctx.visited)]
        if unreached:
            report.problems.append(
                "recorded steps the code no longer reaches: " + ", ".join(unreached)
            )
    if report.problems:
        report.verdict = "diverged"
    return report
