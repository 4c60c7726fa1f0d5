"""The workflow that runs a ``django.tasks`` task: a durable execution of one step.

Kept apart from :mod:`django_durable.tasks` so that it can be registered (and run by any
worker) without importing Django's task framework until a task actually runs.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from .registry import register

TASK_WORKFLOW = "django.tasks"
TASK_STEP = "task"


def run_task(
    ctx,
    task: str,
    args: list,
    kwargs: dict,
    backend: str = "default",
    run_after: dt.datetime | None = None,
) -> Any:
    """Wait until ``run_after`` (a timer), then call the task once, as the step ``task``.

    A worker killed during the call runs it again; once its outcome is recorded, it never
    runs again.
    """
    if run_after is not None:
        ctx.sleep_until(run_after)
    return ctx.step(_call, ctx.execution_id, task, args, kwargs, backend, step_id=TASK_STEP)


def _call(execution_id: str, task: str, args: list, kwargs: dict, backend: str) -> Any:
    from .tasks import call_task

    return call_task(execution_id, task, args, kwargs, backend)


def ensure_registered() -> None:
    """Register the task workflow once (when a ``DurableBackend`` is configured)."""
    if TASK_WORKFLOW not in register.workflows:
        register.workflow(name=TASK_WORKFLOW)(run_task)
