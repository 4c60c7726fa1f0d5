"""Django Durable: durable execution of long-running workflows, natively inside Django.

The API functions are imported lazily, so that ``from django_durable import register`` works
in a models or settings-adjacent module before the app registry is ready.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .registry import register
from .retry import RetryPolicy

__all__ = [
    "RetryPolicy",
    "cancel_workflow",
    "fork_workflow",
    "get_event",
    "get_workflow",
    "inspect_workflow",
    "list_workers",
    "prune_workflows",
    "register",
    "retry_workflow",
    "run_workflow",
    "signal_workflow",
    "start_workflow",
    "wait_workflow",
    "workflow_events",
]

# Where each lazily imported name lives.
_LAZY = {
    "cancel_workflow": "api",
    "get_event": "api",
    "get_workflow": "api",
    "inspect_workflow": "inspection",
    "list_workers": "inspection",
    "run_workflow": "api",
    "signal_workflow": "api",
    "start_workflow": "api",
    "wait_workflow": "api",
    "workflow_events": "inspection",
    "fork_workflow": "repairs",
    "prune_workflows": "repairs",
    "retry_workflow": "repairs",
}

if TYPE_CHECKING:
    from .api import (
        cancel_workflow,
        get_event,
        get_workflow,
        run_workflow,
        signal_workflow,
        start_workflow,
        wait_workflow,
    )
    from .inspection import inspect_workflow, list_workers, workflow_events
    from .repairs import fork_workflow, prune_workflows, retry_workflow


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        from importlib import import_module

        return getattr(import_module(f".{module}", __name__), name)
    raise AttributeError(f"module 'django_durable' has no attribute {name!r}")
