"""A django.tasks task under SIGKILL: rerun if the kill lands mid-task, never once finished."""

import pytest

from django_durable.tasks import TaskResultStatus
from tests.conftest import wait_for
from tests.testapp import tasks
from tests.testapp.models import SideEffect

pytestmark = [pytest.mark.acceptance, pytest.mark.django_db(transaction=True)]


def test_a_task_killed_mid_run_runs_again_and_a_finished_one_never_does(workers):
    finished = tasks.records_and_sleeps.enqueue("finished-task", 0.0)
    interrupted = tasks.records_and_sleeps.enqueue("interrupted-task", 3.0)
    first = workers.start(threads=2)

    def state(result):
        result.refresh()
        return result.status

    wait_for(
        lambda: (
            state(finished) == TaskResultStatus.SUCCESSFUL
            and SideEffect.objects.filter(execution_id="interrupted-task").exists()
        ),
        message="one task finished and the other one running",
    )
    workers.kill(first)
    workers.start(threads=2)
    wait_for(
        lambda: state(interrupted) == TaskResultStatus.SUCCESSFUL,
        timeout=60,
        message="the interrupted task to run again and succeed",
    )
    assert interrupted.return_value == "interrupted-task"
    assert SideEffect.objects.filter(execution_id="interrupted-task").count() == 2
    assert interrupted.attempts == 2 and len(set(interrupted.worker_ids)) == 2
    assert SideEffect.objects.filter(execution_id="finished-task").count() == 1
    assert state(finished) == TaskResultStatus.SUCCESSFUL and finished.attempts == 1
