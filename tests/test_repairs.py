"""Retry, fork and prune: from the API and the commands, and what the database says after."""

import datetime as dt
import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from freezegun import freeze_time

from django_durable import (
    cancel_workflow,
    fork_workflow,
    get_workflow,
    prune_workflows,
    retry_workflow,
    signal_workflow,
    start_workflow,
)
from django_durable.exceptions import (
    ExecutionExists,
    ExecutionNotFound,
    InvalidInput,
    NotRetryable,
    StepNotRecorded,
)
from django_durable.inspection import workflow_events
from django_durable.models import (
    Signal,
    Status,
    StepResult,
    Timer,
    WorkflowExecution,
    WorkflowRun,
)
from tests.conftest import run_burst, status_of
from tests.testapp.models import SideEffect

pytestmark = pytest.mark.django_db(transaction=True)


def call(*args):
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def effects(eid):
    return list(SideEffect.objects.filter(execution_id=eid).values_list("step", flat=True))


def test_retry_runs_a_failed_execution_again_from_the_failed_step_keeping_completed_ones():
    eid = start_workflow("fails_first_time")
    run_burst()
    assert status_of(eid) == Status.FAILED
    assert effects(eid) == ["first", "second-failed"]
    assert retry_workflow(eid) == eid
    row = WorkflowExecution.objects.get(pk=eid)
    assert (row.status, row.error_type, row.finished_at, row.retries) == (
        Status.PENDING,
        "",
        None,
        1,
    )
    run_burst()
    info = get_workflow(eid)
    assert info.status == Status.COMPLETED, info.error
    # The completed step did not run again; the failed one did.
    assert effects(eid) == ["first", "second-failed", "second"]
    assert [s.step_id for s in info.steps] == ["first", "second"]
    assert "retried" in [event.kind for event in workflow_events(eid)]


def test_retry_of_a_canceled_sleeper_and_of_a_timed_out_execution_starts_their_clocks_anew():
    sleeper = start_workflow("steps_then_sleep", before=1, after=1)
    run_burst()
    cancel_workflow(sleeper, reason="by mistake")
    retry_workflow(sleeper)
    run_burst()
    assert status_of(sleeper) == Status.SLEEPING
    assert Timer.objects.filter(execution_id=sleeper).count() == 1
    assert effects(sleeper) == ["b0"]

    late = start_workflow("short_deadline")
    run_burst()
    time.sleep(0.6)
    run_burst()
    assert status_of(late) == Status.TIMED_OUT
    retry_workflow(late)
    row = WorkflowExecution.objects.get(pk=late)
    assert row.deadline_at > timezone.now()
    assert Timer.objects.filter(execution_id=late, kind="WORKFLOW_TIMEOUT").count() == 1


@pytest.mark.parametrize("status_of_target", ["live", "completed", "missing"])
def test_retry_of_an_execution_that_is_not_finished_badly_is_refused_and_changes_nothing(
    status_of_target,
):
    if status_of_target == "missing":
        with pytest.raises(ExecutionNotFound):
            retry_workflow("nope")
        return
    eid = start_workflow("add", a=1, b=2)
    if status_of_target == "completed":
        run_burst()
    before = WorkflowExecution.objects.values().get(pk=eid)
    with pytest.raises(NotRetryable, match=r"only FAILED, CANCELED or TIMED_OUT"):
        retry_workflow(eid)
    assert WorkflowExecution.objects.values().get(pk=eid) == before


def test_durable_retry_all_failed_retries_ten_thousand_executions_in_seconds():
    now = timezone.now()
    n = 10_000
    WorkflowExecution.objects.bulk_create(
        [
            WorkflowExecution(
                id=f"bulk-{i}",
                workflow_name="add" if i % 2 else "failing",
                status=Status.FAILED,
                input=b"\x80",
                error_type="builtins.ValueError",
                created_at=now,
                updated_at=now,
                finished_at=now,
            )
            for i in range(n)
        ],
        batch_size=1000,
    )
    began = time.monotonic()
    out, _ = call("durable_retry", "--all-failed")
    took = time.monotonic() - began
    assert len(out.splitlines()) == n
    assert WorkflowExecution.objects.filter(status=Status.PENDING).count() == n
    assert took < 30, f"retrying {n} executions took {took:.1f} s"
    out, _ = call("durable_retry", "--all-failed", "--workflow", "add")
    assert out.strip() == "no failed executions to retry"


