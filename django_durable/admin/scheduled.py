"""The schedules page: each scheduled workflow, its cron line, its last and next tick.

Built on :func:`~django_durable.inspection.list_schedules` (what ``durable_status
--schedules`` prints): one query per scheduled workflow, for its latest execution.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.safestring import SafeString

from .. import clock, schedules
from ..inspection import list_schedules
from ..registry import register
from .formatting import duration, relative, status_badge
from .waits import execution_url


@dataclass
class ScheduleRow:
    workflow: str
    workflow_url: str  # the executions list, filtered to this workflow
    schedule: str
    explained: str  # "At 03:00 on Monday through Friday"
    queue: str
    timeout: str
    last_tick: str
    last_tick_ago: str
    latest_execution: str
    latest_url: str
    latest_badge: SafeString | str
    # The latest execution is not the last tick's: that tick has none (yet).
    last_tick_missing: bool
    next_tick: str
    next_tick_in: str


def page_context() -> dict:
    """The template context of the schedules page (ticks are read on the engine's clock)."""
    now = clock.now()
    changelist = reverse("admin:django_durable_workflowexecution_changelist")
    rows = []
    for item in list_schedules():
        name, expression = item["workflow"], item["schedule"]
        definition = register.workflows.get(name)
        last_tick = schedules.latest_tick(expression, now)
        latest = item["latest_execution"] or ""
        rows.append(
            ScheduleRow(
                workflow=name,
                workflow_url=changelist + "?" + urlencode({"workflow": name}),
                schedule=expression,
                explained=_explain(expression),
                queue=getattr(definition, "queue", "") or "default",
                timeout=(
                    duration(definition.timeout)
                    if definition is not None and definition.timeout
                    else "none"
                ),
                last_tick=_tick(last_tick),
                last_tick_ago=relative(last_tick, now),
                latest_execution=latest,
                latest_url=execution_url(latest) if latest else "",
                latest_badge=status_badge(item["latest_status"]) if latest else "",
                last_tick_missing=latest != schedules.execution_id(name, last_tick),
                next_tick=_tick(item["next_tick"]),
                next_tick_in=relative(item["next_tick"], now),
            )
        )
    return {
        "schedule_rows": rows,
        "time_zone": settings.TIME_ZONE or "UTC",
    }


def _tick(moment: dt.datetime) -> str:
    # In the schedule's own time zone (the project's), as cron reads it.
    return f"{moment:%Y-%m-%d %H:%M} {moment:%Z}".rstrip()


def _explain(expression: str) -> str:
    """cronsim's English reading of a cron line, when it has one."""
    from cronsim import CronSim

    try:
        return CronSim(expression, dt.datetime(2000, 1, 1, tzinfo=dt.UTC)).explain()
    except Exception:  # noqa: BLE001 - an explanation is a nicety; the cron line is shown
        return ""
