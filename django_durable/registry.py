"""Workflow and activity definitions: ``register``, name-or-function lookup, duplicates."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from django.core.exceptions import ImproperlyConfigured

from . import step_ids
from .exceptions import InvalidInput, UnknownActivity, UnknownWorkflow
from .retry import DEFAULT_ACTIVITY_RETRY, RetryPolicy
from .serialization import dumps

F = TypeVar("F", bound=Callable[..., Any])

_DEFINITION_ATTR = "__durable_definition__"


@dataclass(frozen=True)
class WorkflowDefinition:
    name: str
    fn: Callable[..., Any]
    timeout: float | None = None
    # A five-field cron expression: one execution is started per tick.
    schedule: str | None = None
    # The queue its executions go to unless a start names another.
    queue: str = "default"

    def encode_inputs(self, inputs: dict[str, Any]) -> bytes:
        """The stored form of a start's inputs; :class:`InvalidInput` if they do not fit."""
        try:
            inspect.signature(self.fn).bind(None, **inputs)
        except TypeError as exc:
            raise InvalidInput(f"wrong inputs for workflow {self.name!r}: {exc}") from None
        return dumps(inputs, what=f"the input of workflow {self.name!r}")

    @property
    def module(self) -> str:
        return _origin(self.fn)


@dataclass(frozen=True)
class ActivityDefinition:
    name: str
    fn: Callable[..., Any]
    retry: RetryPolicy = DEFAULT_ACTIVITY_RETRY
    timeout: float | None = None

    @property
    def module(self) -> str:
        return _origin(self.fn)


