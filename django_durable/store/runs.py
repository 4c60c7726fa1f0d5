"""The run log: one row per run, opened with the claim and closed with the run's last write.

Every function here runs inside the caller's transaction, next to the write that starts or
ends the run, so the log never costs a commit of its own. The hot ones (a claim's runs, a
run's end) are plain SQL built once, like the claim and the finish they go with.
"""

from __future__ import annotations

import datetime as dt
import functools

from django.db import DEFAULT_DB_ALIAS, connection, connections

from .. import clock, dialect
from ..models import RunOutcome, TimerKind, WorkflowRun

Runs = WorkflowRun.objects

_OPEN_COLUMNS = ("execution_id", "epoch", "worker", "started_at")


def open_runs(cursor, runs: list[tuple[str, int]], owner: str, now: dt.datetime) -> None:
    """Insert a run row for each ``(execution id, epoch)`` just claimed by ``owner``."""
    if not runs:
        return
    conn = connections[DEFAULT_DB_ALIAS]
    started = conn.ops.adapt_datetimefield_value(now)
    params: list = []
    for execution_id, epoch in runs:
        params += (execution_id, epoch, owner, started)
    cursor.execute(_open_sql(conn.vendor, len(runs)), params)


@functools.lru_cache(maxsize=64)
def _open_sql(vendor: str, count: int) -> str:
    q = connection.ops.quote_name
    # Django's field defaults are not the database's: the empty text columns are spelled out.
    columns = [*_OPEN_COLUMNS, "outcome", "waiting_on", "detail"]
    row = "(" + ", ".join(["%s"] * len(_OPEN_COLUMNS) + ["''"] * 3) + ")"
    return (
        f"INSERT INTO {q(WorkflowRun._meta.db_table)} "
        f"({', '.join(q(c) for c in columns)}) VALUES {', '.join([row] * count)}"
    )


def close_run(
    cursor,
    execution_id: str,
    epoch: int,
    outcome: str,
    *,
    waiting_on: str = "",
    detail: str = "",
    now: dt.datetime | None = None,
) -> None:
    """End the run of ``execution_id`` at ``epoch``, unless something ended it already."""
    cursor.execute(
        *closing_statement(
            execution_id, epoch, outcome, waiting_on=waiting_on, detail=detail, now=now
        )
    )


def closing_statement(
    execution_id: str,
    epoch: int,
    outcome: str,
    *,
    waiting_on: str = "",
    detail: str = "",
    now: dt.datetime | None = None,
) -> tuple[str, list]:
    """The SQL and parameters of :func:`close_run`."""
    conn = connections[DEFAULT_DB_ALIAS]
    ended = conn.ops.adapt_datetimefield_value(now or clock.now())
    params = [ended, str(outcome), waiting_on, dialect.storable_text(detail), execution_id, epoch]
    return _close_sql(conn.vendor), params


def close_sql() -> str:
    """The SQL of :func:`close_run` (its parameters: :func:`closing_statement`)."""
    return _close_sql(connection.vendor)


@functools.lru_cache(maxsize=4)
def _close_sql(vendor: str) -> str:
    q = connection.ops.quote_name
    return (
        f"UPDATE {q(WorkflowRun._meta.db_table)} SET {q('ended_at')} = %s, "
        f"{q('outcome')} = %s, {q('waiting_on')} = %s, {q('detail')} = %s "
        f"WHERE {q('execution_id')} = %s AND {q('epoch')} = %s AND {q('outcome')} = ''"
    )


def end_run(
    execution_id: str, epoch: int, outcome: str, *, waiting_on: str = "", detail: str = ""
) -> None:
    """:func:`close_run` in a cursor of its own (for writes made outside the hot path)."""
    with connection.cursor() as cursor:
        close_run(cursor, execution_id, epoch, outcome, waiting_on=waiting_on, detail=detail)


def end_open_runs(execution_ids, outcome: str, detail: str = "", *, before_epoch=None) -> int:
    """End every run still open of these executions (a cancel, a timeout, a dead worker)."""
    ids = list(execution_ids)
    if not ids:
        return 0
    runs = Runs.filter(execution_id__in=ids, outcome="")
    if before_epoch is not None:
        runs = runs.filter(epoch__lt=before_epoch)
    return runs.update(
        ended_at=clock.now(), outcome=str(outcome), detail=dialect.storable_text(detail)
    )


def suspension_outcome(kind: str) -> RunOutcome:
    """The run outcome of suspending on a timer of ``kind``."""
    return RunOutcome.RETRY_BACKOFF if kind == TimerKind.RETRY else RunOutcome.SLEEPING
