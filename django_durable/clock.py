"""The engine's clock: the real time, or, under the test harness, the real time moved forward.

Every time the engine stores or compares (leases, timers, step timings, ``ctx.now()``) comes
from :func:`now`, so that :func:`django_durable.testing.run_until_idle` can skip a one-day
``ctx.sleep`` by moving this clock instead of waiting.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

_offset = dt.timedelta(0)


def now() -> dt.datetime:
    """The current time as the engine sees it (``timezone.now()`` plus any offset)."""
    if _offset:
        return timezone.now() + _offset
    return timezone.now()


def offset() -> dt.timedelta:
    """How far the clock has been moved ahead of the real time."""
    return _offset


def move_to(moment: dt.datetime) -> None:
    """Move the clock ahead so that it reads ``moment`` now (never back)."""
    global _offset
    ahead = moment - timezone.now()
    if ahead > _offset:
        _offset = ahead


def reset() -> None:
    """Back to the real time."""
    global _offset
    _offset = dt.timedelta(0)
