"""The admin for support staff: executions with their timeline, steps, events, timers,
signals and runs; the workers; and the actions cancel, retry, fork, signal and start.

Nothing is edited in place: every change goes through the Python API, needs a permission
of its own, is confirmed on a page of its own and is written to the admin log.
"""

from .executions import WorkflowExecutionAdmin
from .records import SignalAdmin, StepResultAdmin, TimerAdmin, WorkerProcessAdmin, WorkflowRunAdmin

__all__ = [
    "SignalAdmin",
    "StepResultAdmin",
    "TimerAdmin",
    "WorkerProcessAdmin",
    "WorkflowExecutionAdmin",
    "WorkflowRunAdmin",
]
