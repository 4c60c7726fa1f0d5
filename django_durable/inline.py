"""Running executions in the calling thread: the loop behind ``run_workflow`` and the test
harness. Its one thread of its own, the lease heartbeat, comes from ``upkeep.keep_lease``."""

from __future__ import annotations

import datetime as dt
import threading

from . import store
from .conf import durable_settings
from .engine import Outcome, run_claimed
from .identity import new_owner_id
from .lease_clock import LeaseClock
from .upkeep import keep_lease


class InlineDriver:
    """Run executions in the calling thread, one run at a time.

    The one in-process loop behind :func:`~django_durable.run_workflow` (one execution, in
    real time, its lease renewed by a heartbeat thread) and
    :func:`~django_durable.testing.run_until_idle` (every execution, no heartbeat: inside a
    test's transaction no other connection could see the rows it renews).
    """

    def __init__(self, *, execution_id: str | None = None, heartbeat: bool = True):
        self.owner = new_owner_id()
        self.execution_id = execution_id
        self.heartbeat = heartbeat
        self.lease_seconds = float(durable_settings.DURABLE_LEASE_SECONDS)
        self.ran: list[str] = []
        self._unknown_workflows: set[str] = set()

    def run_once(self, *, fire_timers: bool = True) -> bool:
        """Fire due timers, then run one runnable execution; return whether one ran."""
        if fire_timers:
            self.fire_due_timers()
        if self.execution_id is not None:
            claimed = store.claim_one(self.family(), self.owner, self.lease_seconds)
        else:
            skip = frozenset(self._unknown_workflows)
            # Queue limits are for workers sharing production capacity; a test runs all.
            found = store.claim(self.owner, 1, self.lease_seconds, skip, apply_limits=False)
            claimed = found[0] if found else None
        if claimed is None:
            return False
        self.run(claimed)
        return True

    def run(self, claimed: store.ClaimedExecution) -> Outcome:
        """Run one claimed execution until it finishes or suspends."""
        self.ran.append(claimed.lease.execution_id)
        if self.heartbeat:
            abort = threading.Event()
            lease_clock = LeaseClock(
                self.lease_seconds, float(durable_settings.DURABLE_HEARTBEAT_SECONDS)
            )
            with keep_lease(claimed.lease, abort, lease_clock):
                outcome = run_claimed(claimed, abort, lease_clock)
        else:
            outcome = run_claimed(claimed)
        if outcome is Outcome.UNKNOWN_WORKFLOW:
            self._unknown_workflows.add(claimed.workflow_name)
            store.release(
                claimed.lease, 0.0, f"this process has no workflow {claimed.workflow_name!r}"
            )
        return outcome

    def family(self) -> list[str] | None:
        """The execution this driver runs and its live children, theirs, and so on (a
        workflow run with ``run_workflow`` runs its children in the same thread)."""
        if self.execution_id is None:
            return None
        generations = store.live_descendants([self.execution_id])
        return [self.execution_id, *(eid for ids in generations for eid in ids)]

    def fire_due_timers(self) -> int:
        batch = int(durable_settings.DURABLE_TIMER_BATCH_SIZE)
        return store.fire_due_timers(batch, execution_ids=self.family())

    def next_timer_due(self) -> dt.datetime | None:
        return store.next_timer_due(self.family())
