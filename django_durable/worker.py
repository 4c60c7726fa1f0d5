"""The worker: executor threads, a claim loop, a timer scheduler and a lease heartbeat.

With :mod:`.upkeep` (connections and leases, and ``run_workflow``'s lease heartbeat), the
only module that starts long-lived threads. Every loop computes its next delay
and waits on an event, so a stop request ends each wait at once.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass

from django.db import Error as DatabaseError
from django.db import connection
from django.utils import timezone

from . import clock, dialect, store, wakeups
from .conf import durable_settings
from .engine import Outcome, run_claimed
from .identity import new_owner_id
from .lease_clock import LeaseClock
from .models import RunOutcome
from .queues import check_queue
from .repairs import prune_workflows
from .ticks import TickStarter
from .upkeep import drop_broken_connection, drop_dead_idle_connection, expire_dead_local_owners

logger = logging.getLogger("django_durable")

_ABORT_BACKOFF_SECONDS = 5.0
# A claimed execution that no thread has started after this long is handed back, so that a
# worker whose threads are all busy with long runs does not sit on work others could do.
_QUEUE_WAIT_LIMIT_SECONDS = 1.0
_PRUNE_INTERVAL_SECONDS = 3600.0
# An executor thread idle for longer checks its connection before its next run.
_IDLE_CHECK_SECONDS = 1.0
# After the commit watcher wakes the claim loop it waits this long before it looks again,
# twice as long after each wake-up that found nothing to claim (commits that made nothing
# runnable here: other workers' steps, heartbeats), up to the poll interval.
_WATCH_SPACING_SECONDS = 0.01


@dataclass
class _Held:
    lease: store.Lease
    abort: threading.Event
    clock: LeaseClock
    claimed_at: float = 0.0
    started: bool = False
    current_step: str = ""


def _note(held: _Held, step_id: str) -> None:
    held.current_step = step_id


class Worker:
    """Run workflows with ``threads`` executor threads until stopped (or idle, in burst)."""

    def __init__(
        self, threads: int = 4, *, burst: bool = False, queues: Iterable[str] | None = None
    ):
        if threads < 1:
            raise ValueError("a worker needs at least one thread")
        self.threads = threads
        self.burst = burst
        # The queues it serves (None: every queue); each must be declared.
        self.queues = None if queues is None else frozenset(check_queue(name) for name in queues)
        # Up to one run queued per thread besides the running ones, claimed a thread's worth
        # at a time: a claim is a write transaction and an ORM query, and claiming one
        # execution per finished run cost a third of the run loop on SQLite. A run that ends
        # finds the next one waiting. Queuing stops when a queued execution had to be handed
        # back (every thread busy with a long run) and resumes once a thread finds the
        # queue empty.
        self._queue_ahead = True
        self.id = new_owner_id()
        self.lease_seconds = float(durable_settings.DURABLE_LEASE_SECONDS)
        self._lease_margin = float(durable_settings.DURABLE_HEARTBEAT_SECONDS)
        self.runs_ended = 0  # however each ended: completed, failed, suspended or aborted
        self._stop = threading.Event()
        # The scheduler and the heartbeat stop only after the executors: leases must be
        # renewed (and cancels noticed) during the shutdown grace period too.
        self._helpers_stop = threading.Event()
        self._hurry = threading.Event()
        self._wake = threading.Event()
        # Set by the claim loop while the worker holds no execution (the commit watcher runs).
        self._idle = threading.Event()
        self._claimed = 0  # executions claimed so far (the commit watcher reads it)
        self._watcher: dialect.CommitWatcher | None = None
        self._queue: queue.SimpleQueue[store.ClaimedExecution | None] = queue.SimpleQueue()
        self._held: dict[str, _Held] = {}
        self._lock = threading.Lock()
        # Workflows this process does not have: their executions are handed back and left
        # out of its claims, for a worker that runs the code that has them.
        self._unknown_workflows: set[str] = set()
        self._ticks = TickStarter()

    # --- control ----------------------------------------------------------------------

    def stop(self) -> None:
        """Stop claiming and shut down gracefully; a second call cuts the grace period."""
        if self._stop.is_set():
            self._hurry.set()
        self._stop.set()
        self._wake.set()

    def run(self) -> None:
        """Work until :meth:`stop` is called (or, in burst mode, until nothing is left)."""
        logger.info(
            "worker %s started with %d thread(s)%s",
            self.id,
            self.threads,
            " in burst mode" if self.burst else "",
        )
        self._guard(
            store.register_worker,
            self.id,
            socket.gethostname(),
            os.getpid(),
            self.threads,
            sorted(self.queues or ()),
        )
        self._guard(expire_dead_local_owners, self.id)
        executors = [
            threading.Thread(target=self._execute_loop, name=f"durable-exec-{n}", daemon=True)
            for n in range(self.threads)
        ]
        helpers = [
            threading.Thread(
                target=self._loop, args=(self._fire_timers,), name="durable-scheduler", daemon=True
            ),
            threading.Thread(
                target=self._loop, args=(self._heartbeat,), name="durable-heartbeat", daemon=True
            ),
        ]
        if durable_settings.DURABLE_RETENTION_DAYS is not None and not self.burst:
            helpers.append(
                threading.Thread(
                    target=self._loop, args=(self._prune,), name="durable-pruner", daemon=True
                )
            )
        if dialect.can_listen():
            helpers.append(
                threading.Thread(
                    target=self._loop, args=(self._listen,), name="durable-listener", daemon=True
                )
            )
        elif dialect.can_watch_commits() and not self.burst:
            helpers.append(
                threading.Thread(
                    target=self._loop, args=(self._watch,), name="durable-watcher", daemon=True
                )
            )
        for thread in executors + helpers:
            thread.start()
        wakeups.subscribe(self._wake.set)
        try:
            while not self._stop.is_set():
                # Cleared before claiming: a wake-up that arrives while claiming is kept.
                self._wake.clear()
                delay = self._claim()
                if self.burst and self._burst_done():
                    break
                with self._lock:
                    idle = not self._held
                if idle:
                    self._idle.set()
                else:
                    self._idle.clear()
                self._wake.wait(delay)
        finally:
            wakeups.unsubscribe(self._wake.set)
            self._stop.set()
            self._shutdown(executors, helpers)
            self._guard(store.worker_stopped, self.id)
            connection.close()
        logger.info("worker %s stopped after %d run(s)", self.id, self.runs_ended)
        if self.burst:
            self._report_timers_left()

    # --- loops ------------------------------------------------------------------------

    def _loop(self, step) -> None:
        try:
            while not self._helpers_stop.is_set():
                try:
                    delay = step()
                except Exception:  # noqa: BLE001 - a helper loop must outlive any error
                    logger.exception("error in worker %s (%s)", self.id, step.__name__)
                    connection.close()
                    delay = float(durable_settings.DURABLE_POLL_SECONDS)
                self._helpers_stop.wait(delay)
        finally:
            connection.close()

    def _guard(self, operation, *args, default=None, **kwargs):
        """Run a database operation of a loop; on a database error, log and go on."""
        try:
            drop_broken_connection()
            return operation(*args, **kwargs)
        except DatabaseError as exc:
            logger.warning("database error in worker %s: %s", self.id, exc)
            connection.close()
            return default

    def _claim(self) -> float:
        poll = float(durable_settings.DURABLE_POLL_SECONDS)
        self._hand_back_waiting()
        with self._lock:
            if self._queue_ahead:
                capacity, batch = 2 * self.threads, self.threads
            else:
                capacity, batch = self.threads, 1
            held = len(self._held)
        free = capacity - held
        # While anything is held, look twice per queue wait limit (see _hand_back_waiting).
        short = min(poll, _QUEUE_WAIT_LIMIT_SECONDS / 2)
        delay = short if held else poll
        if free < batch:
            return delay  # every thread is busy (and enough runs are queued)
        began = time.monotonic()
        with self._lock:
            skip = frozenset(self._unknown_workflows)
        claimed = self._guard(
            store.claim, self.id, free, self.lease_seconds, skip, self.queues, default=None
        )
        if claimed is None:
            return delay  # the database is unreachable: try again after a poll interval
        with self._lock:
            self._claimed += len(claimed)
            for item in claimed:
                clock = LeaseClock(self.lease_seconds, self._lease_margin)
                clock.renewed(began)
                self._held[item.lease.execution_id] = _Held(
                    item.lease, threading.Event(), clock, claimed_at=time.monotonic()
                )
        for item in claimed:
            self._queue.put(item)
        if len(claimed) == free:
            return 0.0
        return short if held or claimed else poll

    def _hand_back_waiting(self) -> None:
        """Release claimed executions that no thread has started within the wait limit."""
        limit = time.monotonic() - _QUEUE_WAIT_LIMIT_SECONDS
        with self._lock:
            waiting = [
                held for held in self._held.values() if not held.started and held.claimed_at < limit
            ]
            for held in waiting:
                # The executor that later takes it from the queue finds it gone and skips it.
                del self._held[held.lease.execution_id]
            if waiting:
                self._queue_ahead = False
        for held in waiting:
            if self._guard(store.release, held.lease, 0.0, "no thread of the worker was free"):
                logger.info("handed back %s: no thread free to start it", held.lease.execution_id)

    def _execute_loop(self) -> None:
        last_run = time.monotonic()
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                if time.monotonic() - last_run > _IDLE_CHECK_SECONDS:
                    drop_dead_idle_connection()
                self._execute(item)
                last_run = time.monotonic()
        finally:
            connection.close()

    def _execute(self, item: store.ClaimedExecution) -> None:
        eid = item.lease.execution_id
        with self._lock:
            held = self._held.get(eid)
            if held is None or held.lease.epoch != item.lease.epoch:
                return  # handed back while it waited in the queue
            held.started = True
        abort = held.abort
        clock = held.clock
        started = time.monotonic()
        try:
            drop_broken_connection()
            outcome = run_claimed(item, abort, clock, on_step=lambda step_id: _note(held, step_id))
        except BaseException:  # noqa: BLE001 - a worker thread must survive any run
            logger.exception("unexpected error while running %s", eid)
            outcome = Outcome.ABORTED
        finally:
            with self._lock:
                if self._held.get(eid) is held:
                    del self._held[eid]
                if self._queue.empty():
                    self._queue_ahead = True  # the threads keep up: queue ahead again
            self._wake.set()
        try:
            drop_broken_connection()
        except DatabaseError:
            connection.close()
        if outcome is Outcome.UNKNOWN_WORKFLOW:
            self._hand_back_unknown(item)
        if outcome is Outcome.ABORTED and not abort.is_set():
            # The run could not write (database trouble, or an error that recurs on every
            # run): hand the execution back after a pause, neither at once (a hot loop) nor
            # after the whole lease.
            self._guard(
                store.release,
                item.lease,
                _ABORT_BACKOFF_SECONDS,
                "the run could not write (a database error); runnable again in "
                f"{_ABORT_BACKOFF_SECONDS:g} s",
                RunOutcome.ABORTED,
            )
        with self._lock:
            self.runs_ended += 1
        logger.info(
            "%s %s %s in %.3f s",
            item.workflow_name,
            eid,
            outcome.value,
            time.monotonic() - started,
        )

    def _hand_back_unknown(self, item: store.ClaimedExecution) -> None:
        name = item.workflow_name
        with self._lock:
            first = name not in self._unknown_workflows
            self._unknown_workflows.add(name)
        if first:
            logger.warning(
                "worker %s has no workflow %r (is its app in INSTALLED_APPS, and is this "
                "worker running the current code?); its executions are left for workers "
                "that have it",
                self.id,
                name,
            )
        reason = f"this worker has no workflow {name!r}"
        self._guard(store.release, item.lease, 0.0, reason)

    def _listen(self) -> float:
        """Wake the claim loop as soon as a database notification announces work."""
        try:
            dialect.wait_for_wakeups(self._helpers_stop, self._wake.set)
        except Exception as exc:  # noqa: BLE001 - its own driver connection, any error
            # Polling goes on meanwhile; listen again after a poll interval.
            logger.warning("wake-up listener of worker %s stopped: %s", self.id, exc)
            return float(durable_settings.DURABLE_POLL_SECONDS)
        return 0.0

    def _watch(self) -> float:
        """While idle, wake the claim loop as soon as another connection commits (SQLite).

        A busy worker claims after every run anyway; an idle one would otherwise only poll.
        The worker's own writes (its heartbeat) count too: one claim more, every few seconds.
        """
        poll = float(durable_settings.DURABLE_POLL_SECONDS)
        spacing = _WATCH_SPACING_SECONDS
        claimed = self._claimed
        try:
            with closing(dialect.CommitWatcher()) as watcher:
                self._watcher = watcher  # for _shutdown, to end its wait
                # A claim after the watcher's first look: nothing committed before is missed.
                self._wake.set()
                while True:
                    self._idle.wait()
                    if self._helpers_stop.is_set():
                        break
                    began = time.monotonic()
                    if not watcher.committed() or not self._idle.is_set():
                        continue
                    if self._claimed != claimed or time.monotonic() - began > spacing:
                        # The last wake-up found work, or the files were quiet a while.
                        spacing = _WATCH_SPACING_SECONDS
                    claimed = self._claimed
                    self._wake.set()
                    if self._helpers_stop.wait(spacing):
                        break
                    spacing = min(2 * spacing, poll)
        except Exception as exc:  # noqa: BLE001 - its own driver connection, any error
            # Polling goes on meanwhile; watch again after a poll interval.
            logger.warning("commit watcher of worker %s stopped: %s", self.id, exc)
            return poll
        return 0.0

    def _fire_timers(self) -> float:
        poll = float(durable_settings.DURABLE_TIMER_POLL_SECONDS)
        if not self.burst:
            # A burst worker drains work; only long-running workers start scheduled ticks.
            if self._guard(self._ticks.start_due, default=[]):
                self._wake.set()
        batch = int(durable_settings.DURABLE_TIMER_BATCH_SIZE)
        fired = self._guard(store.fire_due_timers, batch, default=0)
        if fired:
            self._wake.set()
            if fired >= batch:
                return 0.0
        due = self._guard(store.next_timer_due)
        if due is None:
            return poll
        return max(0.0, min(poll, (due - clock.now()).total_seconds()))

    def _prune(self) -> float:
        """Delete executions past the retention period (``DURABLE_RETENTION_DAYS``)."""
        days = float(durable_settings.DURABLE_RETENTION_DAYS)
        pruned = self._guard(prune_workflows, default=0, older_than_days=days)
        if pruned:
            logger.info("pruned %d execution(s) that ended over %g day(s) ago", pruned, days)
        return _PRUNE_INTERVAL_SECONDS

    def _heartbeat(self) -> float:
        with self._lock:
            leases = [held.lease for held in self._held.values()]
            current = {
                held.lease.execution_id: held.current_step
                for held in self._held.values()
                if held.started
            }
        self._guard(store.beat, self.id, current)
        if leases:
            began = time.monotonic()
            still = self._guard(store.renew_leases, leases, self.lease_seconds)
            if still is not None:
                with self._lock:
                    for lease in leases:
                        held = self._held.get(lease.execution_id)
                        # Only the run that holds this very lease: the execution may have
                        # been suspended and claimed again since the snapshot.
                        if held is None or held.lease.epoch != lease.epoch:
                            continue
                        if lease.execution_id in still:
                            held.clock.renewed(began)
                        else:
                            held.abort.set()
        self._guard(expire_dead_local_owners, self.id)
        return float(durable_settings.DURABLE_HEARTBEAT_SECONDS)

    def _burst_done(self) -> bool:
        with self._lock:
            if self._held:
                return False
        # Timers before runnable executions: the scheduler turns a due timer into a
        # runnable execution in one transaction, so in this order no state in between is
        # missed (the other order can see neither and stop with work left).
        due = self._guard(store.next_timer_due)
        if due is not None and due <= clock.now():
            return False
        with self._lock:
            skip = frozenset(self._unknown_workflows)
        return not self._guard(store.has_runnable, skip, self.queues, default=True)

    def _report_timers_left(self) -> None:
        count, first = self._guard(store.pending_timers, default=(0, None))
        if count:
            logger.info(
                "%d timer(s) are due later, the next at %s: a worker running then fires them",
                count,
                f"{timezone.localtime(first):%Y-%m-%d %H:%M:%S %Z}",
            )

    # --- shutdown ---------------------------------------------------------------------

    def _shutdown(self, executors, helpers) -> None:
        # Claimed but not started: give those back first.
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                self._guard(store.release, item.lease, 0.0, "the worker stopped")
                with self._lock:
                    self._held.pop(item.lease.execution_id, None)
        for _ in executors:
            self._queue.put(None)
        deadline = time.monotonic() + float(durable_settings.DURABLE_SHUTDOWN_GRACE_SECONDS)
        for thread in executors:
            while thread.is_alive() and time.monotonic() < deadline and not self._hurry.is_set():
                thread.join(0.1)
        with self._lock:
            leftovers = list(self._held.values())
        for held in leftovers:
            held.abort.set()
            reason = "still running when the worker's shutdown grace period ended"
            if self._guard(store.release, held.lease, 0.0, reason):
                logger.info("released %s (still running at shutdown)", held.lease.execution_id)
        self._helpers_stop.set()
        self._idle.set()  # the commit watcher waits for it, and then sees the stop
        if self._watcher is not None:
            self._watcher.interrupt()
        for thread in helpers:
            thread.join(1.0)
