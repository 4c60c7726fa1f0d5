"""Child workflows: start, wait, fan-out and gather, failures, timeouts, cancel cascade."""

import pytest

from django_durable import (
    cancel_workflow,
    get_workflow,
    retry_workflow,
    run_workflow,
    signal_workflow,
    start_workflow,
)
from django_durable.inspection import describe_now
from django_durable.models import Status, StepResult, WorkflowExecution, WorkflowRun
from django_durable.testing import reset_clock, run_until_idle
from tests.conftest import run_burst, status_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def real_clock():
    yield
    reset_clock()  # run_until_idle moves the engine's clock past timers


def row(execution_id):
    return WorkflowExecution.objects.get(pk=execution_id)


def test_a_parent_waits_for_its_child_without_a_thread_and_gets_its_result():
    eid = start_workflow("parent_runs_child", a=2, b=3, wait="go")
    run_burst()
    parent = row(eid)
    child_id = parent.waiting_for
    assert parent.status == Status.WAITING
    assert row(child_id).parent == eid and row(child_id).status == Status.WAITING
    assert WorkflowRun.objects.filter(execution_id=eid).last().outcome == "WAITING_CHILD"
    signal_workflow(child_id, "go")
    run_burst()
    assert status_of(eid) == Status.COMPLETED
    assert get_workflow(eid).result == {"child": child_id, "total": 10}
    # One start step and one wait step, each memoized: the reruns started nothing new.
    assert WorkflowExecution.objects.filter(parent=eid).count() == 1
    step_ids = list(StepResult.objects.filter(execution_id=eid).values_list("step_id", flat=True))
    assert step_ids[:2] == ["ctx.start_workflow:child_adds:1", "ctx.wait_workflow:1"]


def test_a_failed_child_raises_child_workflow_failed_that_the_parent_may_catch():
    eid = start_workflow("parent_runs_child", a=1, b=2, fail=True)
    run_until_idle()
    result = get_workflow(eid).result
    assert result["failed"] == Status.FAILED
    assert result["error"] == "builtins.ValueError"


def test_an_uncaught_child_failure_fails_the_parent_with_the_childs_root_error():
    eid = start_workflow("parent_does_not_catch")
    run_until_idle()
    parent = row(eid)
    assert parent.status == Status.FAILED
    assert parent.error_type == "django_durable.exceptions.ChildWorkflowFailed"
    assert parent.root_error_type == "builtins.ValueError"
    assert "asked to fail with 3" in parent.error_message


def test_a_wait_timeout_raises_wait_timeout_once_its_time_has_passed():
    eid = start_workflow("parent_waits_with_timeout", seconds=3600)
    run_until_idle()  # the virtual clock skips the hour
    assert get_workflow(eid).result == "gave up"
    child = WorkflowExecution.objects.get(parent=eid)
    assert child.status == Status.WAITING  # still waiting for its signal; not canceled


def test_fan_out_gathers_every_child_and_keeps_failures_in_place():
    eid = start_workflow("fans_out", n=30, fail_every=7)
    run_until_idle()
    result = get_workflow(eid).result
    failed = len([k for k in range(30) if k % 7 == 0])
    assert result == {"sum": sum(k + 1 for k in range(30) if k % 7), "failed": failed}
    assert WorkflowExecution.objects.filter(parent=eid).count() == 30
    waits = StepResult.objects.filter(execution_id=eid, step_id__startswith="ctx.wait_workflow")
    assert waits.count() == 30


def test_cancel_cascades_to_unfinished_children_and_grandchildren():
    eid = start_workflow("grandparent")
    run_burst()
    child = WorkflowExecution.objects.get(parent=eid)
    grandchild = WorkflowExecution.objects.get(parent=child.id)
    assert grandchild.status == Status.WAITING
    cancel_workflow(eid, "no longer needed")
    for execution_id in (eid, child.id, grandchild.id):
        assert status_of(execution_id) == Status.CANCELED
    assert row(grandchild.id).cancel_reason == f"its parent or an ancestor, {eid}, was canceled"


