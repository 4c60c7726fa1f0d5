"""Runs of real workflows against the database: memoization, failures, retries, waits."""

import datetime as dt
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from freezegun import freeze_time

from django_durable import (
    cancel_workflow,
    get_workflow,
    run_workflow,
    signal_workflow,
    start_workflow,
    store,
)
from django_durable.exceptions import (
    ExecutionFinished,
    InvalidInput,
    UnknownWorkflow,
    WorkflowFailed,
)
from django_durable.models import Signal, Status, StepResult, Timer, WorkflowExecution
from tests.conftest import run_burst, start_worker_thread, status_of
from tests.testapp.models import Ledger, SideEffect

pytestmark = pytest.mark.django_db(transaction=True)


def test_run_workflow_returns_the_result_and_records_every_step():
    assert run_workflow("steps", n=4) == 6
    execution = WorkflowExecution.objects.get()
    assert execution.status == Status.COMPLETED
    assert list(execution.steps.values_list("step_id", flat=True)) == ["s0", "s1", "s2", "s3"]
    assert SideEffect.objects.count() == 4


def test_derived_step_ids_count_occurrences_per_name():
    eid = start_workflow("steps_then_sleep", before=2, after=1)
    run_burst()
    assert list(StepResult.objects.filter(execution_id=eid).values_list("step_id", flat=True)) == [
        "effect:1",
        "effect:2",
    ]
    assert Timer.objects.get(execution_id=eid).step_id == "ctx.sleep:1"


def test_a_resumed_run_loads_steps_in_one_query_and_records_each_new_step_with_one_insert():
    eid = start_workflow("steps_then_sleep", before=20, after=3)
    run_burst()
    assert status_of(eid) == Status.SLEEPING
    with freeze_time(timezone.now() + dt.timedelta(seconds=61)):
        assert store.fire_due_timers(100) == 1
    claimed = store.claim("test-owner", 1, 60)
    from django_durable.engine import Outcome, run_claimed

    with CaptureQueriesContext(connection) as queries:
        assert run_claimed(claimed[0]) is Outcome.COMPLETED
    sqls = [q["sql"] for q in queries.captured_queries]
    step_table = StepResult._meta.db_table
    selects = [s for s in sqls if s.lstrip().upper().startswith("SELECT") and step_table in s]
    inserts = [s for s in sqls if s.lstrip().upper().startswith("INSERT") and step_table in s]
    execution_updates = [
        s
        for s in sqls
        if s.lstrip().upper().startswith("UPDATE") and WorkflowExecution._meta.db_table in s
    ]
    assert len(selects) == 1, selects
    assert len(inserts) == 3, inserts
    assert len(execution_updates) == 1  # finishing the execution, nothing per step
    # The 20 steps before the sleep ran once each; the 3 after, once each.
    assert SideEffect.objects.filter(execution_id=eid).count() == 23
    assert status_of(eid) == Status.COMPLETED


def test_a_first_run_does_not_look_for_recorded_steps():
    eid = start_workflow("steps_then_sleep", before=2, after=1)
    (claimed,) = store.claim("test-owner", 1, 60)
    assert claimed.first_run
    from django_durable.engine import run_claimed

    with CaptureQueriesContext(connection) as queries:
        run_claimed(claimed)
    step_table = StepResult._meta.db_table
    selects = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].lstrip().upper().startswith("SELECT") and step_table in q["sql"]
    ]
    assert selects == []
    assert status_of(eid) == Status.SLEEPING
    assert StepResult.objects.filter(execution_id=eid).count() == 2
    # Once it has run, a claim no longer calls it a first run.
    with freeze_time(timezone.now() + dt.timedelta(seconds=61)):
        store.fire_due_timers(100)
    (again,) = store.claim("test-owner", 1, 60)
    assert not again.first_run


def test_a_failing_workflow_ends_failed_with_type_message_and_traceback():
    with pytest.raises(WorkflowFailed, match="ValueError: boom on purpose"):
        run_workflow("failing")
    execution = WorkflowExecution.objects.get()
    assert execution.status == Status.FAILED
    assert execution.error_type == "builtins.ValueError"
    assert execution.error_message == "boom on purpose"
    assert "Traceback" in execution.error_traceback and "failing" in execution.error_traceback


def test_a_failed_step_is_recorded_and_raised_into_the_workflow_as_step_failed():
    result = run_workflow("catches_step_failure")
    assert result["caught"] == "StepFailed"
    assert "builtins.KeyError" in result["message"]
    step = StepResult.objects.get()
    assert step.status == "FAILED" and step.error_type == "builtins.KeyError"


def test_a_flaky_activity_is_retried_and_the_attempts_are_recorded():
    assert run_workflow("retrying", fail_times=2) == 3
    step = StepResult.objects.get()
    assert step.status == "COMPLETED" and step.attempts == 3


def test_an_activity_that_keeps_failing_fails_after_max_attempts():
    with pytest.raises(WorkflowFailed, match="failed after 3 attempts"):
        run_workflow("retrying", fail_times=10)
    assert SideEffect.objects.count() == 3


