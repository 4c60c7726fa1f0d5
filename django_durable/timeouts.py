"""Enforce a step's timeout: the one place outside the worker that starts a thread.

Python cannot stop a running function from outside, so a step with a timeout runs in a
helper thread that the caller stops waiting for. A step that overran is abandoned: its
thread finishes (or not) on its own, and whatever it returns is ignored.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import connections

from .exceptions import StepTimeout


def call_with_timeout(
    fn: Callable[..., Any], args: tuple, kwargs: dict, timeout: float | None, step_id: str
) -> Any:
    """Return ``fn(*args, **kwargs)``, or raise :class:`StepTimeout` after ``timeout`` s."""
    if timeout is None:
        return fn(*args, **kwargs)
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller
            outcome["error"] = exc
        finally:
            connections.close_all()

    helper = threading.Thread(target=target, name=f"durable-step-{step_id}", daemon=True)
    helper.start()
    helper.join(timeout)
    if helper.is_alive():
        raise StepTimeout(step_id, timeout)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
