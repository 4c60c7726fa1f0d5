"""Steps: load an execution's record in one query; record a step with one fenced insert
(on SQLite, committed together with other threads' writes that come at once:
:mod:`.group_commit`)."""

from __future__ import annotations

import datetime as dt
import functools

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections

from .. import clock, dialect
from ..exceptions import _Abort
from ..models import Status, StepResult, StepStatus, WorkflowExecution
from . import group_commit
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
        dialect.adapt_datetime(conn, started_at),
        dialect.adapt_datetime(conn, clock.now()),
        dialect.storable_text(step.arguments) if step.arguments else "",
        lease.execution_id,
        lease.epoch,
        _RUNNING,
    ]

    def alone() -> int:
        if conn.in_atomic_block:
            # A failed INSERT must not poison the caller's transaction (PostgreSQL).
            with dialect.write_transaction():
                return _insert(params)
        return dialect.execute_autocommit(conn, _insert_sql(conn.vendor), params)

    try:
        # One statement: a failed insert undoes itself, and needs no savepoint.
        inserted = group_commit.write(lambda: _insert(params), alone, savepoint=False)
    except IntegrityError:
        raise StepConflict(step.step_id) from None
    if inserted != 1:
        raise _Abort("lease lost: the step's result was not recorded")


def _insert(params: list) -> int:
    # The connection of the thread that runs it: under group commit, the batch's leader.
    conn = connections[DEFAULT_DB_ALIAS]
    with dialect.statement_cursor(conn) as cursor:
        cursor.execute(_insert_sql(conn.vendor), params)
        return cursor.rowcount


@functools.lru_cache(maxsize=4)
def _insert_sql(vendor: str) -> str:
    return dialect.fenced_insert_sql(
        StepResult._meta.db_table, WorkflowExecution._meta.db_table, _STEP_COLUMNS
    )


_RUNNING = Status.RUNNING.value


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
