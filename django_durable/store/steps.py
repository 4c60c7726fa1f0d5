"""Steps: load an execution's record in one query; record a step with one fenced insert."""

from __future__ import annotations

import datetime as dt

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections

from .. import clock, dialect
from ..exceptions import _Abort
from ..models import Status, StepResult, StepStatus, WorkflowExecution
from .executions import fenced
from .types import Lease, RecordedStep, StepConflict

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
    adapt_datetime = conn.ops.adapt_datetimefield_value
    failed = step.status != StepStatus.COMPLETED
    params = [
        lease.execution_id,
        step.step_id,
        step.name,
        step.status,
        step.result,  # bytes: every driver stores them as a blob / bytea as they are
        dialect.storable_text(step.error_type)[:255] if failed else "",
        dialect.storable_text(step.error_message) if failed else "",
        dialect.storable_text(step.error_traceback) if failed else "",
        step.attempts,
        adapt_datetime(started_at),
        adapt_datetime(clock.now()),
        dialect.storable_text(step.arguments) if step.arguments else "",
        lease.execution_id,
        lease.epoch,
        Status.RUNNING.value,
    ]
    sql = dialect.fenced_insert_sql(
        StepResult._meta.db_table, WorkflowExecution._meta.db_table, _STEP_COLUMNS
    )
    try:
        with dialect.statement_cursor(conn) as cursor:
            if conn.in_atomic_block:
                # A failed INSERT must not poison the caller's transaction (PostgreSQL).
                with dialect.write_transaction():
                    cursor.execute(sql, params)
            else:
                with dialect.sqlite_write_turn():
                    cursor.execute(sql, params)
            inserted = cursor.rowcount
    except IntegrityError:
        raise StepConflict(step.step_id) from None
    if inserted != 1:
        raise _Abort("lease lost: the step's result was not recorded")


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