def test_canceling_a_child_wakes_its_waiting_parent_with_the_cancel():
    eid = start_workflow("parent_runs_child", a=2, b=3, wait="go")
    run_burst()
    cancel_workflow(row(eid).waiting_for, "stop it")
    run_burst()
    result = get_workflow(eid).result
    assert result["failed"] == Status.CANCELED
    assert status_of(eid) == Status.COMPLETED


@pytest.mark.parametrize(
    "workflow, error",
    [
        ("waits_on_itself", "cannot wait for itself"),
        ("starts_unknown_child", "no_such_workflow"),
    ],
)
def test_bad_compositions_fail_the_workflow_with_a_clear_error(workflow, error):
    eid = start_workflow(workflow)
    run_until_idle()
    assert status_of(eid) == Status.FAILED
    assert error in row(eid).error_message


def test_run_workflow_runs_the_children_in_the_same_thread():
    assert run_workflow("fans_out", n=5) == {"sum": sum(k + 1 for k in range(5)), "failed": 0}


def test_retrying_a_parent_that_a_child_failed_retries_the_child_too():
    eid = start_workflow("parent_of_a_flaky_child")
    run_until_idle()
    child = WorkflowExecution.objects.get(parent=eid)
    assert (status_of(eid), child.status) == (Status.FAILED, Status.FAILED)
    retry_workflow(eid)
    assert status_of(child.id) == Status.PENDING  # retried with it
    run_until_idle()
    assert get_workflow(eid).result == {"child": "ok", "after": 8}
    assert status_of(child.id) == Status.COMPLETED


def test_a_parent_that_times_out_cancels_its_children():
    eid = start_workflow("parent_outlives_its_timeout")
    run_burst()
    child = WorkflowExecution.objects.get(parent=eid)
    assert status_of(eid) == Status.TIMED_OUT
    assert status_of(child.id) == Status.CANCELED
    assert row(child.id).cancel_reason == "its parent or an ancestor timed out"


def test_durable_status_says_which_execution_a_parent_waits_for():
    eid = start_workflow("parent_runs_child", a=2, b=3, wait="go")
    run_burst()
    child_id = row(eid).waiting_for
    assert describe_now([{"id": eid, "status": Status.WAITING, "lease_owner": ""}]) == {
        eid: f"waiting for execution {child_id}"
    }


def test_retrying_a_canceled_parent_retries_the_children_canceled_with_it():
    eid = start_workflow("parent_runs_child", a=2, b=3, wait="go")
    run_burst()
    child_id = row(eid).waiting_for
    cancel_workflow(eid)
    assert status_of(child_id) == Status.CANCELED
    retry_workflow(eid)
    assert status_of(child_id) == Status.PENDING
    run_burst()
    signal_workflow(child_id, "go")
    run_burst()
    assert get_workflow(eid).result == {"child": child_id, "total": 10}


def test_a_child_failure_the_parent_handled_is_not_retried_with_it():
    eid = start_workflow("catches_then_fails")
    run_until_idle()
    child = WorkflowExecution.objects.get(parent=eid)
    retry_workflow(eid)
    run_until_idle()
    assert status_of(eid) == Status.FAILED and row(eid).error_type == "builtins.ValueError"
    assert row(child.id).retries == 0  # the handled branch replays as it was


def test_a_child_committed_after_the_cascade_looked_is_canceled_by_the_sweep_after_it():
    # A run starting children commits them while a cancel of their parent waits for the
    # parent's row: the cascade looked before. The look after the cancel's commit ends them,
    # also below a child the cascade canceled.
    from django_durable import store
    from django_durable.serialization import dumps

    eid = start_workflow("grandparent")
    run_burst()
    middle = WorkflowExecution.objects.get(parent=eid)
    cancel_workflow(eid)
    late, _ = store.create_execution("child_adds", dumps({"a": 1, "b": 1}))
    WorkflowExecution.objects.filter(pk=late).update(parent=middle.id)
    assert store.end_orphans([eid], "its parent or an ancestor, x, was canceled") == 1
    assert status_of(late) == Status.CANCELED


def test_the_events_say_when_a_wait_for_a_child_times_out():
    from django_durable import workflow_events

    eid = start_workflow("parent_waits_with_timeout", seconds=3600)
    run_burst()
    summaries = [event.summary for event in workflow_events(eid)]
    assert any(s.startswith("the wait for another execution times out at ") for s in summaries)
