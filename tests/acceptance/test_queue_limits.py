"""A queue's concurrency limit across real worker processes, and after one is SIGKILLed."""

import json
import threading
import time

import pytest
from django.db import close_old_connections
from django.utils import timezone

from django_durable import start_workflow
from django_durable.models import Status, StepResult, WorkflowExecution
from tests.conftest import wait_for

pytestmark = [pytest.mark.acceptance, pytest.mark.django_db(transaction=True)]


def queue_env(concurrency, **extra):
    queues = {"limited": {"concurrency": concurrency}, "emails": {}, "rated": {}}
    return {"DURABLE_TEST_QUEUES": json.dumps(queues), **extra}


class RunningSampler:
    """Counts, every few milliseconds, the executions of the queue that hold a live lease.

    A SIGKILLed worker's executions stay RUNNING until taken over, but their leases lapse:
    only live leases hold a slot.
    """

    def __init__(self, ids):
        self.ids = ids
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)

    def _run(self):
        try:
            while not self._stop.is_set():
                self.samples.append(
                    WorkflowExecution.objects.filter(
                        pk__in=self.ids, status=Status.RUNNING, lease_expires_at__gt=timezone.now()
                    ).count()
                )
                time.sleep(0.005)
        finally:
            close_old_connections()


def most_at_once(ids):
    """The largest number of the step bodies that overlapped in time (a sweep over their runs)."""
    edges = []
    for started, finished in StepResult.objects.filter(execution_id__in=ids).values_list(
        "started_at", "finished_at"
    ):
        edges += [(started, 1), (finished, -1)]
    peak = current = 0
    for _moment, change in sorted(edges, key=lambda edge: (edge[0], edge[1])):
        current += change
        peak = max(peak, current)
    return peak


def all_completed(ids):
    done = WorkflowExecution.objects.filter(pk__in=ids, status=Status.COMPLETED).count()
    return done == len(ids)


def test_three_workers_never_run_more_of_a_queue_at_once_than_its_limit(workers):
    ids = [start_workflow("queued_work", seconds=0.15) for _ in range(30)]
    for _ in range(3):
        workers.start(threads=4, env=queue_env(3))
    with RunningSampler(ids) as sampler:
        wait_for(lambda: all_completed(ids), timeout=90, message="every queued execution")
    # Twelve threads would run twelve at once; the queue lets three.
    assert most_at_once(ids) == 3
    assert max(sampler.samples) <= 3, max(sampler.samples)


def test_a_killed_workers_slots_come_back_when_its_leases_expire(workers):
    env = queue_env(2, DURABLE_LEASE_SECONDS="4", DURABLE_HEARTBEAT_SECONDS="1")
    ids = [start_workflow("queued_work", seconds=1.0) for _ in range(6)]
    with RunningSampler(ids) as sampler:
        first = workers.start(threads=4, env=env)
        wait_for(
            lambda: (
                WorkflowExecution.objects.filter(pk__in=ids, status=Status.RUNNING).count() == 2
            ),
            message="the first worker to take the queue's two slots",
        )
        workers.kill(first)
        killed_at = time.monotonic()
        workers.start(threads=4, env=env)
        wait_for(lambda: all_completed(ids), timeout=90, message="every queued execution")
    assert time.monotonic() - killed_at < 60
    assert max(sampler.samples) <= 2, max(sampler.samples)
    assert most_at_once(ids) <= 2
    # The two runs the kill interrupted ran again, elsewhere.
    assert WorkflowExecution.objects.filter(pk__in=ids, runs__gte=2).count() >= 2, list(
        WorkflowExecution.objects.filter(pk__in=ids).values_list("runs", flat=True)
    )
