"""``ctx.gather``: run many activity calls at once, each a step with its own step id.

``ctx.activity(...)`` describes a call without making it; ``ctx.gather(*calls)`` gives each
call the step id ``ctx.run_activity`` would have given it in that order, returns the
recorded outcomes, and runs the calls that are not recorded: the ``async def`` ones
together on the thread's event loop, the plain ones one after another. Each outcome is
recorded as soon as its call ends, so a crash reruns only the calls still in flight.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import clock, coroutines
from .exceptions import SerializationError, StepFailed, _ControlFlow, _ReplayStop
from .registry import ActivityDefinition, register
from .retry import is_retryable, next_delay
from .serialization import dumps
from .step_calls import check_arguments, log_retry, summarize_arguments


@dataclass(frozen=True)
class ActivityCall:
    """One activity call for :meth:`Gathering.gather`, made by ``ctx.activity(...)``."""

    definition: ActivityDefinition
    args: tuple
    kwargs: dict
    step_id: str | None = None


class Gathering:
    """Concurrent activity calls, for :class:`~django_durable.context.WorkflowContext`."""

    def activity(
        self,
        name_or_fn: str | Callable[..., Any],
        *args: Any,
        step_id: str | None = None,
        **kwargs: Any,
    ) -> ActivityCall:
        """Describe ``ctx.run_activity(name_or_fn, *args, **kwargs)`` for ``ctx.gather``."""
        return ActivityCall(register.get_activity(name_or_fn), args, kwargs, step_id)

    def gather(self, *calls: ActivityCall, return_exceptions: bool = False) -> list[Any]:
        """Run the activity calls at once and return their results in order.

        Each call is a step of its own, recorded under the id ``ctx.run_activity`` would
        give it, and never runs again once recorded. ``async def`` activities run together
        on this thread's event loop (a hundred HTTP calls take about as long as one); plain
        ones run one after another. Retries wait in the worker thread. A call that fails
        for good raises :class:`~django_durable.exceptions.StepFailed` once every call has
        ended (the first failed one, in order), unless ``return_exceptions=True`` puts the
        exception in its place in the list.
        """
        entries = []
        for call in calls:
            if not isinstance(call, ActivityCall):
                raise TypeError(
                    "ctx.gather() takes calls made with ctx.activity(name, *args), "
                    f"not {type(call).__name__}"
                )
            name = call.definition.name
            step_id = self._enter(name, call.step_id)
            entries.append((step_id, call, self._lookup(step_id, name)))
        pending = [(step_id, call) for step_id, call, recorded in entries if recorded is None]
        if pending and self._replay:
            raise _ReplayStop(pending[0][0], pending[0][1].definition.name, "step")
        for step_id, call in pending:
            what = f"activity {call.definition.name!r} (step {step_id!r})"
            check_arguments(call.definition.fn, call.args, call.kwargs, what)
        if pending and self._on_step is not None:
            self._on_step(pending[0][0])
        together = [(s, c) for s, c in pending if coroutines.is_async(c.definition.fn)]
        for step_id, call in pending:
            if not coroutines.is_async(call.definition.fn):
                self._gathered_sync(step_id, call)
        if together:
            self._gathered_async(together)
        results = []
        for step_id, _call, _recorded in entries:
            try:
                results.append(self._outcome(self._memo[step_id]))
            except StepFailed as error:
                if not return_exceptions:
                    raise
                results.append(error)
        return results

    def _gathered_sync(self, step_id: str, call: ActivityCall) -> None:
        definition = call.definition
        try:
            self._execute_step(
                step_id,
                definition.name,
                definition.fn,
                call.args,
                call.kwargs,
                definition.retry,
                definition.timeout,
                False,
                kind="activity",
            )
        except StepFailed:
            pass  # recorded: gather raises it in order, or returns it

    def _gathered_async(self, calls: list[tuple[str, ActivityCall]]) -> None:
        loop = coroutines.thread_loop()
        tasks = {
            loop.create_task(self._attempts(step_id, call)): (step_id, call)
            for step_id, call in calls
        }
        try:
            while tasks:
                done, _ = loop.run_until_complete(
                    asyncio.wait(set(tasks), return_when=asyncio.FIRST_COMPLETED)
                )
                # The loop is stopped here: recording (the ORM) runs outside it.
                for task in done:
                    step_id, call = tasks.pop(task)
                    self._record_gathered(step_id, call, *task.result())
        except BaseException:
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            raise

    async def _attempts(self, step_id: str, call: ActivityCall) -> tuple:
        """Try the call with its retry policy; return (value or error, attempt, started)."""
        definition = call.definition
        attempt = 1
        while True:
            started = clock.now()
            try:
                value = await coroutines.with_timeout(
                    definition.fn(*call.args, **call.kwargs), definition.timeout, step_id
                )
                return value, None, attempt, started
            except _ControlFlow:
                raise
            except Exception as error:  # noqa: BLE001 - an activity may raise anything
                delay = next_delay(definition.retry, attempt)
                if delay is None or not is_retryable(definition.retry, error):
                    return None, error, attempt, started
                log_retry(self._execution_id, step_id, attempt, error, delay)
                if await _wait_or_abort(delay, self._abort):
                    raise self._stop_run("the execution was canceled or its lease was lost")
                attempt += 1

    def _record_gathered(self, step_id, call, value, error, attempt, started) -> None:
        name = call.definition.name
        arguments = summarize_arguments(call.args, call.kwargs)
        if error is None:
            try:
                data = dumps(value, what=f"the result of step {step_id!r}")
            except SerializationError as exc:
                error = exc
            else:
                self._check_lease()
                self._record_value(
                    step_id, name, data, started, attempt, serialized=True, arguments=arguments
                )
                return
        try:
            self._record_failure(step_id, name, error, attempt, started, arguments)
        except StepFailed:
            pass  # recorded: gather raises it in order, or returns it


async def _wait_or_abort(seconds: float, abort: threading.Event) -> bool:
    """Sleep ``seconds`` on the loop, looking at ``abort`` twice a second; True if set."""
    end = asyncio.get_running_loop().time() + seconds
    while not abort.is_set():
        left = end - asyncio.get_running_loop().time()
        if left <= 0:
            return False
        await asyncio.sleep(min(left, 0.5))
    return True
