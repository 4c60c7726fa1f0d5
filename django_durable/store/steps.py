"""Steps: load an execution's record in one query; record a step with one fenced insert."""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, connection
from django.utils import timezone

from .. import dialect
from ..exceptions import _Abort
from ..models import Status, StepResult, WorkflowExecution
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
]


def load_steps(execution_id: str, step_id: str | None = None) -> dict[str, RecordedStep]:
    """Every recorded step of an execution (or the one ``step_id``), by id, in one query."""
    rows = StepResult.objects.filter(execution_id=execution_id)
    if step_id is not None:
        rows = rows.filter(step_id=step_id)
    return {
        row[0]: RecordedStep(
            row[0], row[1], row[2], None if row[3] is None else bytes(row[3]), *row[4:]
        )
        for row in rows.values_list(
            "step_id",
            "name",
            "status",
            "result",
            "error_type",
            "error_message",
            "error_traceback",
            "attempts",
        )
    }


def record_step(lease: Lease, step: RecordedStep, started_at: dt.datetime) -> None:
    """Record a step's outcome with one fenced ``INSERT … SELECT``.

    Raises ``_Abort`` when the lease no longer holds and :class:`StepConflict` when the step
    id is already recorded.
    """
    values = {
        "execution_id": lease.execution_id,
        "step_id": step.step_id,
        "name": step.name,
        "status": step.status,
        "result": step.result,
        "error_type": dialect.storable_text(step.error_type)[:255],
        "error_message": dialect.storable_text(step.error_message),
        "error_traceback": dialect.storable_text(step.error_traceback),
        "attempts": step.attempts,
        "started_at": started_at,
        "finished_at": timezone.now(),
    }
    params = [_db_value(StepResult, column, values[column]) for column in _STEP_COLUMNS]
    params += [lease.execution_id, lease.epoch, Status.RUNNING.value]
    sql = dialect.fenced_insert_sql(
        StepResult._meta.db_table, WorkflowExecution._meta.db_table, _STEP_COLUMNS
    )
    try:
        with connection.cursor() as cursor:
            if connection.in_atomic_block:
                # A failed INSERT must not poison the caller's transaction (PostgreSQL).
                with dialect.write_transaction():
                    cursor.execute(sql, params)
            else:
                cursor.execute(sql, params)
            inserted = cursor.rowcount
    except IntegrityError:
        raise StepConflict(step.step_id) from None
    if inserted != 1:
        raise _Abort("lease lost: the step's result was not recorded")


_FIELD_BY_COLUMN: dict[tuple[type, str], object] = {}


def _db_value(model, column: str, value):
    key = (model, column)
    field = _FIELD_BY_COLUMN.get(key)
    if field is None:
        field = next(f for f in model._meta.concrete_fields if f.column == column)
        _FIELD_BY_COLUMN[key] = field
    return field.get_db_prep_value(value, connection)


def record_failed_attempt(lease: Lease, step_id: str, attempts: int) -> None:
    """Remember how many attempts of a step failed, so the count survives a crash."""
    if not fenced(lease).update(retry_step_id=step_id, retry_attempts=attempts):
        raise _Abort("lease lost while retrying a step")
