"""The worker table: each worker's row, written at start, at each heartbeat and at stop."""

from __future__ import annotations

import json

from .. import clock, dialect
from ..models import WorkerProcess

Workers = WorkerProcess.objects


def register_worker(worker_id: str, host: str, pid: int, threads: int, queues=()) -> None:
    """Insert (or, for a reused id, reset) the row of a worker that is starting."""
    now = clock.now()
    # Read-then-write: on SQLite it must hold the write lock from the start, or two workers
    # starting together fail with "database is locked" (see dialect.write_transaction).
    with dialect.write_transaction():
        _upsert(worker_id, host, pid, threads, queues, now)


def _upsert(worker_id, host, pid, threads, queues, now) -> None:
    Workers.update_or_create(
        pk=worker_id,
        defaults={
            "host": host,
            "pid": pid,
            "threads": threads,
            "queues": ",".join(queues),
            "started_at": now,
            "last_heartbeat_at": now,
            "stopped_at": None,
            "current_steps": "",
        },
    )


def beat(worker_id: str, current_steps: dict[str, str]) -> None:
    """Note that the worker is alive, and what each of its runs is doing now."""
    Workers.filter(pk=worker_id).update(
        last_heartbeat_at=clock.now(),
        current_steps=json.dumps(current_steps) if current_steps else "",
    )


def worker_stopped(worker_id: str) -> None:
    now = clock.now()
    Workers.filter(pk=worker_id).update(stopped_at=now, last_heartbeat_at=now, current_steps="")


def prune_workers(silent_before) -> int:
    """Delete the rows of workers not heard from since ``silent_before``; return how many."""
    return Workers.filter(last_heartbeat_at__lt=silent_before).delete()[0]