def _origin(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


class Registry:
    """Holds every workflow and activity of the project, by name."""

    def __init__(self) -> None:
        self.workflows: dict[str, WorkflowDefinition] = {}
        self.activities: dict[str, ActivityDefinition] = {}

    @overload
    def workflow(self, fn: F, /) -> F: ...
    @overload
    def workflow(
        self,
        *,
        name: str | None = None,
        timeout: float | None = None,
        schedule: str | None = None,
        queue: str = "default",
    ) -> Callable[[F], F]: ...

    def workflow(self, fn=None, /, *, name=None, timeout=None, schedule=None, queue="default"):
        """Register a workflow function ``fn(ctx, **inputs)``.

        ``name`` defaults to the function's ``__name__``; ``timeout`` (seconds) ends an
        execution that runs longer as ``TIMED_OUT``; ``schedule`` (a five-field cron
        expression, in ``TIME_ZONE``) starts one execution, without inputs, per tick;
        ``queue`` is the queue its executions go to (declared in ``DURABLE_QUEUES``; the
        system checks report an undeclared one).
        """
        _check_name(name, "workflow")
        _check_timeout(timeout, "workflow")
        _check_schedule(schedule)
        if not isinstance(queue, str) or not queue.strip() or len(queue) > 100:
            raise ImproperlyConfigured(
                "register.workflow(queue=...) must be a queue name: a non-empty string of "
                "at most 100 characters"
            )

        def decorator(func: F) -> F:
            _check_callable(func, "workflow")
            if schedule is not None:
                _check_runs_without_inputs(func)
            definition = WorkflowDefinition(
                name or func.__name__, func, _seconds(timeout), schedule, queue
            )
            self._add(self.workflows, definition, "workflow")
            setattr(func, _DEFINITION_ATTR, definition)
            return func

        return decorator(fn) if fn is not None else decorator

    @overload
    def activity(self, fn: F, /) -> F: ...
    @overload
    def activity(
        self,
        *,
        name: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
    ) -> Callable[[F], F]: ...

    def activity(self, fn=None, /, *, name=None, retry=None, timeout=None):
        """Register an activity: a function workflows call with ``ctx.run_activity``.

        ``retry`` is a :class:`~django_durable.retry.RetryPolicy` (default: 3 attempts);
        ``timeout`` (seconds) fails an attempt that runs longer.
        """
        _check_name(name, "activity")
        _check_timeout(timeout, "activity")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ImproperlyConfigured(
                f"register.activity(retry=...) takes a RetryPolicy, not {type(retry).__name__}"
            )

        def decorator(func: F) -> F:
            _check_callable(func, "activity")
            definition = ActivityDefinition(
                name or func.__name__, func, retry or DEFAULT_ACTIVITY_RETRY, _seconds(timeout)
            )
            self._add(self.activities, definition, "activity")
            setattr(func, _DEFINITION_ATTR, definition)
            return func

        return decorator(fn) if fn is not None else decorator

    def _add(self, table: dict, definition: Any, kind: str) -> None:
        existing = table.get(definition.name)
        # The same function registered again (a module imported twice, a reload) replaces
        # itself; another function under a taken name is a mistake.
        if existing is not None and existing.module != definition.module:
            raise ImproperlyConfigured(
                f"two {kind} registrations use the name {definition.name!r}: "
                f"{existing.module} and {definition.module}; pass name= to one of them"
            )
        table[definition.name] = definition

    def get_workflow(self, name_or_fn: str | Callable[..., Any]) -> WorkflowDefinition:
        """Return the workflow registered under a name, or for a decorated function."""
        name = _name_of(name_or_fn, WorkflowDefinition)
        try:
            return self.workflows[name]
        except KeyError:
            raise UnknownWorkflow(name) from None

    def get_activity(self, name_or_fn: str | Callable[..., Any]) -> ActivityDefinition:
        """Return the activity registered under a name, or for a decorated function."""
        name = _name_of(name_or_fn, ActivityDefinition)
        try:
            return self.activities[name]
        except KeyError:
            raise UnknownActivity(name) from None


def _name_of(name_or_fn: Any, kind: type) -> str:
    if isinstance(name_or_fn, str):
        return name_or_fn
    definition = getattr(name_or_fn, _DEFINITION_ATTR, None)
    if isinstance(definition, kind):
        return definition.name
    return getattr(name_or_fn, "__name__", repr(name_or_fn))


def _check_name(name: object, kind: str) -> None:
    if name is not None and (step_ids.text_problem(name) is not None):
        raise ImproperlyConfigured(
            f"register.{kind}(name=...) must be a non-empty string of at most "
            f"{step_ids.MAX_LENGTH} characters "
            "without NUL characters"
        )


def _check_schedule(schedule: object) -> None:
    if schedule is None:
        return
    from .schedules import ScheduleError, check

    try:
        check(schedule)
    except ScheduleError as exc:
        raise ImproperlyConfigured(f"register.workflow(schedule=...): {exc}") from None


def _check_runs_without_inputs(func: Callable[..., Any]) -> None:
    # A tick starts the workflow with no inputs: every parameter after ctx needs a default.
    parameters = list(inspect.signature(func).parameters.values())[1:]
    required = [
        p.name
        for p in parameters
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    if required:
        raise ImproperlyConfigured(
            f"scheduled workflow {func.__name__!r} is started with no inputs at each tick, "
            f"but needs {', '.join(required)}: give them defaults"
        )


def scheduled_workflows(registry: Registry) -> list[WorkflowDefinition]:
    """The workflows with a ``schedule``, by name."""
    return sorted((d for d in registry.workflows.values() if d.schedule), key=lambda d: d.name)


def _check_timeout(timeout: object, kind: str) -> None:
    if timeout is None:
        return
    seconds = getattr(timeout, "total_seconds", lambda: timeout)()
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds <= 0:
        raise ImproperlyConfigured(
            f"register.{kind}(timeout=...) must be a positive number of seconds or a timedelta"
        )


def _seconds(timeout: Any) -> float | None:
    if timeout is None:
        return None
    return float(getattr(timeout, "total_seconds", lambda: timeout)())


def _check_callable(fn: object, kind: str) -> None:
    if not callable(fn):
        raise ImproperlyConfigured(f"register.{kind}() decorates a function, not {fn!r}")
    if kind == "workflow" and inspect.iscoroutinefunction(fn):
        raise ImproperlyConfigured(
            f"{_origin(fn)} is async; a workflow is a plain function (its steps and "
            "activities may be async)"
        )


register = Registry()
"""The project's registry: ``@register.workflow()`` and ``@register.activity()``."""
