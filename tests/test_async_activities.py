"""Async activities and steps: run to completion in the executor thread; ctx.gather."""

import time

import pytest

from django_durable import get_workflow, signal_workflow, start_workflow
from django_durable.models import Status, StepResult, WorkflowExecution
from django_durable.testing import reset_clock, run_until_idle
from tests.conftest import run_burst
from tests.testapp import durable_activities
from tests.testapp.durable_activities import ASYNC_CALLS

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def clean():
    ASYNC_CALLS.clear()
    durable_activities.FLAKY_ASYNC.clear()
    yield
    reset_clock()


def test_a_hundred_async_calls_gathered_take_about_as_long_as_one():
    eid = start_workflow("crawls", count=100, seconds=0.3)
    began = time.monotonic()
    run_until_idle()
    took = time.monotonic() - began
    assert get_workflow(eid).result["fetched"] == 100
    assert took < 3.0, took  # one after another: 30 s
    # Each call is a step of its own, with the ids run_activity would have given it.
    ids = set(StepResult.objects.filter(execution_id=eid).values_list("step_id", flat=True))
    assert ids == {f"fetch_page:{n}" for n in range(1, 102)}
    # One event loop, reused by every call made in this thread.
    assert len({loop for _url, loop in ASYNC_CALLS}) == 1


def test_a_rerun_calls_no_recorded_async_activity_again():
    eid = start_workflow("crawls_then_waits", count=5)
    run_until_idle()
    assert len(ASYNC_CALLS) == 5
    signal_workflow(eid, "go")
    run_until_idle()  # the rerun takes the five results from the record
    assert get_workflow(eid).result == 5
    assert len(ASYNC_CALLS) == 5


def test_gather_retries_times_out_and_runs_plain_activities_too():
    eid = start_workflow("gathers_mixed")
    run_until_idle()
    flaky, hung, email, page = get_workflow(eid).result
    assert flaky == 3  # the third attempt succeeded, inside the gather
    assert hung == "failed: django_durable.exceptions.StepTimeout"
    assert email == {"sent": True, "user_id": 5}
    assert page == {"url": "b", "status": 200}
    assert StepResult.objects.get(execution_id=eid, step_id="flaky_fetch:1").attempts == 3


def test_an_async_step_callable_runs_to_completion():
    eid = start_workflow("async_step", n=21)
    run_until_idle()
    assert get_workflow(eid).result == 42


def test_gather_refuses_anything_but_activity_calls():
    eid = start_workflow("gathers_wrong")
    run_until_idle()
    execution = WorkflowExecution.objects.get(pk=eid)
    assert execution.status == Status.FAILED
    assert execution.error_message.startswith("ctx.gather() takes calls made with ctx.activity(")


def test_a_worker_runs_async_activities_in_its_threads_with_their_timeouts():
    crawl = start_workflow("crawls", count=10, seconds=0.05)
    hung = start_workflow("waits_on_a_hung_call")
    began = time.monotonic()
    run_burst(threads=2)
    assert time.monotonic() - began < 10
    assert get_workflow(crawl).result["fetched"] == 10
    assert get_workflow(hung).result == "django_durable.exceptions.StepTimeout"
