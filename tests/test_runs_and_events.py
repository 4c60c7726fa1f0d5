"""The run log, the worker table and an execution's events, as the database records them."""

import datetime as dt
import os
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from freezegun import freeze_time

from django_durable import cancel_workflow, signal_workflow, start_workflow, store
from django_durable.engine import run_claimed
from django_durable.inspection import (
    inspect_workflow,
    list_workers,
    list_workflows,
    workflow_events,
)
from django_durable.models import (
    RunOutcome,
    Status,
    Timer,
    WorkerProcess,
    WorkflowExecution,
    WorkflowRun,
)
from tests.conftest import run_burst, status_of

pytestmark = pytest.mark.django_db(transaction=True)


def runs_of(execution_id):
    return list(
        WorkflowRun.objects.filter(execution_id=execution_id)
        .order_by("epoch")
        .values_list("epoch", "outcome", "waiting_on")
    )


def fire_timers_now():
    # Made due rather than fired under a frozen clock: the events' times must stay in order.
    Timer.objects.update(due_at=timezone.now())
    store.fire_due_timers(100)


def test_each_run_is_logged_with_its_worker_and_how_it_ended():
    eid = start_workflow("steps_then_sleep", before=2, after=1)
    worker = run_burst()
    assert runs_of(eid) == [(1, RunOutcome.SLEEPING, "ctx.sleep:1")]
    fire_timers_now()
    run_burst()
    assert runs_of(eid) == [(1, RunOutcome.SLEEPING, "ctx.sleep:1"), (2, RunOutcome.COMPLETED, "")]
    first = WorkflowRun.objects.get(execution_id=eid, epoch=1)
    assert first.worker == worker.id
    assert first.ended_at >= first.started_at


def test_a_run_that_waits_fails_or_backs_off_says_so():
    waiting = start_workflow("approval")
    failing = start_workflow("failing")
    backing_off = start_workflow("retrying_slowly", fail_times=1)
    run_burst()
    assert runs_of(waiting) == [(1, RunOutcome.WAITING_SIGNAL, "ctx.wait_signal:approve:1")]
    [(_, outcome, _)] = runs_of(failing)
    assert outcome == RunOutcome.FAILED
    assert "boom on purpose" in WorkflowRun.objects.get(execution_id=failing).detail
    assert runs_of(backing_off)[0][1] == RunOutcome.RETRY_BACKOFF


def test_a_run_taken_over_after_its_lease_expired_is_logged_as_worker_died():
    eid = start_workflow("add", a=1, b=2)
    [claimed] = store.claim("dead-worker", 1, 60)
    with freeze_time(timezone.now() + dt.timedelta(seconds=62)):
        [taken] = store.claim("new-worker", 1, 60)
    assert taken.lease.epoch == 2
    died, running = WorkflowRun.objects.filter(execution_id=eid).order_by("epoch")
    assert (died.worker, died.outcome) == ("dead-worker", RunOutcome.WORKER_DIED)
    assert "new-worker" in died.detail
    assert (running.worker, running.outcome, running.ended_at) == ("new-worker", "", None)
    # The stale run cannot rewrite its row: it ends as lease-lost only if nothing ended it.
    assert run_claimed(claimed).value == "aborted"
    assert WorkflowRun.objects.get(execution_id=eid, epoch=1).outcome == RunOutcome.WORKER_DIED


def test_cancel_and_release_end_the_open_run():
    canceled = start_workflow("add", a=1, b=2)
    released = start_workflow("add", a=3, b=4)
    claims = {c.lease.execution_id: c for c in store.claim("w", 2, 60)}
    cancel_workflow(canceled, reason="not wanted")
    assert store.release(claims[released].lease, reason="shutting down")
    assert WorkflowRun.objects.get(execution_id=canceled).outcome == RunOutcome.CANCELED
    handed_back = WorkflowRun.objects.get(execution_id=released)
    assert (handed_back.outcome, handed_back.detail) == (RunOutcome.HANDED_BACK, "shutting down")


def test_the_run_log_is_written_with_the_claim_and_the_last_write_never_per_step():
    eid = start_workflow("steps", n=20)
    [claimed] = store.claim("w", 1, 60)
    table = WorkflowRun._meta.db_table
    with CaptureQueriesContext(connection) as queries:
        assert run_claimed(claimed).value == "completed"
    assert sum(table in query["sql"] for query in queries.captured_queries) == 1
    assert runs_of(eid) == [(1, RunOutcome.COMPLETED, "")]


def test_a_worker_registers_itself_and_is_listed_as_stopped_after_it_exits():
    worker = run_burst(threads=3)
    row = WorkerProcess.objects.get(pk=worker.id)
    assert (row.pid, row.threads) == (os.getpid(), 3)
    assert row.stopped_at is not None
    [info] = [w for w in list_workers() if w.id == worker.id]
    assert info.state == "stopped"


