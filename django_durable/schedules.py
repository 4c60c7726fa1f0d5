"""Cron schedules: which tick is due, which comes next, and the id of a tick's execution.

Five-field cron expressions are read by ``cronsim`` (the parser Healthchecks.io maintains:
small, no dependencies, careful about daylight saving time), in the project's
``TIME_ZONE``. A tick that does not exist (2:30 on the night clocks go forward) runs at the
first moment after it; a tick that happens twice (the night they go back) runs once.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.conf import settings
from django.utils import timezone


class ScheduleError(ValueError):
    """A cron expression that cannot be read; the message says which field is wrong."""


def check(expression: object) -> None:
    """Raise :class:`ScheduleError` unless ``expression`` is a valid five-field cron line."""
    from cronsim import CronSim, CronSimError

    if not isinstance(expression, str) or len(expression.split()) != 5:
        raise ScheduleError(
            f"{expression!r} is not a five-field cron expression (minute hour day-of-month "
            "month day-of-week, like '0 3 * * *')"
        )
    try:
        CronSim(expression, dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    except CronSimError as exc:
        raise ScheduleError(f"{expression!r} is not a valid cron expression: {exc}") from None


def latest_tick(expression: str, now: dt.datetime) -> dt.datetime:
    """The last tick at or before ``now``, in the project's time zone."""
    from cronsim import CronSim

    local = _local(now)
    # cronsim steps back from the minute before; a tick at exactly `now` counts.
    return next(iter(CronSim(expression, local + dt.timedelta(minutes=1), reverse=True)))


def next_tick(expression: str, now: dt.datetime) -> dt.datetime:
    """The first tick after ``now``, in the project's time zone."""
    from cronsim import CronSim

    return next(iter(CronSim(expression, _local(now))))


def execution_id(workflow_name: str, tick: dt.datetime) -> str:
    """``NAME@<tick as ISO 8601>``: one execution per tick, however many workers start it."""
    return f"{workflow_name}@{tick.isoformat()}"


def _local(moment: dt.datetime) -> dt.datetime:
    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE or "UTC")
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=zone)  # USE_TZ = False: naive local time
    return moment.astimezone(zone).replace(second=0, microsecond=0)
