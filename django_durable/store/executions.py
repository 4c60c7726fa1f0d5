"""Executions: create them, renew, release and expire their leases, finish them.

Claiming lives in :mod:`.claims`, ending executions early (cancel, cascades, waking
waiters) in :mod:`.cascades`.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections

from .. import clock, dialect, step_ids, wakeups
from ..exceptions import ExecutionConflict, _Abort
from ..models import RunOutcome, Status, Timer, TimerKind, WorkflowExecution
from . import group_commit, runs
from .cascades import CASCADE_TIMED_OUT, end_descendants, wake_waiters
from .claims import TAKEOVER_GRACE
from .types import Lease

Executions = WorkflowExecution.objects


def create_execution(
    workflow_name: str,
    input_data: bytes,
    *,
    execution_id: str | None = None,
    timeout: float | None = None,
    owner: str | None = None,
    lease_seconds: float = 60.0,
    queue: str = "default",
    priority: int = 0,
) -> tuple[str, bool]:
    """Insert a new execution; return its id and whether it was created.

    A given ``execution_id`` makes the start idempotent: if it exists for the same workflow,
    nothing is written. With ``owner``, the execution starts already claimed by that owner.
    """
    execution_id = execution_id or str(uuid.uuid4())
    now = clock.now()
    row = pending_fields(execution_id, workflow_name, input_data, now, timeout, queue, priority)
    if owner:
        row.update(
            status=Status.RUNNING,
            lease_owner=owner,
            lease_epoch=1,
            lease_expires_at=now + dt.timedelta(seconds=lease_seconds),
            runs=1,
            started_at=now,
        )
    conn = connections[DEFAULT_DB_ALIAS]
    # Built before the transaction: on SQLite every writer waits while it is open.
    values = _row_values(conn, row)
    deadline = row["deadline_at"]
    try:
        if not (owner or deadline or conn.in_atomic_block):
            # The common start is one row and a wake-up: one statement in autocommit, where a
            # transaction took four round trips (and, on SQLite, held the write lock longer).
            dialect.execute_autocommit(conn, _start_sql(conn.vendor), values)
            wakeups.wake_at_commit()
            return execution_id, True
        with dialect.write_transaction(), conn.cursor() as cursor:
            cursor.execute(_insert_sql(conn.vendor), values)
            if owner:
                runs.open_runs(cursor, [(execution_id, 1)], owner, now)
            else:
                dialect.notify_wake()
            if deadline:
                Timer.objects.create(
                    execution_id=execution_id,
                    step_id=step_ids.WORKFLOW_TIMEOUT,
                    kind=TimerKind.WORKFLOW_TIMEOUT,
                    due_at=deadline,
                    created_at=now,
                )
    except IntegrityError:
        existing = (
            Executions.filter(pk=execution_id).values_list("workflow_name", flat=True).first()
        )
        if existing is None:
            raise
        if existing != workflow_name:
            raise ExecutionConflict(execution_id, existing, workflow_name) from None
        return execution_id, False
    return execution_id, True


_FIELDS = WorkflowExecution._meta.concrete_fields


def pending_fields(
    execution_id: str,
    workflow_name: str,
    input_data: bytes,
    now: dt.datetime,
    timeout: float | None,
    queue: str,
    priority: int,
    parent: str = "",
) -> dict:
    """The fields of a new pending execution that are not their defaults (a model's keyword
    arguments, or :func:`_row_values`')."""
    return {
        "id": execution_id,
        "workflow_name": workflow_name,
        "input": input_data,
        "created_at": now,
        "updated_at": now,
        "deadline_at": now + dt.timedelta(seconds=timeout) if timeout else None,
        "queue": queue,
        "priority": priority,
        "parent": parent,
    }


def _row_values(conn, fields: dict) -> list:
    """Every column's database value of a new row with these ``fields`` (attribute names),
    the other columns at their defaults.

    Only the given fields are converted: a model instance and all 34 columns' conversions
    were half of a start's CPU (~80 of 160 µs on PostgreSQL).
    """
    values = list(_default_values(conn.vendor))
    for name, value in fields.items():
        index, field = _FIELD_AT[name]
        values[index] = field.get_db_prep_save(value, conn)
    return values


_FIELD_AT = {field.attname: (index, field) for index, field in enumerate(_FIELDS)}


@functools.lru_cache(maxsize=4)
def _default_values(vendor: str) -> tuple:
    # Every default is a constant (no callable), so its converted value can be kept.
    row = WorkflowExecution()
    return tuple(
        field.get_db_prep_save(getattr(row, field.attname), connection) for field in _FIELDS
    )


@functools.lru_cache(maxsize=4)
def _insert_sql(vendor: str) -> str:
    q = connection.ops.quote_name
    columns = ", ".join(q(field.column) for field in _FIELDS)
    placeholders = ", ".join(["%s"] * len(_FIELDS))
    return f"INSERT INTO {q(WorkflowExecution._meta.db_table)} ({columns}) VALUES ({placeholders})"


@functools.lru_cache(maxsize=4)
def _start_sql(vendor: str) -> str:
    return dialect.insert_and_notify_wake_sql(_insert_sql(vendor))


_FINISH_COLUMNS = (
    "status",
    "result",
    "error_type",
    "root_error_type",
    "error_message",
    "error_traceback",
    "finished_at",
    "updated_at",
    "lease_owner",
    "lease_expires_at",
    "retry_step_id",
    "retry_attempts",
)


@functools.lru_cache(maxsize=8)
def _finish_sql(vendor: str, awaited: bool) -> tuple[str, str]:
    q = connection.ops.quote_name
    table = q(WorkflowExecution._meta.db_table)
    delete_timers = f"DELETE FROM {q(Timer._meta.db_table)} WHERE {q('execution_id')} = %s"
    update = (
        f"UPDATE {table} SET "
        + ", ".join(f"{q(column)} = %s" for column in _FINISH_COLUMNS)
        + f" WHERE {q('id')} = %s AND {q('lease_epoch')} = %s AND {q('status')} = %s"
    )
    if not awaited:
        # Nobody could wait for it when it was claimed; should someone have begun to since,
        # this changes nothing and the finish is made again, waking them.
        update += f" AND {q('awaited')} = %s"
    return delete_timers, update


def renew_leases(leases: list[Lease], lease_seconds: float) -> set[str]:
    """Extend the leases still held; return the ids of those that are."""
    if not leases:
        return set()
    owner = leases[0].owner
    wanted = {lease.execution_id: lease.epoch for lease in leases}
    current = Executions.filter(
        pk__in=list(wanted), lease_owner=owner, status=Status.RUNNING
    ).values_list("id", "lease_epoch")
    held = {eid for eid, epoch in current if wanted.get(eid) == epoch}
    if held:
        Executions.filter(pk__in=list(held), lease_owner=owner, status=Status.RUNNING).update(
            lease_expires_at=clock.now() + dt.timedelta(seconds=lease_seconds)
        )
    return held


def release(
    lease: Lease,
    after: float = 0.0,
    reason: str = "",
    outcome: RunOutcome = RunOutcome.HANDED_BACK,
) -> bool:
    """Give an execution back: runnable by anyone at once, or only ``after`` seconds.

    A delayed release keeps the execution ``RUNNING`` with a lease that ends then, so a run
    that keeps failing for the same reason is retried with a pause, not in a hot loop.
    ``reason`` and ``outcome`` go to the run log.
    """
    now = clock.now()
    if after > 0:
        changes = {"lease_expires_at": now + dt.timedelta(seconds=after)}
        reason = reason or f"runnable again in {after:g} s"
    else:
        changes = {"status": Status.PENDING, "lease_owner": "", "lease_expires_at": None}
    with dialect.write_transaction():
        released = bool(fenced(lease).update(updated_at=now, **changes))
        if released:
            runs.end_run(lease.execution_id, lease.epoch, outcome, detail=reason)
            if after <= 0:
                dialect.notify_wake()
    return released


def running_owners(suffix: str) -> list[str]:
    """Owners whose name ends with ``suffix`` that hold running executions."""
    return list(
        Executions.filter(
            status=Status.RUNNING,
            lease_owner__endswith=suffix,
            lease_expires_at__gt=clock.now(),
        )
        .order_by()  # the model's ordering would defeat DISTINCT
        .values_list("lease_owner", flat=True)
        .distinct()
    )


def expire_leases_of(owners: list[str]) -> int:
    """End the leases of owners known to be dead, so their executions are claimable now."""
    if not owners:
        return 0
    now = clock.now()
    with dialect.write_transaction():
        held = Executions.filter(
            status=Status.RUNNING, lease_owner__in=owners, lease_expires_at__gt=now
        )
        ids = list(held.values_list("id", flat=True))
        if not ids:
            return 0
        expired = Executions.filter(pk__in=ids, lease_owner__in=owners).update(
            lease_expires_at=now - TAKEOVER_GRACE - dt.timedelta(seconds=1)
        )
        runs.end_open_runs(ids, RunOutcome.WORKER_DIED, "its worker process is gone")
    return expired


def fenced(lease: Lease):
    return Executions.filter(pk=lease.execution_id, lease_epoch=lease.epoch, status=Status.RUNNING)


def finish(
    lease: Lease,
    status: str,
    *,
    result: bytes | None = None,
    error_type: str = "",
    error_message: str = "",
    error_traceback: str = "",
    root_error_type: str = "",
    may_have_timers: bool = True,
) -> None:
    """End a run's execution with a final status; ``_Abort`` if the lease is gone.

    ``root_error_type`` is the type of the error at the root of a failure (a failed step's
    own error, where the workflow raised ``StepFailed``); it defaults to ``error_type``.

    Its timers go first: every transaction that touches both takes timer rows before the
    execution row (as the scheduler does), so that none of them can deadlock another.
    ``may_have_timers=False`` skips that delete, for a run that knows there are none.
    """
    conn = connections[DEFAULT_DB_ALIAS]
    moment = clock.now()
    now = conn.ops.adapt_datetimefield_value(moment)
    values = (
        str(status),
        result,
        dialect.storable_text(error_type)[:255],
        dialect.storable_text(root_error_type or error_type)[:255],
        dialect.storable_text(error_message),
        dialect.storable_text(error_traceback),
        now,
        now,
        "",
        None,
        "",
        0,
    )
    detail = f"{error_type}: {error_message}"[:1000] if error_type else ""
    if not (lease.awaited or may_have_timers or status == Status.TIMED_OUT) and _finish_at_once(
        lease, values, str(status), detail, moment
    ):
        return

    def body() -> None:
        # Under group commit, run by the batch's leader on its own connection.
        conn = connections[DEFAULT_DB_ALIAS]
        awaited = lease.awaited
        with dialect.statement_cursor(conn) as cursor:
            delete_timers, update = _finish_sql(conn.vendor, awaited)
            if may_have_timers:
                cursor.execute(delete_timers, [lease.execution_id])
            if status == Status.TIMED_OUT:
                # Children first (rows are locked child before parent), as a timer's timeout
                # does.
                end_descendants([lease.execution_id], Status.CANCELED, CASCADE_TIMED_OUT, moment)
            fence = [lease.execution_id, lease.epoch, Status.RUNNING.value]
            cursor.execute(update, [*values, *fence] if awaited else [*values, *fence, False])
            if cursor.rowcount != 1 and not awaited and fenced(lease).filter(awaited=True).exists():
                awaited = True
                cursor.execute(_finish_sql(conn.vendor, True)[1], [*values, *fence])
            if cursor.rowcount != 1:
                raise _Abort("lease lost before the run could finish")
            if awaited:
                # After the execution's own row: rows are locked child before parent.
                wake_waiters([lease.execution_id], moment)
            runs.close_run(
                cursor, lease.execution_id, lease.epoch, str(status), detail=detail, now=moment
            )

    group_commit.write(body)


def _finish_at_once(lease: Lease, values: tuple, status: str, detail: str, moment) -> bool:
    """The finish of a run that has no timers and no waiter, in one statement (PostgreSQL).

    False where the database cannot, or when it changed nothing: the general finish then
    tells a lost lease from a waiter that came since the claim.
    """
    conn = connections[DEFAULT_DB_ALIAS]
    sql = dialect.update_then_update_sql(_finish_sql(conn.vendor, False)[1], runs.close_sql())
    if sql is None:
        return False  # before building any parameter: every finish elsewhere comes this way
    _close, close_params = runs.closing_statement(
        lease.execution_id, lease.epoch, status, detail=detail, now=moment
    )
    fence = [lease.execution_id, lease.epoch, Status.RUNNING.value, False]
    with dialect.statement_cursor(conn) as cursor:
        cursor.execute(sql, [*values, *fence, *close_params])
        return cursor.fetchone()[0] == 1


def has_scheduled_executions(workflow_name: str) -> bool:
    """Whether any execution was ever started for a tick of this workflow's schedule."""
    return Executions.filter(
        workflow_name=workflow_name, pk__startswith=f"{workflow_name}@"
    ).exists()
