"""The store's guarantees: claims, leases, fencing, takeover."""

import subprocess
import sys

import pytest

from django_durable import start_workflow, store
from django_durable.exceptions import _Abort
from django_durable.identity import host_key
from django_durable.models import Status, StepResult, WorkflowExecution
from django_durable.serialization import dumps
from django_durable.worker import expire_dead_local_owners

pytestmark = pytest.mark.django_db(transaction=True)


def _step(step_id="s:1"):
    return store.RecordedStep(step_id, "s", "COMPLETED", dumps(1))


def _take_over(execution_id, new_owner):
    """End the current lease as if it had timed out, and claim as ``new_owner``."""
    WorkflowExecution.objects.filter(pk=execution_id).update(
        lease_expires_at="2000-01-01T00:00:00Z"
    )
    (claimed,) = store.claim(new_owner, 1, 60)
    return claimed


def test_an_execution_is_claimed_by_one_owner_at_a_time():
    start_workflow("add", a=1, b=2)
    first = store.claim("A", 5, 60)
    assert len(first) == 1 and first[0].lease.epoch == 1
    assert store.claim("B", 5, 60) == []


def test_stale_worker_cannot_record_a_step_after_lease_takeover():
    eid = start_workflow("add", a=1, b=2)
    (stale,) = store.claim("A", 1, 60)
    fresh = _take_over(eid, "B")
    assert fresh.lease.epoch == stale.lease.epoch + 1
    with pytest.raises(_Abort):
        store.record_step(
            stale.lease, _step(), started_at=WorkflowExecution.objects.get().created_at
        )
    store.record_step(fresh.lease, _step(), started_at=WorkflowExecution.objects.get().created_at)
    assert StepResult.objects.filter(execution_id=eid).count() == 1


def test_stale_worker_cannot_finish_or_suspend_after_lease_takeover():
    eid = start_workflow("add", a=1, b=2)
    (stale,) = store.claim("A", 1, 60)
    _take_over(eid, "B")
    with pytest.raises(_Abort):
        store.finish(stale.lease, Status.COMPLETED, result=dumps(3))
    with pytest.raises(_Abort):
        store.suspend_on_timer(
            stale.lease, "ctx.sleep:1", "SLEEP", WorkflowExecution.objects.get().created_at
        )
    execution = WorkflowExecution.objects.get()
    assert execution.status == Status.RUNNING and execution.lease_owner == "B"


def test_canceled_execution_rejects_the_running_workers_step():
    eid = start_workflow("add", a=1, b=2)
    (claimed,) = store.claim("A", 1, 60)
    store.cancel(eid, "stop")
    with pytest.raises(_Abort):
        store.record_step(
            claimed.lease, _step(), started_at=WorkflowExecution.objects.get().created_at
        )
    assert not StepResult.objects.exists()


def test_renewing_reports_only_the_leases_still_held():
    eid1 = start_workflow("add", a=1, b=2)
    eid2 = start_workflow("add", a=1, b=2)
    claimed = store.claim("A", 2, 60)
    store.cancel(eid2)
    assert store.renew_leases([c.lease for c in claimed], 60) == {eid1}


def test_release_makes_an_execution_runnable_at_once():
    start_workflow("add", a=1, b=2)
    (claimed,) = store.claim("A", 1, 60)
    assert store.release(claimed.lease)
    (again,) = store.claim("B", 1, 60)
    assert again.lease.epoch == 2


def test_a_dead_worker_on_this_host_loses_its_leases_without_waiting_for_expiry():
    start_workflow("add", a=1, b=2)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    owner = f"{host_key()}:{dead.pid}:deadbeef"
    store.claim(owner, 1, 3600)
    assert store.claim("B", 1, 60) == []
    assert expire_dead_local_owners("me") == 1
    (taken,) = store.claim("B", 1, 60)
    assert taken.lease.owner == "B"


def test_a_live_worker_on_this_host_keeps_its_leases():
    import os

    start_workflow("add", a=1, b=2)
    store.claim(f"{host_key()}:{os.getpid()}:alive", 1, 3600)
    assert expire_dead_local_owners("me") == 0
