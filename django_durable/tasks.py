"""A backend for Django's task framework: each task runs as a durable execution.

``TASKS = {"default": {"BACKEND": "django_durable.tasks.DurableBackend"}}`` makes
``my_task.enqueue(...)`` start an execution of the ``django.tasks`` workflow (one step that
calls the task), run by ``durable_worker`` like any workflow: it survives a killed worker,
honours ``run_after`` with a timer, and maps ``priority`` and ``queue_name`` onto the
engine's queues. Django 6's ``django.tasks`` is used where it exists; on Django 5.2, the
``django-tasks`` backport (``pip install "django-durable[tasks]"``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connection
from django.utils import timezone
from django.utils.module_loading import import_string

try:  # Django 6.0 and later
    from django.tasks import Task, TaskContext, TaskResult, TaskResultStatus
    from django.tasks.backends.base import BaseTaskBackend
    from django.tasks.base import TaskError
    from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist
    from django.tasks.signals import task_enqueued, task_finished, task_started
    from django.utils.json import normalize_json
except ImportError:  # Django 5.2 with the backport
    try:
        from django_tasks.backends.base import BaseTaskBackend
        from django_tasks.base import Task, TaskContext, TaskError, TaskResult, TaskResultStatus
        from django_tasks.exceptions import InvalidTaskError as InvalidTask
        from django_tasks.exceptions import TaskResultDoesNotExist
        from django_tasks.signals import task_enqueued, task_finished, task_started
        from django_tasks.utils import normalize_json
    except ImportError as exc:
        raise ImproperlyConfigured(
            "django_durable.tasks.DurableBackend needs Django's task framework: Django 6, or "
            'on Django 5.2 the backport (pip install "django-durable[tasks]")'
        ) from exc

from . import queues
from .api import start_workflow_with
from .exceptions import SerializationError, UnknownQueue
from .models import FINAL_STATUSES, RunOutcome, Status, StepResult, WorkflowExecution, WorkflowRun
from .serialization import loads
from .task_runner import TASK_STEP, TASK_WORKFLOW, ensure_registered

__all__ = ["DurableBackend"]

_STATUS = {
    Status.PENDING: TaskResultStatus.READY,
    Status.SLEEPING: TaskResultStatus.READY,  # waiting for run_after
    Status.RUNNING: TaskResultStatus.RUNNING,
    Status.WAITING: TaskResultStatus.RUNNING,
    Status.COMPLETED: TaskResultStatus.SUCCESSFUL,
    Status.FAILED: TaskResultStatus.FAILED,
    Status.CANCELED: TaskResultStatus.FAILED,
    Status.TIMED_OUT: TaskResultStatus.FAILED,
}
_ERROR_OF_STATUS = {
    Status.CANCELED: "django_durable.exceptions.ExecutionCanceled",
    Status.TIMED_OUT: "django_durable.exceptions.WorkflowTimeout",
}


class DurableBackend(BaseTaskBackend):
    """Run ``django.tasks`` tasks as durable executions, in ``durable_worker``.

    ``QUEUES`` (default ``["default"]``) lists the queue names tasks may use; each must be a
    queue of the engine (``"default"`` or one declared in ``DURABLE_QUEUES``), whose limits
    then apply to the tasks on it. Django's priorities (-100 to 100, higher first) order the
    queue like the engine's (lower first): a task of priority 10 is claimed before one of 0.
    """

    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True

    def __init__(self, alias: str, params: dict) -> None:
        super().__init__(alias, params)
        ensure_registered()

    def validate_task(self, task: Task) -> None:
        super().validate_task(task)
        try:
            queues.check_queue(task.queue_name)
        except UnknownQueue as exc:
            raise InvalidTask(str(exc)) from None

    def enqueue(self, task: Task, args: Any, kwargs: Any) -> TaskResult:
        """Start the task's execution; inside ``transaction.atomic()``, visible at commit."""
        self.validate_task(task)
        try:
            args, kwargs = normalize_json(list(args)), normalize_json(dict(kwargs))
        except (TypeError, ValueError) as exc:
            raise SerializationError(
                f"cannot enqueue task {task.module_path!r}: its arguments must be JSON values "
                f"(str, int, float, bool, None, lists and dicts of them), as django.tasks "
                f"requires; {exc}"
            ) from None
        inputs = {
            "task": task.module_path,
            "args": args,
            "kwargs": kwargs,
            "backend": self.alias,
            "run_after": task.run_after,
        }
        execution_id = start_workflow_with(
            TASK_WORKFLOW, inputs, queue=task.queue_name, priority=-task.priority
        )
        result = TaskResult(
            task=task,
            id=execution_id,
            status=TaskResultStatus.READY,
            enqueued_at=timezone.now(),
            started_at=None,
            finished_at=None,
            last_attempted_at=None,
            args=args,
            kwargs=kwargs,
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        task_enqueued.send(type(self), task_result=result)
        return result

    def get_result(self, result_id: str) -> TaskResult:
        """The task's state as stored: status, return value, errors, attempts."""
        row = (
            WorkflowExecution.objects.filter(pk=result_id, workflow_name=TASK_WORKFLOW).first()
            if isinstance(result_id, str)
            else None
        )
        if row is None:
            raise TaskResultDoesNotExist(result_id)
        return _result_of(row, self.alias)

    def check(self, **kwargs: Any) -> Iterable[checks.CheckMessage]:
        yield from super().check(**kwargs)
        if "django_durable" not in getattr(settings, "INSTALLED_APPS", []):
            yield checks.Error(
                f"TASKS[{self.alias!r}] uses DurableBackend, but 'django_durable' is not in "
                "INSTALLED_APPS",
                hint="Add 'django_durable' to INSTALLED_APPS and run migrate.",
                id="django_durable.E006",
            )
        try:
            declared = queues.configured()
        except queues.QueueSettingError:
            return  # reported by the engine's own check (E004)
        for name in sorted(self.queues):
            if name not in declared:
                yield checks.Error(
                    f"TASKS[{self.alias!r}]['QUEUES'] names {name!r}, which DURABLE_QUEUES "
                    "does not declare",
                    hint=f'Add "{name}": {{}} (or its limits) to DURABLE_QUEUES.',
                    id="django_durable.E007",
                )


def _result_of(row: WorkflowExecution, alias: str) -> TaskResult:
    inputs = loads(row.input)
    task = _task_at(inputs["task"]).using(
        priority=-row.priority,
        queue_name=row.queue,
        run_after=inputs.get("run_after"),
        backend=alias,
    )
    # Runs that only waited for run_after never called the task: not attempts.
    runs = list(
        WorkflowRun.objects.filter(execution_id=row.pk)
        .exclude(outcome__in=[RunOutcome.SLEEPING, RunOutcome.HANDED_BACK])
        .order_by("epoch")
        .values_list("worker", "started_at")
    )
    result = TaskResult(
        task=task,
        id=row.pk,
        status=_STATUS[row.status],
        enqueued_at=row.created_at,
        started_at=runs[0][1] if runs else None,
        finished_at=row.finished_at if row.status in FINAL_STATUSES else None,
        last_attempted_at=runs[-1][1] if runs else None,
        args=inputs["args"],
        kwargs=inputs["kwargs"],
        backend=alias,
        errors=_errors_of(row),
        worker_ids=[worker for worker, _started in runs],
    )
    if row.status == Status.COMPLETED:
        object.__setattr__(result, "_return_value", loads(row.result))
    return result


def _errors_of(row: WorkflowExecution) -> list:
    if row.status not in _ERROR_OF_STATUS and row.status != Status.FAILED:
        return []
    if row.status in _ERROR_OF_STATUS:
        detail = row.cancel_reason or row.error_message
        return [TaskError(exception_class_path=_ERROR_OF_STATUS[row.status], traceback=detail)]
    step = (
        StepResult.objects.filter(execution_id=row.pk, step_id=TASK_STEP)
        .values_list("error_type", "error_traceback")
        .first()
    )
    error_type, trace = step if step and step[0] else (row.error_type, row.error_traceback)
    return [TaskError(exception_class_path=error_type, traceback=trace)]


def _task_at(path: str) -> Task:
    task = import_string(path)
    if not isinstance(task, Task):
        raise TypeError(f"{path} is not a task (decorate it with @task)")
    return task


def call_task(execution_id: str, path: str, args: list, kwargs: dict, alias: str) -> Any:
    """Call the task in a worker (the one step of its execution) and return its value."""
    task = _task_at(path)
    row = WorkflowExecution.objects.get(pk=execution_id)
    running = dataclasses.replace(
        _result_of(row, alias), status=TaskResultStatus.RUNNING, last_attempted_at=timezone.now()
    )
    task_started.send(DurableBackend, task_result=running)
    try:
        if task.takes_context:
            value = task.call(TaskContext(task_result=running), *args, **kwargs)
        else:
            value = task.call(*args, **kwargs)
        try:
            value = normalize_json(value)
        except (TypeError, ValueError) as exc:
            raise SerializationError(
                f"the return value of task {path!r} must be a JSON value, as django.tasks "
                f"requires; {exc}"
            ) from None
    except BaseException as error:
        if _connection_lost(error):
            # Its failure cannot be recorded: the run stops and the task runs again later,
            # so it has not finished.
            raise
        failed = dataclasses.replace(
            running,
            status=TaskResultStatus.FAILED,
            finished_at=timezone.now(),
            errors=[*running.errors, TaskError(exception_class_path=_path(error), traceback="")],
        )
        task_finished.send(DurableBackend, task_result=failed)
        raise
    done = dataclasses.replace(
        running, status=TaskResultStatus.SUCCESSFUL, finished_at=timezone.now()
    )
    object.__setattr__(done, "_return_value", value)
    task_finished.send(DurableBackend, task_result=done)
    return value


def _connection_lost(error: BaseException) -> bool:
    # The driver's own error too: closing a cursor on a dead MySQL connection raises one
    # that Django does not wrap.
    if not isinstance(error, (DatabaseError, connection.Database.Error)):
        return False
    return connection.connection is None or not connection.is_usable()


def _path(error: BaseException) -> str:
    return f"{type(error).__module__}.{type(error).__qualname__}"
