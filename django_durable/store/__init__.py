"""Every change of workflow state, and every lock: the one door to the engine's tables.

Writes made on behalf of a run are fenced: they name the lease epoch the run was claimed
with, and they change nothing once that epoch is gone (the lease was taken over, the
execution was canceled, timed out or suspended). A fenced write that changes nothing raises
``_Abort`` and the run stops without writing anything else.
"""

from ..exceptions import StepConflict
from .cascades import cancel, end_orphans, live_descendants
from .children import (
    CHILD_BATCH,
    ENDED,
    ChildStart,
    ChildState,
    child_states,
    record_waits,
    start_children,
    suspend_on_child,
)
from .claims import TAKEOVER_GRACE, claim, claim_one, has_runnable
from .executions import (
    create_execution,
    expire_leases_of,
    finish,
    has_scheduled_executions,
    release,
    renew_leases,
    running_owners,
)
from .published import event_value, publish_event
from .repairs import RETRYABLE_STATUSES, check_retryable, failed_execution_ids, fork, prune, retry
from .runs import end_run
from .steps import load_steps, record_failed_attempt, record_step
from .types import ClaimedExecution, Lease, RecordedStep
from .waits import (
    RECORDED,
    SIGNALED,
    SUSPENDED,
    WAIT_TIMED_OUT,
    consume_signal,
    deliver_signal,
    fire_due_timers,
    next_timer_due,
    pending_timers,
    suspend_on_signal,
    suspend_on_timer,
)
from .workers import beat, prune_workers, register_worker, worker_stopped

__all__ = [
    "RETRYABLE_STATUSES",
    "TAKEOVER_GRACE",
    "RECORDED",
    "SIGNALED",
    "SUSPENDED",
    "CHILD_BATCH",
    "ENDED",
    "WAIT_TIMED_OUT",
    "ChildStart",
    "ChildState",
    "ClaimedExecution",
    "child_states",
    "record_waits",
    "start_children",
    "suspend_on_child",
    "Lease",
    "RecordedStep",
    "StepConflict",
    "beat",
    "cancel",
    "check_retryable",
    "claim",
    "claim_one",
    "consume_signal",
    "create_execution",
    "deliver_signal",
    "event_value",
    "end_orphans",
    "end_run",
    "expire_leases_of",
    "failed_execution_ids",
    "finish",
    "has_scheduled_executions",
    "fork",
    "fire_due_timers",
    "has_runnable",
    "live_descendants",
    "load_steps",
    "next_timer_due",
    "pending_timers",
    "record_failed_attempt",
    "prune",
    "publish_event",
    "prune_workers",
    "record_step",
    "register_worker",
    "release",
    "renew_leases",
    "retry",
    "running_owners",
    "suspend_on_signal",
    "suspend_on_timer",
    "worker_stopped",
]
