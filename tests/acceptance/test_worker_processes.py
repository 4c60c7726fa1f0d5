"""Real worker processes: SIGKILL in the middle of workflows, several workers sharing work."""

import signal
from collections import Counter

import pytest
from django.db.models import Count

from django_durable import get_workflow, start_workflow
from django_durable.models import (
    RunOutcome,
    Status,
    StepResult,
    WorkerProcess,
    WorkflowExecution,
    WorkflowRun,
)
from tests.conftest import FINAL, wait_for
from tests.testapp.models import Ledger, SideEffect

pytestmark = [pytest.mark.acceptance, pytest.mark.django_db(transaction=True)]


def _all_final(ids):
    return WorkflowExecution.objects.filter(pk__in=ids, status__in=FINAL).count() == len(ids)


def test_killed_worker_mid_workflow_resumes_without_rerunning_completed_steps(workers):
    n = 8
    ids = [start_workflow("mixed", n=n) for _ in range(3)]
    first = workers.start(threads=4)
    wait_for(
        lambda: StepResult.objects.filter(execution_id__in=ids).count() >= 9,
        message="steps to be recorded before the kill",
    )
    workers.kill(first)
    recorded_before_kill = set(
        StepResult.objects.filter(execution_id__in=ids).values_list("execution_id", "step_id")
    )
    assert recorded_before_kill and len(recorded_before_kill) < 3 * 2 * n

    second = workers.start(threads=4)
    wait_for(lambda: _all_final(ids), timeout=60, message="every execution to finish")
    assert second.poll() is None, workers.log(second)

    for eid in ids:
        info = get_workflow(eid)
        assert info.status == Status.COMPLETED, info.error
        assert info.result == sum(range(n))
        assert len(info.steps) == 2 * n
    runs = Counter(
        SideEffect.objects.filter(execution_id__in=ids).values_list("execution_id", "step")
    )
    for key in recorded_before_kill:
        if key[1].startswith("x"):
            assert runs[key] == 1, f"completed step {key} ran {runs[key]} times"
    # Only a step in flight at the kill may have run twice: at most one per execution.
    reruns = [key for key, count in runs.items() if count > 1]
    assert all(count <= 2 for count in runs.values())
    assert len(reruns) <= len(ids)
    # Atomic steps: exactly one ledger row each, even for those the kill interrupted.
    rows = Ledger.objects.filter(execution_id__in=ids).values("execution_id", "entry")
    per_entry = rows.annotate(c=Count("id")).values_list("c", flat=True)
    assert set(per_entry) == {1}
    assert Ledger.objects.filter(execution_id__in=ids).count() == 3 * n
    # The run log says what happened: the killed worker's runs died, the second finished.
    for eid in ids:
        outcomes = list(
            WorkflowRun.objects.filter(execution_id=eid).order_by("epoch").values_list("outcome")
        )
        assert outcomes[-1] == (RunOutcome.COMPLETED,)
    killed = WorkflowRun.objects.filter(execution_id__in=ids, outcome=RunOutcome.WORKER_DIED)
    assert killed.exists()
    assert all(f":{first.pid}:" in worker for worker in killed.values_list("worker", flat=True))
    # The worker table: the killed one never said it stopped (it shows as dead once its
    # heartbeat is a lease old); the live one is running.
    rows = {row.pid: row for row in WorkerProcess.objects.all()}
    assert rows[first.pid].stopped_at is None
    assert rows[second.pid].stopped_at is None


def test_two_workers_share_200_executions_and_none_runs_on_both(workers):
    ids = [start_workflow("steps", n=3) for _ in range(200)]
    one = workers.start(threads=4)
    two = workers.start(threads=4)
    wait_for(lambda: _all_final(ids), timeout=120, message="200 executions to finish")
    assert WorkflowExecution.objects.filter(pk__in=ids, status=Status.COMPLETED).count() == 200
    effects = SideEffect.objects.filter(execution_id__in=ids)
    assert effects.count() == 600  # every step body ran exactly once
    pids_per_execution = effects.values("execution_id").annotate(pids=Count("pid", distinct=True))
    assert {row["pids"] for row in pids_per_execution} == {1}
    used = set(effects.values_list("pid", flat=True))
    assert used <= {one.pid, two.pid}
    for proc in (one, two):
        assert proc.poll() is None, workers.log(proc)


def test_sigterm_stops_a_worker_gracefully_and_releases_nothing_half_done(workers):
    eid = start_workflow("steps", n=30, sleep=0.05)
    proc = workers.start(threads=1)
    wait_for(lambda: StepResult.objects.filter(execution_id=eid).count() >= 2, message="steps")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(40) == 0, workers.log(proc)
    assert "stopped" in workers.log(proc)
    execution = WorkflowExecution.objects.get(pk=eid)
    # Either it finished within the grace period or it was handed back for anyone to run.
    assert execution.status in (Status.COMPLETED, Status.PENDING)
    assert execution.lease_owner == ""
    proc = workers.start(threads=1, burst=True)
    assert proc.wait(60) == 0, workers.log(proc)
    assert WorkflowExecution.objects.get(pk=eid).status == Status.COMPLETED
    assert SideEffect.objects.filter(execution_id=eid).count() <= 31


def test_an_execution_held_by_a_dead_worker_on_another_host_is_taken_over_when_its_lease_expires(
    workers,
):
    from django_durable import store

    eid = start_workflow("steps", n=3)
    (claimed,) = store.claim("elsewhere/pid:[1]:4242:cafebabe", 1, lease_seconds=2)
    proc = workers.start(threads=2)
    # Another host's process cannot be checked from here: only the lease's end frees it.
    wait_for(lambda: WorkflowExecution.objects.get(pk=eid).status == Status.COMPLETED, timeout=30)
    execution = WorkflowExecution.objects.get(pk=eid)
    assert execution.lease_epoch == claimed.lease.epoch + 1
    assert (execution.finished_at - claimed_at(claimed)).total_seconds() >= 1.5
    assert proc.poll() is None


def claimed_at(claimed):
    return WorkflowExecution.objects.get(pk=claimed.lease.execution_id).started_at


def test_an_idle_worker_is_woken_by_the_database_when_it_can_listen(workers):
    import time

    from django_durable import dialect

    if not dialect.can_listen():
        pytest.skip("this database has no LISTEN/NOTIFY: idle workers poll")
    proc = workers.start(threads=1, env={"DURABLE_POLL_SECONDS": "30"})
    wait_for(lambda: "started" in workers.log(proc), message="the worker to start")
    time.sleep(0.5)  # let its first poll pass: from now on only a notification wakes it
    started = time.monotonic()
    eid = start_workflow("add", a=1, b=2)
    wait_for(lambda: get_workflow(eid).status == Status.COMPLETED, timeout=10)
    assert time.monotonic() - started < 5, "woken by polling, not by the notification"


def test_workers_starting_at_the_same_moment_all_register(workers):
    # Writers busy meanwhile: on SQLite a registration that read before writing failed with
    # "database is locked" when another write committed in between.
    import threading

    from django.db import close_old_connections

    stop = threading.Event()

    def keep_writing():
        try:
            while not stop.is_set():
                start_workflow("add", a=1, b=2)
        finally:
            close_old_connections()

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        procs = [workers.start(threads=1) for _ in range(6)]
        wait_for(
            lambda: WorkerProcess.objects.filter(pid__in=[p.pid for p in procs]).count() == 6,
            message="six worker rows",
        )
    finally:
        stop.set()
        writer.join(30)
    for proc in procs:
        assert "database is locked" not in workers.log(proc), workers.log(proc)
        assert proc.poll() is None
