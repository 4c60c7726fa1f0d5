"""Child workflows under SIGKILL: a fan-out whose workers die loses and duplicates nothing."""

from collections import Counter

import pytest

from django_durable import get_workflow, start_workflow
from django_durable.models import Status, StepResult, WorkflowExecution
from tests.conftest import wait_for
from tests.testapp.models import SideEffect

pytestmark = [pytest.mark.acceptance, pytest.mark.django_db(transaction=True)]


def test_a_fan_out_survives_its_workers_being_killed_twice(workers):
    n = 24
    eid = start_workflow("fans_out_slowly", n=n, seconds=0.3)
    children = WorkflowExecution.objects.filter(parent=eid)
    first = workers.start(threads=4)
    wait_for(
        lambda: StepResult.objects.filter(execution__parent=eid).count() >= 4,
        message="some children to complete before the first kill",
    )
    workers.kill(first)  # the parent WAITING, children done, running and pending
    second = workers.start(threads=4)
    wait_for(
        lambda: StepResult.objects.filter(execution__parent=eid).count() >= 12,
        message="more children to complete before the second kill",
    )
    workers.kill(second)
    workers.start(threads=4)
    workers.start(threads=4)
    wait_for(
        lambda: WorkflowExecution.objects.filter(pk=eid, status=Status.COMPLETED).exists(),
        timeout=120,
        message="the parent to complete",
    )
    assert get_workflow(eid).result == sum(range(n))
    # Started once each (the start is memoized with the parent's step), all completed.
    assert children.count() == n
    assert set(children.values_list("status", flat=True)) == {Status.COMPLETED}
    # A child's body ran again only if a kill interrupted it: at most twice, at most two kills'
    # worth (4 threads each); the parent's own steps ran once.
    bodies = Counter(
        SideEffect.objects.filter(execution_id__in=children.values("id")).values_list(
            "execution_id", flat=True
        )
    )
    assert len(bodies) == n and max(bodies.values()) <= 2
    assert sum(1 for count in bodies.values() if count == 2) <= 8
    parent_steps = Counter(
        SideEffect.objects.filter(execution_id=eid).values_list("step", flat=True)
    )
    assert parent_steps == {"before": 1, "after": 1}


def test_a_waiting_parent_and_child_outlive_their_killed_worker(workers):
    eid = start_workflow("parent_runs_child", a=4, b=5, wait="go")
    first = workers.start(threads=2)
    wait_for(
        lambda: (
            WorkflowExecution.objects.filter(pk=eid, status=Status.WAITING).exists()
            and WorkflowExecution.objects.filter(parent=eid, status=Status.WAITING).exists()
        ),
        message="parent and child both waiting",
    )
    workers.kill(first)
    child = WorkflowExecution.objects.get(parent=eid)
    from django_durable import signal_workflow

    signal_workflow(child.id, "go")
    workers.start(threads=2)
    wait_for(
        lambda: WorkflowExecution.objects.filter(pk=eid, status=Status.COMPLETED).exists(),
        timeout=60,
        message="the parent to complete",
    )
    assert get_workflow(eid).result == {"child": child.id, "total": 18}
