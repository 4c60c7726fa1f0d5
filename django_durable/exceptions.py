"""The errors Django Durable raises, and the private control flow it uses to suspend runs.

Public errors derive from :class:`DurableError`. The control-flow exceptions derive from
``BaseException`` so that a user's ``except Exception:`` in workflow code cannot swallow a
suspension or an abort.
"""

from __future__ import annotations


class DurableError(Exception):
    """Base class of every error Django Durable raises on purpose."""


class UnknownWorkflow(DurableError, LookupError):
    def __init__(self, name: str):
        self.name = name
        super().__init__(
            f"unknown workflow {name!r}: no workflow of that name is registered (is it in the "
            "durable_workflows module of an app, and is that app in INSTALLED_APPS?)"
        )


class UnknownActivity(DurableError, LookupError):
    def __init__(self, name: str):
        self.name = name
        super().__init__(
            f"unknown activity {name!r}: no activity of that name is registered "
            "(is it in a durable_activities module of an installed app?)"
        )


class ExecutionNotFound(DurableError, LookupError):
    def __init__(self, execution_id: str):
        self.execution_id = execution_id
        super().__init__(f"no workflow execution with id {execution_id!r}")


class ExecutionFinished(DurableError):
    """An operation needs a live execution, and this one has ended."""

    def __init__(self, execution_id: str, status: str, action: str):
        self.execution_id = execution_id
        self.status = status
        super().__init__(
            f"cannot {action} execution {execution_id!r}: it has already ended ({status})"
        )


class NotRetryable(DurableError):
    """Only an execution that ended FAILED, CANCELED or TIMED_OUT can be retried."""

    def __init__(self, execution_id: str, status: str):
        self.execution_id = execution_id
        self.status = status
        hint = (
            "it is still live; cancel it first if it must start over"
            if status not in ("COMPLETED",)
            else "it completed; fork it to run it again from a step"
        )
        super().__init__(
            f"cannot retry execution {execution_id!r}: it is {status} ({hint}); only FAILED, "
            "CANCELED or TIMED_OUT executions can be retried"
        )


class StepNotRecorded(DurableError, LookupError):
    """A step id that the execution's record does not hold."""

    def __init__(self, execution_id: str, step_id: str, recorded: list[str]):
        self.execution_id = execution_id
        self.step_id = step_id
        shown = ", ".join(recorded[:10]) + (
            f", … ({len(recorded)} in all)" if len(recorded) > 10 else ""
        )
        known = f"its steps are: {shown}" if recorded else "it has no recorded steps"
        super().__init__(f"execution {execution_id!r} has no recorded step {step_id!r}; {known}")


class ExecutionConflict(DurableError):
    """A start with an explicit id that already belongs to another workflow."""

    def __init__(self, execution_id: str, existing_workflow: str, requested_workflow: str):
        self.execution_id = execution_id
        super().__init__(
            f"execution id {execution_id!r} already belongs to workflow {existing_workflow!r}; "
            f"choose another id to start {requested_workflow!r}"
        )


class ExecutionExists(DurableError):
    """An explicit id for a new execution that is already taken by another one."""

    def __init__(self, execution_id: str, action: str):
        self.execution_id = execution_id
        super().__init__(
            f"execution id {execution_id!r} is already taken by another execution; choose "
            f"another id to {action}"
        )


class InvalidInput(DurableError, TypeError):
    """Workflow inputs that do not match the workflow function's parameters."""


class SerializationError(DurableError, TypeError):
    """A value that cannot be stored: an unsupported type, or too large."""


class PayloadTooLarge(SerializationError):
    pass


class NonDeterminismError(DurableError):
    """The workflow code and the recorded history of its execution disagree."""

    def __init__(self, execution_id: str, step_id: str, expected_name: str, recorded_name: str):
        self.execution_id = execution_id
        self.step_id = step_id
        self.expected_name = expected_name
        self.recorded_name = recorded_name
        super().__init__(
            f"non-determinism in execution {execution_id!r}: step id {step_id!r} is recorded "
            f"for {recorded_name!r} but the code now calls {expected_name!r} under that id. "
            "Give the new step its own step_id, or keep the old code for executions started "
            "before the change."
        )


