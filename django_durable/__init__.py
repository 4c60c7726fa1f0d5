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
    "get_workflow",
    "inspect_workflow",
    "list_workers",
    "register",
    "run_workflow",
    "signal_workflow",
    "start_workflow",
    "wait_workflow",
    "workflow_events",
]

_API = {
    "cancel_workflow",
    "get_workflow",
    "inspect_workflow",
    "list_workers",
    "run_workflow",
    "signal_workflow",
    "start_workflow",
    "wait_workflow",
    "workflow_events",
}

if TYPE_CHECKING:
    from .api import (
        cancel_workflow,
        get_workflow,
        inspect_workflow,
        list_workers,
        run_workflow,
        signal_workflow,
        start_workflow,
        wait_workflow,
        workflow_events,
    )


def __getattr__(name: str) -> Any:
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'django_durable' has no attribute {name!r}")