def test_a_worker_that_stopped_beating_is_listed_as_dead_and_shows_what_it_holds():
    eid = start_workflow("add", a=1, b=2)
    long_ago = timezone.now() - dt.timedelta(minutes=10)
    with freeze_time(long_ago):
        store.register_worker("silent", "host-a", 4242, 2)
    store.register_worker("busy", "host-b", 4343, 4)
    store.claim("busy", 1, 60)
    store.beat("busy", {eid: "sum"})
    states = {w.id: w for w in list_workers()}
    assert states["silent"].state == "dead"
    assert states["busy"].state == "running"
    assert states["busy"].holds == [{"execution_id": eid, "workflow": "add", "step": "sum"}]
    out = StringIO()
    call_command("durable_status", "--workers", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].split()[:3] == ["WORKER", "HOST", "PID"]
    busy = next(line for line in lines if line.startswith("busy "))
    assert "running" in busy and f"{eid} (sum)" in busy
    assert "dead" in next(line for line in lines if line.startswith("silent "))


def test_events_tell_an_executions_story_in_time_order():
    eid = start_workflow("steps_then_sleep", before=1, after=1)
    run_burst()
    kinds = [event.kind for event in workflow_events(eid)]
    assert kinds == ["created", "run-started", "step", "timer", "run-ended"]
    fire_timers_now()
    run_burst()
    events = workflow_events(eid)
    assert [event.kind for event in events] == [
        "created",
        "run-started",
        "step",
        "run-ended",
        "sleep",
        "run-started",
        "step",
        "run-ended",
        "ended",
    ]
    assert [event.at for event in events] == sorted(event.at for event in events)
    sleep = next(event for event in events if event.kind == "sleep")
    assert sleep.step_id == "ctx.sleep:1" and sleep.duration >= 0
    assert events[-1].summary == "completed"


def test_events_show_signals_sent_and_received_and_a_cancel_with_its_reason():
    eid = start_workflow("two_signals")
    run_burst()
    signal_workflow(eid, "item", {"n": 1})
    run_burst()
    cancel_workflow(eid, reason="enough")
    summaries = [event.summary for event in workflow_events(eid)]
    assert "signal 'item' sent" in summaries
    assert "signal 'item' received" in summaries
    assert summaries[-1] == "canceled: enough"
    assert status_of(eid) == Status.CANCELED


def test_inspect_reports_runs_and_events_and_prints_the_runs():
    eid = start_workflow("steps_then_sleep", before=1, after=0)
    run_burst()
    report = inspect_workflow(eid)
    assert [run["outcome"] for run in report["runs"]] == ["SLEEPING"]
    assert report["events"][0]["kind"] == "created"
    out = StringIO()
    call_command("durable_inspect", eid, stdout=out)
    assert "run 1   SLEEPING at ctx.sleep:1" in out.getvalue()


def test_status_says_what_each_execution_is_doing_now():
    sleeping = start_workflow("steps_then_sleep", before=1, after=0)
    waiting = start_workflow("approval", timeout=600)
    backing_off = start_workflow("retrying_slowly", fail_times=1)
    failed = start_workflow("failing")
    run_burst()
    running = start_workflow("add", a=2, b=2)
    store.register_worker("w1", "host", 1, 1)
    [claimed] = store.claim("w1", 1, 60)
    assert claimed.lease.execution_id == running
    store.beat("w1", {running: "sum"})
    queued = start_workflow("add", a=1, b=2)
    doing = {row["id"]: row["doing"] for row in list_workflows(limit=10)}
    assert doing[sleeping].startswith("ctx.sleep until ")
    assert doing[waiting].startswith("waiting for signal 'approve' until ")
    assert doing[backing_off].startswith("retrying flaky:1 at ")
    assert doing[failed] == "-"
    assert (doing[queued], doing[running]) == ("queued for a worker", "running sum")


def test_a_step_in_retry_backoff_keeps_its_last_error_and_a_failure_its_root_type():
    backing_off = start_workflow("retrying_slowly", fail_times=1)
    failed = start_workflow("fails_first_time")
    run_burst()
    row = WorkflowExecution.objects.get(pk=backing_off)
    assert (row.retry_step_id, row.retry_attempts, row.retry_max_attempts) == ("flaky:1", 1, 3)
    assert row.retry_error_type.endswith("Error") and row.retry_error_message
    assert "Traceback" in row.retry_error_traceback
    row = WorkflowExecution.objects.get(pk=failed)
    assert row.error_type == "django_durable.exceptions.StepFailed"
    assert row.root_error_type == "builtins.RuntimeError"
