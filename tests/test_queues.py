"""Queues in one process: priorities, workers that serve some queues, the rate limit."""

import datetime as dt
import json
import threading

import pytest
from django.test import override_settings

from django_durable import get_workflow, start_workflow, store
from django_durable.checks import check_queues
from django_durable.models import Status, WorkflowExecution
from django_durable.registry import register
from django_durable.worker import Worker
from tests.conftest import manage, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

QUEUES = {"limited": {}, "emails": {}, "rated": {}}


def test_pending_executions_are_claimed_by_priority_then_age():
    ids = {
        priority: start_workflow("add", priority=priority, a=1, b=priority)
        for priority in (5, -1, 0, 3)
    }
    late = start_workflow("add", priority=-1, a=2, b=2)
    order = [store.claim("test-owner", 1, 60)[0].lease.execution_id for _ in range(5)]
    assert order == [ids[-1], late, ids[0], ids[3], ids[5]]


def test_a_workflow_registered_on_a_queue_goes_there_unless_the_start_says_otherwise():
    on_its_queue = start_workflow("queued_work", seconds=0)
    moved = start_workflow("queued_work", queue="emails", seconds=0)
    rows = dict(WorkflowExecution.objects.values_list("id", "queue"))
    assert rows == {on_its_queue: "limited", moved: "emails"}


def test_a_worker_serving_some_queues_leaves_the_others_alone():
    email = start_workflow("add", queue="emails", a=1, b=1)
    default = start_workflow("add", a=2, b=2)
    Worker(threads=2, burst=True, queues=["emails"]).run()
    assert get_workflow(email).status == Status.COMPLETED
    assert get_workflow(default).status == Status.PENDING
    Worker(threads=2, burst=True).run()
    assert get_workflow(default).status == Status.COMPLETED


def test_the_rate_limit_lets_at_most_count_executions_start_per_period():
    limits = {**QUEUES, "rated": {"rate_limit": (3, 1.5)}}
    with override_settings(DURABLE_QUEUES=limits):
        ids = [start_workflow("add", queue="rated", a=k, b=k) for k in range(9)]
        worker = Worker(threads=4)
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        try:
            wait_for(
                lambda: (
                    WorkflowExecution.objects.filter(pk__in=ids, status=Status.COMPLETED).count()
                    == 9
                ),
                timeout=30,
                message="every rated execution to complete",
            )
        finally:
            worker.stop()
            thread.join(30)
    starts = sorted(
        WorkflowExecution.objects.filter(pk__in=ids).values_list("started_at", flat=True)
    )
    # Any four consecutive starts span at least the period: never 4 in 1.5 s.
    gaps = [starts[k + 3] - starts[k] for k in range(len(starts) - 3)]
    assert min(gaps) >= dt.timedelta(seconds=1.5), gaps


def test_the_system_checks_report_a_workflow_on_an_undeclared_queue(monkeypatch):
    definition = register.workflows["queued_work"]
    monkeypatch.setitem(
        register.workflows,
        "queued_work",
        definition.__class__(**{**vars(definition), "queue": "ghost"}),
    )
    (error,) = check_queues()
    assert error.id == "django_durable.E005"
    assert "workflow 'queued_work' is registered on queue 'ghost'" in error.msg


def test_durable_start_puts_an_execution_on_a_queue_with_a_priority():
    result = manage(
        "durable_start",
        "add",
        "--queue",
        "emails",
        "--priority",
        "-3",
        "--input",
        '{"a": 1, "b": 2}',
    )
    assert result.returncode == 0, result.stderr
    row = WorkflowExecution.objects.get(pk=result.stdout.strip().splitlines()[-1])
    assert (row.queue, row.priority) == ("emails", -3)


def test_queue_limits_reach_worker_subprocesses_through_the_test_settings():
    # The acceptance tests set limits in worker processes this way (DURABLE_TEST_QUEUES).
    result = manage(
        "shell",
        "-c",
        "from django_durable.queues import limited; print(limited())",
        env={"DURABLE_TEST_QUEUES": json.dumps({"limited": {"concurrency": 3}})},
    )
    assert "QueueLimit(name='limited', concurrency=3" in result.stdout, result.stderr


def test_get_workflow_and_status_json_show_queue_priority_and_parent():
    eid = start_workflow("starts_child", child_queue="emails")
    Worker(threads=1, burst=True, queues=["default"]).run()
    child = WorkflowExecution.objects.get(parent=eid)
    info = get_workflow(child.id)
    assert (info.queue, info.priority, info.parent) == ("emails", 0, eid)
    shown = json.loads(manage("durable_status", child.id, "--json").stdout)
    assert (shown["queue"], shown["priority"], shown["parent"]) == ("emails", 0, eid)


def test_settings_kept_once_read_follow_override_settings_and_the_settings_fixture(settings):
    # Settings are kept once read (the hot path reads several per step), so a change must
    # reach them: override_settings and pytest-django's fixture both say so.
    from django_durable import queues
    from django_durable.conf import durable_settings

    assert durable_settings.DURABLE_POLL_SECONDS == settings.DURABLE_POLL_SECONDS
    before = durable_settings.DURABLE_POLL_SECONDS
    with override_settings(DURABLE_POLL_SECONDS=before + 7, DURABLE_QUEUES={"late": {}}):
        assert durable_settings.DURABLE_POLL_SECONDS == before + 7
        assert "late" in queues.configured()
    assert durable_settings.DURABLE_POLL_SECONDS == before
    assert "late" not in queues.configured()
    settings.DURABLE_LEASE_SECONDS = 123.0
    assert durable_settings.DURABLE_LEASE_SECONDS == 123.0