def test_a_long_backoff_suspends_on_a_retry_timer_and_keeps_the_attempt_count():
    eid = start_workflow("retrying_slowly", fail_times=1)
    run_burst()
    execution = WorkflowExecution.objects.get(pk=eid)
    assert execution.status == Status.SLEEPING
    assert (execution.retry_step_id, execution.retry_attempts) == ("flaky:1", 1)
    timer = Timer.objects.get(execution_id=eid)
    assert timer.kind == "RETRY"
    with freeze_time(timezone.now() + dt.timedelta(seconds=6)):
        store.fire_due_timers(10)
    run_burst()
    assert status_of(eid) == Status.COMPLETED
    assert StepResult.objects.get(execution_id=eid).attempts == 2


def test_a_step_over_its_timeout_fails_instead_of_hanging():
    with pytest.raises(WorkflowFailed, match="did not finish within 0.2 s"):
        run_workflow("times_out_step")


def test_atomic_steps_write_their_rows_exactly_once():
    assert run_workflow("ledger", entries=5) == 10
    assert Ledger.objects.count() == 5


def test_an_unserializable_step_result_fails_the_step_naming_type_and_step():
    with pytest.raises(WorkflowFailed, match=r"step 'object:1'.*builtins.object"):
        run_workflow("unserializable")


def test_non_determinism_names_execution_step_and_both_names():
    eid = start_workflow("explicit_ids", variant="changed")
    run_burst()
    execution = WorkflowExecution.objects.get(pk=eid)
    assert execution.status == Status.FAILED
    assert execution.error_type == "django_durable.exceptions.NonDeterminismError"
    assert eid in execution.error_message
    assert "'shared'" in execution.error_message
    assert "'first'" in execution.error_message and "'second'" in execution.error_message


def test_ctx_now_uuid_random_are_memoized():
    eid = start_workflow("deterministic")
    run_burst()
    first = get_workflow(eid).result
    assert StepResult.objects.filter(execution_id=eid).count() == 3
    from django_durable.engine import replay

    report = replay(eid)
    assert report.verdict == "completed" and report.result == first


def test_sleep_suspends_on_a_timer_row_and_the_scheduler_wakes_it(django_assert_max_num_queries):
    eid = start_workflow("onboard_user", user_id=7)
    run_burst()
    assert status_of(eid) == Status.SLEEPING
    timer = Timer.objects.get(execution_id=eid)
    assert timer.kind == "SLEEP"
    assert 3590 < (timer.due_at - timezone.now()).total_seconds() <= 3600
    assert store.fire_due_timers(10) == 0
    with freeze_time(timer.due_at + dt.timedelta(seconds=1)):
        assert store.fire_due_timers(10) == 1
    run_burst()
    info = get_workflow(eid)
    assert info.status == Status.COMPLETED
    assert info.result == {"ok": True, "score": 42}
    assert [s.step_id for s in info.steps] == ["send_email:1", "ctx.sleep:1", "compute_score:1"]


def test_a_signal_wakes_a_waiting_execution_and_is_its_result():
    eid = start_workflow("approval")
    run_burst()
    assert status_of(eid) == Status.WAITING
    signal_workflow(eid, "approve", {"by": "ann"})
    assert status_of(eid) == Status.PENDING
    run_burst()
    assert get_workflow(eid).result == {"decision": {"by": "ann"}}


def test_a_signal_sent_before_the_wait_is_not_lost_and_signals_are_consumed_in_order():
    eid = start_workflow("two_signals")
    signal_workflow(eid, "item", 1)
    signal_workflow(eid, "item", 2)
    run_burst()
    assert get_workflow(eid).result == [1, 2]
    assert Signal.objects.filter(consumed_at__isnull=True).count() == 0


def test_wait_signal_returns_none_after_its_timeout():
    eid = start_workflow("approval", timeout=30)
    run_burst()
    assert Timer.objects.get(execution_id=eid).kind == "SIGNAL_TIMEOUT"
    with freeze_time(timezone.now() + dt.timedelta(seconds=31)):
        store.fire_due_timers(10)
    run_burst()
    assert get_workflow(eid).result == {"decision": None}


def test_cancel_stops_the_execution_and_deletes_its_timers():
    eid = start_workflow("onboard_user", user_id=1)
    run_burst()
    cancel_workflow(eid, reason="user left")
    execution = WorkflowExecution.objects.get(pk=eid)
    assert execution.status == Status.CANCELED and execution.cancel_reason == "user left"
    assert not Timer.objects.filter(execution_id=eid).exists()
    with pytest.raises(ExecutionFinished, match="already ended"):
        cancel_workflow(eid)
    with pytest.raises(ExecutionFinished):
        signal_workflow(eid, "x")
    run_burst()
    assert StepResult.objects.filter(execution_id=eid).count() == 1


def test_workflow_timeout_ends_a_sleeping_execution_timed_out():
    eid = start_workflow("short_deadline")
    run_burst()
    assert status_of(eid) == Status.SLEEPING
    with freeze_time(timezone.now() + dt.timedelta(seconds=1)):
        store.fire_due_timers(10)
    execution = WorkflowExecution.objects.get(pk=eid)
    assert execution.status == Status.TIMED_OUT
    assert not Timer.objects.filter(execution_id=eid).exists()


