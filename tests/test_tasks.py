"""django.tasks through DurableBackend: enqueue, run by a worker, results, errors, checks."""

import datetime as dt

import pytest
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone

from django_durable import store
from django_durable.exceptions import SerializationError
from django_durable.models import Status, WorkflowExecution
from django_durable.task_runner import TASK_WORKFLOW
from django_durable.tasks import InvalidTask, TaskResultDoesNotExist, TaskResultStatus
from django_durable.testing import reset_clock, run_until_idle
from tests.conftest import run_burst
from tests.testapp import tasks

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def real_clock():
    yield
    reset_clock()


def test_an_enqueued_task_runs_as_a_durable_execution_and_its_result_is_readable():
    result = tasks.add.enqueue(2, b=3)
    assert result.status == TaskResultStatus.READY
    row = WorkflowExecution.objects.get(pk=result.id)
    assert (row.workflow_name, row.status) == (TASK_WORKFLOW, Status.PENDING)
    run_burst()
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 5
    assert result.args == [2] and result.kwargs == {"b": 3}
    assert result.attempts == 1 and result.started_at and result.finished_at
    assert tasks.add.get_result(result.id).return_value == 5


def test_an_enqueue_in_a_rolled_back_transaction_leaves_nothing():
    with pytest.raises(RuntimeError), transaction.atomic():
        tasks.add.enqueue(1, 1)
        raise RuntimeError("roll back")
    assert not WorkflowExecution.objects.exists()
    with transaction.atomic():
        result = tasks.add.enqueue(1, 1)
    assert WorkflowExecution.objects.filter(pk=result.id).exists()


def test_a_failed_task_reports_its_exception_class_and_traceback():
    result = tasks.fails.enqueue("no luck")
    run_burst()
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    (error,) = result.errors
    assert error.exception_class is ValueError
    assert "no luck" in error.traceback and "Traceback" in error.traceback
    with pytest.raises(ValueError, match="Task failed"):
        _ = result.return_value


def test_run_after_waits_on_a_timer_and_runs_then():
    when = timezone.now() + dt.timedelta(hours=2)
    result = tasks.add.using(run_after=when).enqueue(1, 2)
    run_burst()
    result.refresh()
    assert result.status == TaskResultStatus.READY  # asleep until then, not attempted
    assert WorkflowExecution.objects.get(pk=result.id).status == Status.SLEEPING
    run_until_idle()  # the virtual clock passes the two hours
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL and result.attempts == 1
    assert result.started_at >= when


def test_a_higher_django_priority_is_claimed_first():
    low = tasks.add.enqueue(1, 1)
    high = tasks.urgent.enqueue(7)
    negative = tasks.add.using(priority=-50).enqueue(2, 2)
    order = [store.claim("test-owner", 1, 60)[0].lease.execution_id for _ in range(3)]
    assert order == [high.id, low.id, negative.id]


def test_queue_names_map_onto_the_engine_queues():
    result = tasks.send_email.enqueue("ada@example.com")
    assert WorkflowExecution.objects.get(pk=result.id).queue == "emails"
    with pytest.raises(InvalidTask, match="Queue 'limited' is not valid for backend"):
        tasks.add.using(queue_name="limited").enqueue(1, 1)


def test_arguments_that_are_not_json_get_a_clear_error_and_write_nothing():
    with pytest.raises(SerializationError, match=r"cannot enqueue task 'tests.testapp.tasks.add'"):
        tasks.add.enqueue(dt.date(2026, 1, 1), 1)
    with pytest.raises(SerializationError, match="must be JSON values"):
        tasks.add.enqueue(object(), 1)
    assert not WorkflowExecution.objects.exists()


def test_a_return_value_that_is_not_json_fails_the_task_with_a_clear_error():
    result = tasks.returns_a_set.enqueue()
    run_burst()
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class is SerializationError
    assert "must be a JSON value" in result.errors[0].traceback


def test_a_task_with_context_sees_its_attempt_and_id():
    result = tasks.knows_its_attempt.enqueue("x")
    run_burst()
    result.refresh()
    assert result.return_value == {"attempt": 1, "id": result.id, "name": "x"}


@pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="a SQLite connection does not die (is_usable is always true)",
)
def test_a_task_whose_connection_dies_runs_again_as_its_second_attempt():
    from django_durable.models import RunOutcome, WorkflowRun
    from django_durable.tasks import task_finished

    finished = []

    def on_finished(sender, task_result, **kwargs):
        finished.append(task_result.status)

    task_finished.connect(on_finished)
    tasks.CONNECTION_KILLS["left"] = 1
    try:
        result = tasks.loses_its_connection.enqueue()
        run_burst()
        # The run stopped (its failure could not be recorded): not a failed task, and not
        # finished; it is handed back with a pause, which the test skips.
        (first,) = WorkflowRun.objects.filter(execution_id=result.id)
        assert first.outcome == RunOutcome.ABORTED
        assert finished == []
        WorkflowExecution.objects.filter(pk=result.id).update(
            lease_expires_at=timezone.now() - store.TAKEOVER_GRACE
        )
        run_burst()
    finally:
        task_finished.disconnect(on_finished)
        tasks.CONNECTION_KILLS["left"] = 0
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 2  # the run that stopped was its first attempt
    assert result.attempts == 2
    assert finished == [TaskResultStatus.SUCCESSFUL]


def test_an_async_task_runs_to_completion_in_the_worker():
    result = tasks.doubles_later.enqueue(21)
    run_burst()
    result.refresh()
    assert result.return_value == 42


def test_a_canceled_task_fails_with_a_canceled_error():
    from django_durable import cancel_workflow

    result = tasks.add.using(run_after=timezone.now() + dt.timedelta(hours=1)).enqueue(1, 1)
    cancel_workflow(result.id, "not needed")
    result.refresh()
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class_path == "django_durable.exceptions.ExecutionCanceled"


def test_unknown_result_ids_do_not_exist():
    with pytest.raises(TaskResultDoesNotExist):
        tasks.add.get_backend().get_result("missing")
    other = WorkflowExecution.objects.create(
        id="not-a-task",
        workflow_name="add",
        input=b"\x80",
        created_at=timezone.now(),
        updated_at=timezone.now(),
    )
    with pytest.raises(TaskResultDoesNotExist):
        tasks.add.get_backend().get_result(other.id)


def test_the_system_checks_report_queues_the_engine_does_not_declare():
    from django_durable.tasks import DurableBackend

    backend = DurableBackend("other", {"QUEUES": ["default", "nightly"]})
    errors = list(backend.check())
    assert [error.id for error in errors] == ["django_durable.E007"]
    assert "'nightly'" in errors[0].msg
    with override_settings(INSTALLED_APPS=["django.contrib.contenttypes"]):
        ids = [error.id for error in DurableBackend("x", {}).check()]
    assert "django_durable.E006" in ids
