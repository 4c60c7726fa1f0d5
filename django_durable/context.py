"""The ``ctx`` a workflow function receives: steps, activities, timers, signals.

Each call derives a deterministic step id, looks it up in the results recorded by earlier
runs (loaded once, when the run began) and either returns the recorded outcome or does the
work and records it. In replay mode (``durable_inspect --replay``) nothing is executed and
nothing is written: the first step that is not recorded stops the replay.
"""

from __future__ import annotations

import datetime as dt
import random as _random
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

from django.utils import timezone

from . import clock, coroutines, step_ids, store
from .compose import Composition
from .exceptions import (
    NonDeterminismError,
    StepFailed,
    _Abort,
    _DeadlineExceeded,
    _ReplayStop,
    _Suspend,
)
from .gathering import Gathering
from .lease_clock import LeaseClock
from .models import Status, StepStatus, TimerKind
from .registry import register
from .retry import NO_RETRY, RetryPolicy
from .serialization import dumps, loads
from .step_calls import (
    callable_name,
    timeout_seconds,
)
from .step_execution import _CONFLICT, StepExecution

_SLEEP = step_ids.SLEEP


class WorkflowContext(Composition, Gathering, StepExecution):
    """What workflow code uses to run steps durably. Created by the engine for each run."""

    def __init__(
        self,
        *,
        execution_id: str,
        workflow_name: str,
        memo: dict[str, store.RecordedStep],
        lease: store.Lease | None = None,
        retry_step_id: str = "",
        retry_attempts: int = 0,
        deadline_at: dt.datetime | None = None,
        abort: threading.Event | None = None,
        lease_clock: LeaseClock | None = None,
        replay: bool = False,
        on_step: Callable[[str], None] | None = None,
    ):
        self._execution_id = execution_id
        self._workflow_name = workflow_name
        self._memo = memo
        self._lease = lease
        self._retry_step_id = retry_step_id
        self._retry_attempts = retry_attempts
        self._deadline_at = deadline_at
        self._abort = abort or threading.Event()
        self._lease_clock = lease_clock
        self._replay = replay
        self._on_step = on_step
        self._counts: Counter[str] = Counter()
        self.visited: list[str] = []
        self.suspended = False
        self._aborted = False

    @property
    def execution_id(self) -> str:
        return self._execution_id

    @property
    def workflow_name(self) -> str:
        return self._workflow_name

    # --- public calls -----------------------------------------------------------------

    def step(
        self,
        fn: Callable[..., Any],
        *args: Any,
        step_id: str | None = None,
        atomic: bool = False,
        retry: RetryPolicy | None = None,
        timeout: float | dt.timedelta | None = None,
        **kwargs: Any,
    ) -> Any:
        """Run ``fn(*args, **kwargs)`` once for this execution and return its result.

        The result is recorded under ``step_id`` (derived from the function's name when not
        given) and returned from the record on every later run. ``atomic=True`` runs ``fn``
        in the transaction that records its result. ``retry`` defaults to one attempt.
        """
        if not callable(fn):
            raise TypeError(f"ctx.step() needs a callable, not {fn!r}")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise TypeError(f"ctx.step(retry=...) takes a RetryPolicy, not {type(retry).__name__}")
        seconds = timeout_seconds(timeout, "ctx.step")
        if atomic and coroutines.is_async(fn):
            raise ValueError(
                "ctx.step(atomic=True) cannot run an async function: its queries would run "
                "outside the step's transaction"
            )
        if atomic and seconds is not None:
            raise ValueError(
                "ctx.step(atomic=True) cannot take a timeout: a transaction cannot be "
                "abandoned half-way; set a statement timeout in the database instead"
            )
        name = callable_name(fn)
        return self._run_step(name, step_id, fn, args, kwargs, retry or NO_RETRY, seconds, atomic)

    def run_activity(
        self,
        name_or_fn: str | Callable[..., Any],
        *args: Any,
        step_id: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Run a registered activity as a step, with its retry policy and timeout."""
        definition = register.get_activity(name_or_fn)
        return self._run_step(
            definition.name,
            step_id,
            definition.fn,
            args,
            kwargs,
            definition.retry,
            definition.timeout,
            False,
            kind="activity",
        )

    def sleep(self, seconds: float | dt.timedelta) -> None:
        """Suspend the execution for ``seconds`` (or a timedelta); no thread waits."""
        duration = timeout_seconds(seconds, "ctx.sleep", allow_zero=True)
        self._sleep(lambda now: now + dt.timedelta(seconds=duration or 0))

    def sleep_until(self, when: dt.datetime) -> None:
        """Suspend the execution until the aware datetime ``when``."""
        if not isinstance(when, dt.datetime):
            raise TypeError(f"ctx.sleep_until() takes a datetime, not {type(when).__name__}")
        if timezone.is_naive(when):
            raise ValueError("ctx.sleep_until() needs an aware datetime (with a tzinfo)")
        if not timezone.is_aware(clock.now()):
            when = timezone.make_naive(when)
        self._sleep(lambda now: when)

    def wait_signal(self, name: str, timeout: float | dt.timedelta | None = None) -> Any:
        """Wait for the signal ``name`` and return its payload (``None`` after ``timeout``).

        Signals are consumed oldest first; one sent before the workflow got here waits for
        it.
        """
        if not isinstance(name, str) or not name:
            raise TypeError("ctx.wait_signal() needs a signal name (a non-empty string)")
        seconds = timeout_seconds(timeout, "ctx.wait_signal", allow_zero=True)
        step_name = step_ids.wait_signal_name(name)
        step_id = self._enter(step_name, None)
        recorded = self._lookup(step_id, step_name)
        if recorded is not None:
            return self._outcome(recorded)
        if self._replay:
            raise _ReplayStop(step_id, step_name, "signal")
        started = clock.now()
        timeout_at = started + dt.timedelta(seconds=seconds) if seconds is not None else None
        while True:
            taken = self._store(
                store.consume_signal,
                self._lease,
                step_id,
                step_name,
                name,
                started,
                on_conflict=step_id,
            )
            if taken is _CONFLICT:
                return self._outcome(self._reload(step_id, step_name))
            found, payload = taken
            if found:
                return loads(payload)
            if seconds == 0:
                return self._record_value(step_id, step_name, None, started)
            outcome = self._store(store.suspend_on_signal, self._lease, step_id, name, timeout_at)
            if outcome == store.RECORDED:
                return self._outcome(self._reload(step_id, step_name))
            if outcome == store.SUSPENDED:
                self._suspend()

    def set_event(self, key: str, value: Any) -> None:
        """Publish ``value`` under ``key`` for outside code to read with ``get_event``.

        The latest value per key wins. Memoized like a step: a rerun publishes nothing
        again, and a value that cannot be stored raises here, naming its type.
        """
        if not isinstance(key, str) or not key:
            raise TypeError("ctx.set_event() needs a key (a non-empty string)")
        step_name = step_ids.set_event_name(key)
        step_id = self._enter(step_name, None)
        if self._lookup(step_id, step_name) is not None:
            return
        if self._replay:
            raise _ReplayStop(step_id, step_name, "step")
        data = dumps(value, what=f"the value of event {key!r} (step {step_id!r})")
        step = store.RecordedStep(step_id, step_name, StepStatus.COMPLETED, data)
        started = clock.now()
        if (
            self._store(store.publish_event, self._lease, step, key, started, on_conflict=step_id)
            is _CONFLICT
        ):
            self._reload(step_id, step_name)
            return
        self._memo[step_id] = step

    def now(self) -> dt.datetime:
        """The current time, recorded on first call so that every run sees the same."""
        return self._memoized("ctx.now", clock.now)

    def uuid4(self) -> uuid.UUID:
        """A random UUID, recorded on first call."""
        return self._memoized("ctx.uuid4", uuid.uuid4)

    def random(self) -> float:
        """A random float in [0, 1), recorded on first call."""
        return self._memoized("ctx.random", _random.random)

    # --- the checkpoint -----------------------------------------------------------------

    def _enter(self, name: str, explicit_id: str | None) -> str:
        if self.suspended:
            # Workflow code caught the suspension (a bare ``except:``) and went on.
            raise _Suspend()
        if not self._replay:
            self._check_lease()
            if self._aborted or self._abort.is_set():
                self._aborted = True
                raise self._stop_run("the execution was canceled or its lease was lost")
            if self._deadline_at is not None and clock.now() >= self._deadline_at:
                raise _DeadlineExceeded()
        if explicit_id is None:
            # Only derived ids count: an explicit id never shifts the others of its name.
            self._counts[name] += 1
            step_id = step_ids.derived(name, self._counts[name])
        else:
            step_id = explicit_id
            if isinstance(step_id, str) and step_id.startswith(step_ids.RESERVED_PREFIX):
                raise ValueError(
                    f"step_id {step_id!r}: ids starting with 'ctx.' are reserved for ctx calls"
                )
        step_ids.check_step(step_id, name)
        self.visited.append(step_id)
        return step_id

    def _lookup(self, step_id: str, name: str) -> store.RecordedStep | None:
        recorded = self._memo.get(step_id)
        if recorded is not None and recorded.name != name:
            raise NonDeterminismError(self._execution_id, step_id, name, recorded.name)
        return recorded

    def _outcome(self, recorded: store.RecordedStep) -> Any:
        if recorded.status == StepStatus.FAILED:
            raise StepFailed(
                self._execution_id,
                recorded.step_id,
                recorded.error_type,
                recorded.error_message,
                recorded.error_traceback,
                recorded.attempts,
            )
        return loads(recorded.result)

    def _run_step(
        self,
        name: str,
        explicit_id: str | None,
        fn: Callable[..., Any],
        args: tuple,
        kwargs: dict,
        policy: RetryPolicy,
        timeout: float | None,
        atomic: bool,
        kind: str = "step",
    ) -> Any:
        step_id = self._enter(name, explicit_id)
        recorded = self._lookup(step_id, name)
        if recorded is not None:
            return self._outcome(recorded)
        if self._replay:
            raise _ReplayStop(step_id, name, "step")
        return self._execute_step(
            step_id, name, fn, args, kwargs, policy, timeout, atomic, kind=kind
        )

    def _memoized(self, name: str, produce: Callable[[], Any]) -> Any:
        step_id = self._enter(name, None)
        recorded = self._lookup(step_id, name)
        if recorded is not None:
            return self._outcome(recorded)
        if self._replay:
            raise _ReplayStop(step_id, name, "step")
        return self._record_value(step_id, name, produce(), clock.now())

    def _sleep(self, due_from_now: Callable[[dt.datetime], dt.datetime]) -> None:
        step_id = self._enter(_SLEEP, None)
        recorded = self._lookup(step_id, _SLEEP)
        if recorded is not None:
            return
        if self._replay:
            raise _ReplayStop(step_id, _SLEEP, "timer")
        now = clock.now()
        due = due_from_now(now)
        if due <= now:
            self._record_value(step_id, _SLEEP, None, now)
            return
        self._store(
            store.suspend_on_timer, self._lease, step_id, TimerKind.SLEEP, due, Status.SLEEPING
        )
        self._suspend()

    def _suspend(self) -> None:
        self.suspended = True
        raise _Suspend()

    def _check_lease(self) -> None:
        if self._lease_clock is not None and self._lease_clock.expired():
            raise self._stop_run(
                "the lease was not renewed in time; stopping before the next step so that "
                "no step body runs after another worker may have taken over"
            )

    def _stop_run(self, reason: str) -> _Abort:
        # Remembered, so that workflow code that swallows the abort (a bare ``except:``)
        # is stopped again at its next ctx call.
        self._aborted = True
        return _Abort(reason)
