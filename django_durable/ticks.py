"""Start the executions of scheduled workflows: one per cron tick, whichever worker is first.

A tick's execution has the id ``NAME@<tick>``, so the start is idempotent: every worker may
try, one execution results. A schedule's first execution is its first tick after a worker
first sees it; after that, ticks missed while no worker ran start once, the latest only
(the next tick after a restart is the latest missed one, if it has no execution yet).
"""

from __future__ import annotations

import datetime as dt
import logging

from . import clock, schedules, store
from .registry import register, scheduled_workflows
from .serialization import dumps

logger = logging.getLogger("django_durable")


class TickStarter:
    """Remembers, per scheduled workflow, the next tick a worker has to act on."""

    def __init__(self) -> None:
        self._next: dict[str, dt.datetime] = {}

    def start_due(self, now: dt.datetime | None = None) -> list[str]:
        """Start the executions of ticks that are due; return the ids of those started."""
        now = now or clock.now()
        started = []
        for definition in scheduled_workflows(register):
            name, expression = definition.name, definition.schedule
            upcoming = self._next.get(name)
            if upcoming is not None and now < upcoming:
                continue
            tick = schedules.latest_tick(expression, now)
            if upcoming is not None or store.has_scheduled_executions(name):
                execution_id, created = store.create_execution(
                    name,
                    dumps({}),
                    execution_id=schedules.execution_id(name, tick),
                    timeout=definition.timeout,
                    queue=definition.queue,
                )
                if created:
                    started.append(execution_id)
                    logger.info("started %s for its tick at %s", execution_id, tick.isoformat())
            self._next[name] = schedules.next_tick(expression, now)
        return started
