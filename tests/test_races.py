"""Interleavings found in review, pinned as scenarios."""

import datetime as dt

import pytest
from django.utils import timezone
from freezegun import freeze_time

from django_durable import get_workflow, signal_workflow, start_workflow, store
from django_durable.engine import Outcome, run_claimed
from django_durable.lease_clock import LeaseClock
from django_durable.models import Status, StepResult, Timer, WorkflowExecution
from tests.conftest import run_burst
from tests.testapp.models import Ledger

pytestmark = pytest.mark.django_db(transaction=True)


def test_atomic_step_that_swallows_a_database_error_fails_instead_of_looping():
    eid = start_workflow("atomic_swallows_db_error")
    run_burst()
    execution = WorkflowExecution.objects.get(pk=eid)
    assert execution.status == Status.FAILED
    assert "BrokenStepTransaction" in execution.error_message
    assert execution.runs == 1
    assert not Ledger.objects.filter(execution_id=eid).exists()


def test_signal_timeout_that_fires_while_the_run_is_running_is_not_pushed_back():
    eid = start_workflow("wait_after_other_signal")
    signal_workflow(eid, "note", "hello")
    (claimed,) = store.claim("A", 1, 60)
    # The run consumes "note", then suspends on "approve" with a 30 s timeout.
    assert run_claimed(claimed) is Outcome.SUSPENDED
    timer = Timer.objects.get(execution_id=eid)
    # Another signal wakes it; before the new run gets to its wait, the timeout fires.
    signal_workflow(eid, "other", 1)
    (again,) = store.claim("A", 1, 60)
    with freeze_time(timer.due_at + dt.timedelta(seconds=1)):
        assert store.fire_due_timers(10) == 1
    assert StepResult.objects.filter(execution_id=eid, step_id="ctx.wait_signal:approve:1")
    assert run_claimed(again) is Outcome.COMPLETED
    assert get_workflow(eid).result == {"note": "hello", "decision": None}
    assert not Timer.objects.filter(execution_id=eid).exists()


def test_a_timeout_recorded_while_suspending_is_returned_not_waited_for_again():
    eid = start_workflow("approval", timeout=30)
    (claimed,) = store.claim("A", 1, 60)
    # The step is recorded (as a fired timeout would) just before the run suspends.
    StepResult.objects.create(
        execution_id=eid,
        step_id="ctx.wait_signal:approve:1",
        name="ctx.wait_signal:approve",
        status="COMPLETED",
        result=b"\xc0",
        started_at=timezone.now(),
        finished_at=timezone.now(),
    )
    assert (
        store.suspend_on_signal(
            claimed.lease,
            "ctx.wait_signal:approve:1",
            "approve",
            timezone.now() + dt.timedelta(seconds=30),
        )
        == store.RECORDED
    )
    assert WorkflowExecution.objects.get(pk=eid).status == Status.RUNNING
    assert not Timer.objects.filter(execution_id=eid).exists()


def test_run_workflow_renews_its_lease_and_stops_at_a_cancel(settings):
    import threading

    from django_durable import cancel_workflow, run_workflow
    from django_durable.exceptions import WorkflowFailed

    settings.DURABLE_LEASE_SECONDS = 1.0
    settings.DURABLE_HEARTBEAT_SECONDS = 0.2
    outcome = {}

    def run():
        try:
            outcome["result"] = run_workflow("steps", n=40, sleep=0.05)
        except WorkflowFailed as exc:
            outcome["error"] = exc
        finally:
            from django.db import connection

            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    from tests.conftest import wait_for

    execution = wait_for(lambda: WorkflowExecution.objects.first(), message="the execution")
    # Past the 1 s lease, the run still holds it: nobody else can claim it.
    wait_for(lambda: StepResult.objects.filter(execution_id=execution.pk).count() >= 30)
    assert store.claim("intruder", 1, 60) == []
    cancel_workflow(execution.pk, reason="enough")
    thread.join(30)
    assert outcome["error"].status == Status.CANCELED
    recorded = StepResult.objects.filter(execution_id=execution.pk).count()
    assert 30 <= recorded < 40


def test_connection_lost_inside_an_atomic_step_reruns_the_step_instead_of_failing_it():
    from tests.testapp import durable_workflows

    durable_workflows.CONNECTION_KILLS["left"] = 1
    eid = start_workflow("atomic_loses_connection")
    run_burst()
    execution = WorkflowExecution.objects.get(pk=eid)
    if execution.status != Status.COMPLETED:
        # The first run was handed back with a pause; take it again at once.
        WorkflowExecution.objects.filter(pk=eid).update(
            lease_expires_at=timezone.now() - store.TAKEOVER_GRACE
        )
        run_burst()
    assert get_workflow(eid).status == Status.COMPLETED, get_workflow(eid).error
    assert get_workflow(eid).result == "booked"
    assert Ledger.objects.filter(execution_id=eid).count() == 1
    assert StepResult.objects.get(execution_id=eid).status == "COMPLETED"


def test_a_run_whose_lease_was_not_renewed_in_time_starts_no_further_step_body():
    from tests.testapp.models import SideEffect

    eid = start_workflow("steps", n=3)
    (claimed,) = store.claim("A", 1, 60)
    clock = LeaseClock(60, 5)
    clock.valid_until = 0.0  # as if the heartbeat had been stuck past the lease
    assert run_claimed(claimed, None, clock) is Outcome.ABORTED
    assert not SideEffect.objects.filter(execution_id=eid).exists()
    assert not StepResult.objects.filter(execution_id=eid).exists()
