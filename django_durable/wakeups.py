"""Wake the idle workers of this process when a transaction makes something runnable.

Each running worker subscribes a callback (its claim loop's wake-up); ``dialect.notify_wake``
calls :func:`wake_at_commit` in every transaction that starts, signals, fires or hands back
work, on every database, so a worker in the same process claims it at once instead of at its
next poll.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import transaction

# Replaced, never changed in place: a wake-up reads it without the lock.
_callbacks: tuple[Callable[[], None], ...] = ()
_lock = threading.Lock()


def subscribe(callback: Callable[[], None]) -> None:
    """Call ``callback`` whenever a transaction of this process makes work runnable."""
    global _callbacks
    with _lock:
        _callbacks = (*_callbacks, callback)


def unsubscribe(callback: Callable[[], None]) -> None:
    """Stop calling ``callback`` (subscribed by :func:`subscribe`); no error if it was not."""
    global _callbacks
    with _lock:
        _callbacks = tuple(c for c in _callbacks if c != callback)


def wake_at_commit() -> None:
    """Wake every subscriber when the current transaction commits (at once outside one).

    A transaction rolled back wakes nobody. Without subscribers (a web process) this costs
    one check.
    """
    if _callbacks:
        transaction.on_commit(_wake_all)


def _wake_all() -> None:
    for callback in _callbacks:
        callback()