class StepFailed(DurableError):
    """A step raised after its retries; raised into the workflow with the recorded facts.

    The same error, with the same facts, is raised on every later run of the execution.
    """

    def __init__(
        self,
        execution_id: str,
        step_id: str,
        error_type: str,
        error_message: str,
        traceback: str = "",
        attempts: int = 1,
    ):
        self.execution_id = execution_id
        self.step_id = step_id
        self.error_type = error_type
        self.error_message = error_message
        self.traceback = traceback
        self.attempts = attempts
        tries = "attempt" if attempts == 1 else "attempts"
        super().__init__(
            f"step {step_id!r} failed after {attempts} {tries}: {error_type}: {error_message}"
        )


class BrokenStepTransaction(DurableError):
    """An atomic step caught a database error and went on; its transaction cannot commit."""

    def __init__(self, step_id: str):
        self.step_id = step_id
        super().__init__(
            f"atomic step {step_id!r} caught a database error inside its transaction, which "
            "can then only roll back; let the error propagate, or wrap the statement that may "
            "fail in its own transaction.atomic() block"
        )


class StepTimeout(DurableError, TimeoutError):
    def __init__(self, step_id: str, timeout: float):
        self.step_id = step_id
        self.timeout = timeout
        super().__init__(f"step {step_id!r} did not finish within {timeout:g} s")


class WorkflowFailed(DurableError):
    """An awaited execution ended without a result (failed, canceled or timed out)."""

    def __init__(
        self, execution_id: str, status: str, error_type: str = "", error_message: str = ""
    ):
        self.execution_id = execution_id
        self.status = status
        self.error_type = error_type
        self.error_message = error_message
        detail = (
            f": {error_type}: {error_message}"
            if error_type
            else (f": {error_message}" if error_message else "")
        )
        super().__init__(f"execution {execution_id!r} ended {status}{detail}")


class ChildWorkflowFailed(WorkflowFailed):
    """``ctx.wait_workflow``: the awaited execution ended failed, canceled or timed out.

    ``error_type`` is the error at the root of the failure (a failed step's own error).
    Raised the same way on every later run of the waiting workflow, which may catch it.
    """


class WaitTimeout(DurableError, TimeoutError):
    def __init__(self, execution_id: str, timeout: float, status: str = ""):
        self.execution_id = execution_id
        self.timeout = timeout
        state = f" (it is {status})" if status else ""
        super().__init__(f"execution {execution_id!r} did not finish within {timeout:g} s{state}")


class UnknownQueue(DurableError, LookupError):
    def __init__(self, name: object, known: list[str]):
        self.name = name
        super().__init__(
            f"unknown queue {name!r}: declare it in the DURABLE_QUEUES setting "
            f"(known queues: {', '.join(known)})"
        )


class StepConflict(Exception):
    """The step id is already recorded for this execution (another run recorded it first).

    Raised by the store and handled inside the engine, which reads that record instead.
    """


class _ControlFlow(BaseException):
    """Engine control flow. Not an ``Exception``: user code must not catch it."""


class _Suspend(_ControlFlow):
    """The run stops here; the execution waits for a timer or a signal."""


class _Abort(_ControlFlow):
    """The run must stop writing: its lease is gone or the execution was canceled."""


class _DeadlineExceeded(_ControlFlow):
    """The workflow's own timeout passed during the run."""


class _ReplayStop(_ControlFlow):
    """A replay reached the first step that is not recorded."""

    def __init__(self, step_id: str, name: str, kind: str):
        self.step_id = step_id
        self.name = name
        self.kind = kind
        super().__init__(step_id)


class WorkflowTimeout(DurableError, TimeoutError):
    """The error stored on an execution that ended ``TIMED_OUT``."""


class ExecutionCanceled(DurableError):
    """What a canceled execution reports where an error class is expected (the errors of a
    ``django.tasks`` result)."""
