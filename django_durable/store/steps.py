"""Steps: load an execution's record in one query; record a step with one fenced insert
(on SQLite, committed together with other threads' writes that come at once:
:mod:`.group_commit`)."""

from __future__ import annotations

import datetime as dt
import functools

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections

from .. import clock, dialect
from ..exceptions import StepConflict, _Abort
from ..models import Status, StepResult, StepStatus, WorkflowExecution
from . import group_commit
from .executions import fenced
from .types import Lease, RecordedStep

_STEP_COLUMNS = [
    "execution_id",
    "step_id",
    "name",
    "status",
    "result",
    "error_type",
    "error_message",
    "error_traceback",
    "attempts",
    "started_at",
    "finished_at",
    "arguments",
]
# The columns of a RecordedStep, in its field order.
_RECORD_COLUMNS = _STEP_COLUMNS[1:9]


def load_steps(execution_id: str, step_id: str | None = None) -> dict[str, RecordedStep]:
    """Every recorded step of an execution (or the one ``step_id``), by id, in one query."""
    rows = StepResult.objects.filter(execution_id=execution_id)
    if step_id is not None:
        rows = rows.filter(step_id=step_id)
    return {
        row[0]: RecordedStep(
            row[0], row[1], row[2], None if row[3] is None else bytes(row[3]), *row[4:]
        )
        for row in rows.values_list(*_RECORD_COLUMNS)
    }


def record_step(lease: Lease, step: RecordedStep, started_at: dt.datetime) -> None:
    """Record a step's outcome with one fenced ``INSERT … SELECT``.

    Raises ``_Abort`` when the lease no longer holds and :class:`StepConflict` when the step
    id is already recorded.
    """
    conn = connections[DEFAULT_DB_ALIAS]  # once: the proxy costs a lookup per attribute
    # In _STEP_COLUMNS' order, without those the statement fills itself (see _insert_sql).
    params = [step.step_id, step.name, step.result]  # bytes: stored as they are everywhere
    if step.status == StepStatus.FAILED:
        params += [
            dialect.storable_text(step.error_type)[:255],
            dialect.storable_text(step.error_message),
            dialect.storable_text(step.error_traceback),
        ]
    params += [
        step.attempts,
        dialect.adapt_datetime(conn, started_at),
        dialect.adapt_datetime(conn, clock.now()),
        dialect.storable_text(step.arguments) if step.arguments else "",
        lease.execution_id,
        lease.epoch,
    ]
    sql = _insert_sql(conn.vendor, str(step.status))

    def alone() -> int:
        if conn.in_atomic_block:
            # A failed INSERT must not poison the caller's transaction (PostgreSQL).
            with dialect.write_transaction():
                return _insert(sql, params)
        return dialect.execute_autocommit(conn, sql, params)

    try:
        # One statement: a failed insert undoes itself, and needs no savepoint.
        inserted = group_commit.write(
            lambda: _insert(sql, params), alone, savepoint=False, conn=conn
        )
    except IntegrityError:
        raise StepConflict(step.step_id) from None
    if inserted != 1:
        raise _Abort("lease lost: the step's result was not recorded")


def _insert(sql: str, params: list) -> int:
    # The connection of the thread that runs it: under group commit, the batch's leader.
    conn = connections[DEFAULT_DB_ALIAS]
    with dialect.statement_cursor(conn) as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


# What a step's row holds that its outcome fixes: written into the statement, not sent.
_FIXED_BY_STATUS = {
    StepStatus.COMPLETED.value: {
        "status": StepStatus.COMPLETED.value,
        "error_type": "",
        "error_message": "",
        "error_traceback": "",
    },
    StepStatus.FAILED.value: {"status": StepStatus.FAILED.value},
}


@functools.lru_cache(maxsize=8)
def _insert_sql(vendor: str, status: str) -> str:
    """``INSERT … SELECT`` that writes a step only while the run's lease still holds.

    The ``SELECT`` reads the execution row by id, epoch and status in the same statement as
    the insert, so fencing costs no extra round trip. Where the database can, the row is
    share-locked: a concurrent claim (an ``UPDATE`` of that row) then either happened before
    and is seen, or waits until this insert commits.

    The execution's id comes from the row read and the columns the outcome fixes are written
    into the statement: the parameters are the other columns' values, then the execution's
    id and epoch. Each one fewer is one the driver and the server do not convert at each step.
    """
    q = connection.ops.quote_name
    fixed = _FIXED_BY_STATUS[status]

    def value(column: str) -> str:
        if column == "execution_id":
            return q("id")
        return dialect.string_literal(fixed[column]) if column in fixed else "%s"

    return (
        f"INSERT INTO {q(StepResult._meta.db_table)} ({', '.join(q(c) for c in _STEP_COLUMNS)}) "
        f"SELECT {', '.join(value(c) for c in _STEP_COLUMNS)} "
        f"FROM {q(WorkflowExecution._meta.db_table)} "
        f"WHERE {q('id')} = %s AND {q('lease_epoch')} = %s "
        f"AND {q('status')} = {dialect.string_literal(Status.RUNNING.value)}"
        f"{dialect.share_lock_clause()}"
    )


def record_failed_attempt(
    lease: Lease,
    step_id: str,
    attempts: int,
    max_attempts: int = 0,
    error: tuple[str, str, str] = ("", "", ""),
) -> None:
    """Remember a step's failed attempts and the last one's error (type, message, traceback).

    The count survives a crash; the error is what people see while the step waits for its
    next attempt.
    """
    error_type, message, trace = error
    if not fenced(lease).update(
        retry_step_id=step_id,
        retry_attempts=attempts,
        retry_max_attempts=max_attempts,
        retry_error_type=dialect.storable_text(error_type)[:255],
        retry_error_message=dialect.storable_text(message),
        retry_error_traceback=dialect.storable_text(trace),
    ):
        raise _Abort("lease lost while retrying a step")
