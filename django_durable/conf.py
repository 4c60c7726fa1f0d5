"""Every setting of Django Durable, with its default, read when first used.

Settings are read through ``durable_settings.NAME``, never at import, so that
``override_settings`` in tests and per-process settings modules work as users expect. A
value read is kept until Django says a setting changed (``setting_changed``, which
``override_settings`` and pytest-django's ``settings`` fixture send): Django's settings
object costs microseconds per read, and the hot path reads several per step.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

DEFAULTS: dict[str, Any] = {
    # Seconds a worker holds an execution without renewing its lease. A dead worker's
    # executions are taken over once it expires.
    "DURABLE_LEASE_SECONDS": 60.0,
    # Seconds between lease renewals; also how often a worker notices a cancel or a lost lease
    # of an execution it is running. Keep well under the lease length.
    "DURABLE_HEARTBEAT_SECONDS": 5.0,
    # Seconds an idle worker waits between looks for runnable executions.
    "DURABLE_POLL_SECONDS": 1.0,
    # Seconds the scheduler waits between looks for due timers (at most; it wakes earlier
    # for a timer it knows about).
    "DURABLE_TIMER_POLL_SECONDS": 1.0,
    # Seconds a stopping worker lets running executions finish before releasing them.
    "DURABLE_SHUTDOWN_GRACE_SECONDS": 30.0,
    # A retry backoff up to this many seconds sleeps in the worker thread; a longer one
    # suspends the execution on a timer row and frees the thread.
    "DURABLE_INLINE_RETRY_SECONDS": 1.0,
    # Largest serialized input, step result, signal payload or workflow result, in bytes.
    "DURABLE_MAX_PAYLOAD_BYTES": 4 * 1024 * 1024,
    # SQLite only: milliseconds a connection waits for another writer before giving up.
    "DURABLE_SQLITE_BUSY_TIMEOUT_MS": 30_000,
    # SQLite only: journal mode set on every connection ("WAL" lets readers and a writer
    # work at once; None leaves the database's own mode alone).
    "DURABLE_SQLITE_JOURNAL_MODE": "WAL",
    # Timers fired per scheduler transaction batch.
    "DURABLE_TIMER_BATCH_SIZE": 500,
    # Days a finished execution is kept. When set, each worker deletes older ones (with
    # their steps, timers, signals and runs) once an hour, as `durable_prune` does; None
    # keeps everything.
    "DURABLE_RETENTION_DAYS": None,
    # Queues besides "default", with their limits across all workers:
    # {"emails": {"concurrency": 5, "rate_limit": (100, 60)}} runs at most 5 executions of
    # the queue at once and starts at most 100 per 60 seconds. A queue needs no limit to
    # be declared ({"reports": {}}); an undeclared name is refused where it is used.
    "DURABLE_QUEUES": {},
}


class _DurableSettings:
    """Attribute access to the ``DURABLE_*`` settings with their defaults."""

    def __getattr__(self, name: str) -> Any:
        # Called only for a name not read yet since the last change: later reads find it
        # in the instance's __dict__.
        if name not in DEFAULTS:
            raise AttributeError(f"unknown Django Durable setting {name!r}")
        value = getattr(settings, name, DEFAULTS[name])
        self.__dict__[name] = value
        return value

    def forget(self) -> None:
        """Read every setting afresh from Django's settings at its next use."""
        self.__dict__.clear()


durable_settings = _DurableSettings()


def _forget_on_change(*, setting: str, **kwargs: Any) -> None:
    if setting in DEFAULTS:
        durable_settings.forget()


setting_changed.connect(_forget_on_change, dispatch_uid="django_durable_settings")
