"""Ending executions early, and what an end owes others: cancel, cascades to descendants,
waking the executions that wait for an ended one.

Rows are locked child before parent (see :mod:`.children`): a cascade ends the deepest
generation first, and an ended execution wakes its waiters after updating its own row.
"""

from __future__ import annotations

import datetime as dt
import functools

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Q

from .. import clock, dialect
from ..exceptions import ExecutionFinished, ExecutionNotFound
from ..models import FINAL_STATUSES, LIVE_STATUSES, RunOutcome, Status, Timer, WorkflowExecution
from . import runs

Executions = WorkflowExecution.objects


@functools.lru_cache(maxsize=4)
def _wake_waiters_sql(vendor: str) -> str:
    q = connection.ops.quote_name
    return (
        f"UPDATE {q(WorkflowExecution._meta.db_table)} SET {q('status')} = %s, "
        f"{q('updated_at')} = %s WHERE {q('waiting_for')} = %s AND {q('status')} = %s"
    )


def wake_waiters(execution_ids: list[str], now: dt.datetime) -> int:
    """Make runnable the executions waiting in ``ctx.wait_workflow`` for these ended ones.

    An indexed lookup per ended execution: a parent of a thousand children is woken by
    each of them at the same cost, without a look at the others.
    """
    conn = connections[DEFAULT_DB_ALIAS]
    sql = _wake_waiters_sql(conn.vendor)
    moment = conn.ops.adapt_datetimefield_value(now)
    woken = 0
    with dialect.statement_cursor(conn) as cursor:
        for execution_id in execution_ids:
            cursor.execute(sql, [Status.PENDING.value, moment, execution_id, Status.WAITING.value])
            woken += cursor.rowcount
    if woken:
        dialect.notify_wake()
    return woken


def cancel(execution_id: str, reason: str = "") -> None:
    """Cancel a live execution and its live children, theirs, and so on.

    No further step of any of them runs; their timers are deleted; executions waiting for
    one of them are woken (to see it canceled).
    """
    now = clock.now()
    with dialect.write_transaction():
        # Timers first (see finish()), then the children's rows before the parent's.
        Timer.objects.filter(execution_id=execution_id).delete()
        end_descendants(
            [execution_id], Status.CANCELED, f"{CASCADE_PREFIX}, {execution_id}, was canceled", now
        )
        status = lock_status(execution_id)
        if status in FINAL_STATUSES:
            raise ExecutionFinished(execution_id, status, "cancel")
        _end_live([execution_id], Status.CANCELED, reason, now)
    end_orphans([execution_id], f"{CASCADE_PREFIX}, {execution_id}, was canceled")


def end_orphans(execution_ids: list[str], reason: str) -> int:
    """Cancel the live descendants of these ended executions that their end did not see.

    A run starting children commits them while the cancel (or timeout) that ends their
    parent waits for the parent's row: the cascade, which looked for children before that,
    misses them. Once the parent has ended, no run of it can start more, so one look after
    the commit finds them all (also below children the cascade canceled).
    """
    with dialect.write_transaction():
        return end_descendants(
            execution_ids, Status.CANCELED, reason, clock.now(), through_cascaded=True
        )


# The cancel reason of an execution ended with its parent or another ancestor (a retry of
# that ancestor retries it too).
CASCADE_PREFIX = "its parent or an ancestor"
CASCADE_TIMED_OUT = f"{CASCADE_PREFIX} timed out"


def end_descendants(
    execution_ids: list[str],
    status: str,
    reason: str,
    now: dt.datetime,
    *,
    through_cascaded: bool = False,
) -> int:
    """End every live descendant of these executions with ``status`` (canceled); return how many.

    Deepest first, each generation's rows locked before its parents' (see store.children).
    """
    generations = live_descendants(execution_ids, through_cascaded=through_cascaded)
    if not generations:
        return 0
    Timer.objects.filter(execution_id__in=[eid for ids in generations for eid in ids]).delete()
    ended = 0
    for ids in reversed(generations):
        ended += _end_live(ids, status, reason, now)
    return ended


def live_descendants(
    execution_ids: list[str], *, through_cascaded: bool = False
) -> list[list[str]]:
    """The live children of these executions, then theirs, and so on: one list per generation.

    ``through_cascaded`` also looks below children that a cascade already canceled.
    """
    followed = Q(status__in=list(LIVE_STATUSES))
    if through_cascaded:
        followed |= Q(status=Status.CANCELED, cancel_reason__startswith=CASCADE_PREFIX)
    generations = []
    parents = list(execution_ids)
    while parents:
        rows = list(
            Executions.filter(followed, parent__in=parents).order_by().values_list("id", "status")
        )
        live = [eid for eid, status in rows if status in LIVE_STATUSES]
        if live:
            generations.append(live)
        parents = [eid for eid, _status in rows]
    return generations


def _end_live(ids: list[str], status: str, reason: str, now: dt.datetime) -> int:
    ended = Executions.filter(pk__in=ids, status__in=list(LIVE_STATUSES)).update(
        status=status,
        cancel_reason=dialect.storable_text(reason),
        finished_at=now,
        updated_at=now,
        lease_owner="",
        lease_expires_at=None,
    )
    runs.end_open_runs(ids, RunOutcome.CANCELED, reason)
    wake_waiters(ids, now)
    return ended


def lock_status(execution_id: str) -> str:
    status = (
        Executions.select_for_update()
        .filter(pk=execution_id)
        .values_list("status", flat=True)
        .first()
    )
    if status is None:
        raise ExecutionNotFound(execution_id)
    return status