def test_a_workflow_that_swallows_the_suspension_still_suspends():
    eid = start_workflow("swallows")
    run_burst()
    assert status_of(eid) == Status.SLEEPING
    assert WorkflowExecution.objects.get(pk=eid).result is None


def test_start_with_an_id_is_idempotent():
    first = start_workflow("add", workflow_id="order-1", a=1, b=2)
    second = start_workflow("add", workflow_id="order-1", a=5, b=5)
    assert first == second == "order-1"
    assert WorkflowExecution.objects.count() == 1


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda: start_workflow("nope"), UnknownWorkflow),
        (lambda: start_workflow("add", a=1), InvalidInput),
        (lambda: start_workflow("add", a=1, b=2, c=3), InvalidInput),
        (lambda: start_workflow("add", a=object(), b=1), TypeError),
        (lambda: start_workflow("add", workflow_id="", a=1, b=2), InvalidInput),
    ],
)
def test_bad_starts_write_nothing(call, error):
    with pytest.raises(error):
        call()
    assert WorkflowExecution.objects.count() == 0


def test_a_worker_holds_its_running_executions_and_at_most_one_queued_per_thread():
    ids = [start_workflow("steps", n=1, sleep=0.4) for _ in range(8)]
    worker, thread = start_worker_thread(threads=2)
    held = []
    try:
        deadline = time.monotonic() + 30
        while thread.is_alive() and time.monotonic() < deadline:
            held.append(
                WorkflowExecution.objects.filter(
                    status=Status.RUNNING, lease_owner=worker.id
                ).count()
            )
            time.sleep(0.05)
    finally:
        thread.join(30)
    # 2 running and 2 queued at most; and it did queue ahead of its threads.
    assert max(held) == 4, held
    assert all(status_of(eid) == Status.COMPLETED for eid in ids)


def test_a_worker_hands_back_what_it_queued_when_its_threads_stay_busy():
    ids = [start_workflow("steps", n=1, sleep=4.0) for _ in range(3)]
    worker, thread = start_worker_thread(threads=1)
    taken = []
    try:
        # It runs one and queues one; once nobody has started the queued one for a second,
        # it is handed back, and another worker can take it (with the one never claimed).
        mine = WorkflowExecution.objects.filter(lease_owner=worker.id, status=Status.RUNNING)
        deadline = time.monotonic() + 3.0
        while mine.count() < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert mine.count() == 2  # one running, one queued
        deadline = time.monotonic() + 3.0
        while len(taken) < 2 and time.monotonic() < deadline:
            taken += store.claim("other", 5, 60)
            time.sleep(0.1)
    finally:
        thread.join(30)
    assert sorted(c.lease.execution_id for c in taken) == sorted(ids[1:])
    assert status_of(ids[0]) == Status.COMPLETED
    assert not SideEffect.objects.filter(execution_id__in=ids[1:]).exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="one statement: PostgreSQL's CTE")
def test_on_postgresql_a_run_without_timers_or_waiters_finishes_in_one_statement():
    import dataclasses

    from django_durable.exceptions import _Abort
    from django_durable.models import RunOutcome, WorkflowRun

    done, lost = start_workflow("add", a=1, b=2), start_workflow("add", a=2, b=2)
    claimed = {c.lease.execution_id: c.lease for c in store.claim("test-owner", 2, 60)}
    with CaptureQueriesContext(connection) as queries:
        store.finish(claimed[done], Status.COMPLETED, result=b"\x03", may_have_timers=False)
    assert len(queries) == 1, [q["sql"] for q in queries.captured_queries]
    assert status_of(done) == Status.COMPLETED
    assert WorkflowRun.objects.get(execution_id=done).outcome == RunOutcome.COMPLETED
    # A lost lease changes nothing, and the run is told so.
    stale = dataclasses.replace(claimed[lost], epoch=claimed[lost].epoch + 1)
    with pytest.raises(_Abort):
        store.finish(stale, Status.COMPLETED, result=b"\x04", may_have_timers=False)
    assert status_of(lost) == Status.RUNNING
    assert WorkflowRun.objects.get(execution_id=lost).outcome == ""


@pytest.mark.parametrize(("workflow", "timer_deletes"), [("add", 0), ("add_with_deadline", 1)])
def test_a_first_run_without_a_deadline_finishes_without_looking_for_timers(
    workflow, timer_deletes
):
    from django_durable.engine import Outcome, run_claimed

    eid = start_workflow(workflow, a=1, b=2)
    (claimed,) = store.claim("test-owner", 1, 60)
    with CaptureQueriesContext(connection) as queries:
        assert run_claimed(claimed) is Outcome.COMPLETED
    deletes = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].lstrip().upper().startswith("DELETE") and Timer._meta.db_table in q["sql"]
    ]
    assert len(deletes) == timer_deletes
    assert status_of(eid) == Status.COMPLETED
    assert not Timer.objects.filter(execution_id=eid).exists()
