"""Running a step that is not recorded: its attempts and retries, and recording its outcome.

A mixin of :class:`~django_durable.context.WorkflowContext` (as :mod:`.compose` and
:mod:`.gathering` are), kept apart from the context's lookup of recorded results: this is
where a step's function runs, in a transaction with its record when it is atomic, and where
every store call of a run turns a database error into the run's abort.
"""

from __future__ import annotations

import datetime as dt
import threading

from django.db import Error as DatabaseError
from django.db import connection, transaction

from . import clock, coroutines, store
from .conf import durable_settings
from .dialect import write_transaction
from .exceptions import BrokenStepTransaction, SerializationError, StepFailed, _Abort, _ControlFlow
from .models import StepStatus, TimerKind
from .retry import is_retryable, next_delay
from .serialization import dumps, loads
from .step_calls import check_arguments, describe_error, log_retry, summarize_arguments
from .timeouts import call_with_timeout

# What ``_store`` returns, with ``on_conflict``, when the step was recorded by another run.
_CONFLICT = object()


class StepExecution:
    """Steps' attempts and records, for :class:`~django_durable.context.WorkflowContext`."""

    def _execute_step(self, step_id, name, fn, args, kwargs, policy, timeout, atomic, kind):
        """Run a step that is not recorded, with its retries, and record its outcome."""
        check_arguments(fn, args, kwargs, f"{kind} {name!r} (step {step_id!r})")
        arguments = summarize_arguments(args, kwargs)
        if self._on_step is not None:
            self._on_step(step_id)
        attempt = self._retry_attempts + 1 if self._retry_step_id == step_id else 1
        while True:
            started = clock.now()
            try:
                if atomic:
                    return self._attempt_atomic(
                        step_id, name, fn, args, kwargs, attempt, started, arguments
                    )
                if coroutines.is_async(fn):
                    value = coroutines.run(fn, args, kwargs, timeout, step_id)
                else:
                    value = call_with_timeout(fn, args, kwargs, timeout, step_id)
                data = dumps(value, what=f"the result of step {step_id!r}")
            except _ControlFlow:
                raise
            except store.StepConflict:
                return self._outcome(self._reload(step_id, name))
            except BaseException as error:  # noqa: BLE001 - a step may raise anything
                if isinstance(error, (KeyboardInterrupt, SystemExit)) and (
                    threading.current_thread() is threading.main_thread()
                ):
                    raise
                delay = None
                if not isinstance(error, SerializationError) and is_retryable(policy, error):
                    delay = next_delay(policy, attempt)
                if delay is None:
                    self._record_failure(step_id, name, error, attempt, started, arguments)
                log_retry(self._execution_id, step_id, attempt, error, delay)
                self._store(
                    store.record_failed_attempt,
                    self._lease,
                    step_id,
                    attempt,
                    policy.max_attempts,
                    describe_error(error),
                )
                if delay > durable_settings.DURABLE_INLINE_RETRY_SECONDS:
                    due = clock.now() + dt.timedelta(seconds=delay)
                    self._store(store.suspend_on_timer, self._lease, step_id, TimerKind.RETRY, due)
                    self._suspend()
                if self._abort.wait(delay):
                    raise self._stop_run(
                        "the execution was canceled or its lease was lost"
                    ) from None
                attempt += 1
                self._check_lease()
                continue
            return self._record_value(
                step_id, name, data, started, attempt, serialized=True, arguments=arguments
            )

    def _attempt_atomic(self, step_id, name, fn, args, kwargs, attempt, started, arguments):
        user_error = None
        raw_connection = None
        try:
            with write_transaction():
                raw_connection = connection.connection
                try:
                    value = fn(*args, **kwargs)
                    if transaction.get_rollback():
                        raise BrokenStepTransaction(step_id)
                    data = dumps(value, what=f"the result of step {step_id!r}")
                except BaseException as exc:
                    user_error = exc
                    raise
                step = store.RecordedStep(
                    step_id, name, StepStatus.COMPLETED, data, attempts=attempt, arguments=arguments
                )
                store.record_step(self._lease, step, started)
        except store.StepConflict:
            return self._outcome(self._reload(step_id, name))
        except _Abort:
            self._aborted = True
            raise
        except DatabaseError as exc:
            if user_error is not None and _connection_alive(raw_connection):
                raise
            # Beginning, recording or committing failed, or the connection died under the
            # step's own queries: the database's trouble, not the step's. The run stops; the
            # step runs again later (its writes rolled back).
            raise self._stop_run(f"database error around atomic step {step_id!r}: {exc}") from exc
        self._memo[step_id] = step
        return value

    def _record_value(
        self, step_id, name, value, started, attempt=1, serialized=False, arguments=""
    ):
        data = value if serialized else dumps(value, what=f"the result of step {step_id!r}")
        step = store.RecordedStep(
            step_id, name, StepStatus.COMPLETED, data, attempts=attempt, arguments=arguments
        )
        if (
            self._store(store.record_step, self._lease, step, started, on_conflict=step_id)
            is _CONFLICT
        ):
            return self._outcome(self._reload(step_id, name))
        self._memo[step_id] = step
        return loads(data) if serialized else value

    def _record_failure(self, step_id, name, error, attempt, started, arguments=""):
        error_type, message, trace = describe_error(error)
        step = store.RecordedStep(
            step_id, name, StepStatus.FAILED, None, error_type, message, trace, attempt, arguments
        )
        if (
            self._store(store.record_step, self._lease, step, started, on_conflict=step_id)
            is _CONFLICT
        ):
            step = self._reload(step_id, name)
            if step.status == StepStatus.COMPLETED:
                # Another run recorded a success first; that record is the truth.
                raise self._stop_run("step recorded by another run") from None
        self._memo[step_id] = step
        raise StepFailed(
            self._execution_id,
            step_id,
            step.error_type,
            step.error_message,
            step.error_traceback,
            step.attempts,
        ) from error

    def _reload(self, step_id: str, name: str) -> store.RecordedStep:
        recorded = self._store(store.load_steps, self._execution_id, step_id).get(step_id)
        if recorded is None:
            raise self._stop_run(f"step {step_id!r} conflicted but is not recorded")
        self._memo[step_id] = recorded
        return self._lookup(step_id, name)

    def _store(self, operation, *args, on_conflict: str | None = None):
        """Call a store operation; a database error aborts the run instead of failing it."""
        try:
            return operation(*args)
        except _Abort:
            self._aborted = True
            raise
        except store.StepConflict:
            if on_conflict is None:
                raise
            return _CONFLICT
        except DatabaseError as exc:
            raise self._stop_run(f"database error: {exc}") from exc


def _connection_alive(raw_connection: object) -> bool:
    # Leaving the transaction, Django closes a connection that died inside it, or replaces
    # it: either way it is not the one the step began with.
    return connection.connection is raw_connection and connection.is_usable()
