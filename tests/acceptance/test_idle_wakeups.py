"""An idle worker process is woken by work started in another process, without polling."""

import time

import pytest

from django_durable import dialect, get_workflow, start_workflow
from django_durable.models import Status
from tests.conftest import start_and_time_first_step, wait_for

pytestmark = [pytest.mark.acceptance, pytest.mark.django_db(transaction=True)]


def test_an_idle_worker_runs_work_started_by_another_process_within_half_a_second(workers):
    if not (dialect.can_listen() or dialect.can_watch_commits()):
        pytest.skip("this database cannot wake idle workers of other processes: they poll")
    proc = workers.start(threads=2, env={"DURABLE_POLL_SECONDS": "5"})
    # One execution first: once it ran, the worker is up and has looked for work.
    first = start_workflow("add", a=1, b=2)
    wait_for(lambda: get_workflow(first).status == Status.COMPLETED, message="a first run")
    for pause in (0.5, 0.1, 1.3, 0.7, 0.2):
        time.sleep(pause)  # idle for a while: only a wake-up, not a poll, finds the work
        _eid, elapsed = start_and_time_first_step()
        assert elapsed < 0.5, f"after {pause} s idle, the first step ran after {elapsed:.2f} s"
    assert proc.poll() is None, workers.log(proc)