def test_durable_retry_reports_each_execution_and_fails_for_those_it_could_not_retry():
    failed = start_workflow("failing")
    live = start_workflow("approval")
    run_burst()
    with pytest.raises(CommandError, match=r"^1 of 2 execution\(s\) could not be retried"):
        call("durable_retry", failed, live, failed)
    assert status_of(failed) == Status.PENDING
    assert status_of(live) == Status.WAITING


def test_fork_copies_the_steps_before_the_chosen_one_and_runs_from_there():
    source = start_workflow("steps", n=4)
    run_burst()
    forked = fork_workflow(source, from_step="s2", workflow_id="fork-1")
    assert forked == "fork-1"
    row = WorkflowExecution.objects.get(pk=forked)
    assert (row.forked_from, row.forked_from_step, row.status) == (source, "s2", Status.PENDING)
    assert list(
        StepResult.objects.filter(execution_id=forked).values_list("step_id", flat=True)
    ) == ["s0", "s1"]
    run_burst()
    info = get_workflow(forked)
    assert (info.status, info.result) == (Status.COMPLETED, 6)
    assert effects(forked) == ["s2", "s3"]  # s0 and s1 came from the record
    assert get_workflow(source).status == Status.COMPLETED
    # Idempotent with the same id and source; another source under that id is refused.
    assert fork_workflow(source, from_step="s2", workflow_id="fork-1") == "fork-1"
    with pytest.raises(ExecutionExists, match="already taken"):
        fork_workflow(source, from_step="s1", workflow_id="fork-1")


def test_fork_from_a_step_not_in_the_record_names_the_recorded_ones():
    source = start_workflow("steps", n=2)
    run_burst()
    with pytest.raises(StepNotRecorded, match=r"no recorded step 'zz'; its steps are: s0, s1"):
        fork_workflow(source, from_step="zz")
    assert WorkflowExecution.objects.count() == 1
    out, _ = call("durable_fork", source, "--from-step", "s1", "--id", "f2")
    assert out.strip() == "f2"


def test_prune_deletes_old_finished_executions_with_their_rows_and_keeps_the_rest():
    old_done = start_workflow("two_signals")
    run_burst()
    signal_workflow(old_done, "item", 1)
    signal_workflow(old_done, "item", 2)
    run_burst()
    old_failed = start_workflow("failing")
    live = start_workflow("approval")
    run_burst()
    recent = start_workflow("add", a=1, b=1)
    assert status_of(old_done) == Status.COMPLETED
    later = timezone.now() + dt.timedelta(days=31)
    with freeze_time(later):
        run_burst()  # finishes "recent" 31 days later
        assert prune_workflows(older_than_days=30, dry_run=True) == 2
        assert prune_workflows(older_than_days=30, statuses=["FAILED"]) == 1
        out, _ = call("durable_prune", "--older-than", "30")
    assert out.strip() == "deleted 1 finished execution(s) that ended over 30 day(s) ago"
    assert set(WorkflowExecution.objects.values_list("id", flat=True)) == {live, recent}
    for model in (StepResult, Signal, WorkflowRun):
        assert not model.objects.filter(execution_id__in=[old_done, old_failed]).exists()
    assert status_of(live) == Status.WAITING


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"older_than_days": -1}, r"^the age must be 0 days or more, not -1$"),
        ({"older_than_days": float("nan")}, r"^the age must be a number of days"),
        ({"older_than_days": 1, "statuses": ["RUNNING"]}, r"^cannot prune RUNNING executions"),
        ({"older_than_days": 1, "statuses": ["DONE"]}, r"^unknown status 'DONE'"),
    ],
)
def test_prune_refuses_bad_ages_and_live_statuses(kwargs, message):
    with pytest.raises(InvalidInput, match=message):
        prune_workflows(**kwargs)


def test_a_worker_prunes_on_its_own_when_a_retention_is_set(settings):
    import threading

    from django_durable.worker import Worker
    from tests.conftest import wait_for

    old = start_workflow("add", a=1, b=2)
    run_burst()
    kept = start_workflow("add", a=2, b=2)
    run_burst()
    WorkflowExecution.objects.filter(pk=old).update(
        finished_at=timezone.now() - dt.timedelta(days=40)
    )
    settings.DURABLE_RETENTION_DAYS = 30
    worker = Worker(threads=1)  # not burst: the pruner runs at start, then hourly
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        wait_for(
            lambda: not WorkflowExecution.objects.filter(pk=old).exists(),
            timeout=20,
            message="the worker's prune",
        )
    finally:
        worker.stop()
        thread.join(30)
    assert list(WorkflowExecution.objects.values_list("pk", flat=True)) == [kept]
