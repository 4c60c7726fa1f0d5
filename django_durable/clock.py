"""The engine's clock: the real time, or, under the test harness, the real time moved forward.

Every time the engine stores or compares (leases, timers, step timings, ``ctx.now()``) comes
from :func:`now`, so that :func:`django_durable.testing.run_until_idle` can skip a one-day
``ctx.sleep`` by moving this clock instead of waiting.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.signals import setting_changed
from django.utils import timezone

_offset = dt.timedelta(0)
_UNREAD = object()
# timezone.now()'s choice between aware UTC and naive local time, read once: reading
# USE_TZ through the settings' proxy costs as much as the clock itself, twice a step.
_tz: object = _UNREAD


def now() -> dt.datetime:
    """The current time as the engine sees it (``timezone.now()`` plus any offset)."""
    global _tz
    if _tz is _UNREAD:
        _tz = dt.UTC if settings.USE_TZ else None
    moment = dt.datetime.now(_tz)  # looked up at each call, so that freezegun can stand in
    if _offset:
        return moment + _offset
    return moment


def _forget_time_zone(*, setting: str, **kwargs) -> None:
    global _tz
    if setting == "USE_TZ":
        _tz = _UNREAD


setting_changed.connect(_forget_time_zone)


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
