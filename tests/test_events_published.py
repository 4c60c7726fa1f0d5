"""ctx.set_event and get_event: the latest value per key, while an execution runs and after."""

import threading
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from django_durable import dialect, get_event, signal_workflow, start_workflow
from django_durable.exceptions import ExecutionNotFound, InvalidInput
from django_durable.models import EventValue, Status, StepResult
from tests.conftest import run_burst, start_worker_thread, status_of

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_latest_value_per_key_is_readable_while_running_and_after_the_end():
    eid = start_workflow("reports_progress", total=3)
    assert get_event(eid, "progress") is None  # nothing yet, no wait by default
    run_burst()
    assert status_of(eid) == Status.WAITING
    assert get_event(eid, "progress") == {"done": 3, "of": 3}
    assert get_event(eid, "link") == "https://pay.example/42"
    signal_workflow(eid, "go")
    run_burst()
    assert status_of(eid) == Status.COMPLETED
    assert get_event(eid, "progress") == "finished"
    assert get_event(eid, "never-set", timeout=5) is None  # ended: no wait
    # One row per key; each set_event is a step of its own, memoized.
    assert EventValue.objects.filter(execution_id=eid).count() == 2
    names = StepResult.objects.filter(execution_id=eid).values_list("step_id", flat=True)
    assert [n for n in names if n.startswith("ctx.set_event:progress")] == [
        f"ctx.set_event:progress:{n}" for n in range(1, 5)
    ]


def test_get_event_waits_for_a_value_without_holding_a_run():
    eid = start_workflow("reports_progress", total=1)
    worker, thread = start_worker_thread(threads=1)
    try:
        assert get_event(eid, "link", timeout=30) == "https://pay.example/42"
    finally:
        thread.join(30)
    assert not thread.is_alive()


def test_a_rerun_publishes_nothing_again():
    eid = start_workflow("reports_progress", total=2)
    run_burst()
    before = list(EventValue.objects.filter(execution_id=eid).values_list("updated_at"))
    signal_workflow(eid, "go")
    run_burst()  # the rerun replays every set_event from the record
    link = EventValue.objects.get(execution_id=eid, key="link")
    assert (link.updated_at,) in before


def test_get_event_refuses_bad_keys_and_unknown_executions():
    with pytest.raises(ExecutionNotFound):
        get_event("missing", "progress")
    eid = start_workflow("reports_progress", total=1)
    with pytest.raises(InvalidInput, match=r"^an event key must be a non-empty string"):
        get_event(eid, "")
    with pytest.raises(InvalidInput, match=r"must not contain NUL"):
        get_event(eid, "a\x00b")


@pytest.mark.skipif(not dialect.can_listen(), reason="LISTEN/NOTIFY is PostgreSQL's")
def test_get_event_listens_for_the_value_instead_of_polling_on_postgresql():
    eid = start_workflow("reports_progress", total=1)
    run_burst()  # WAITING for "go", never publishes "other"
    with CaptureQueriesContext(connection) as queries:
        began = time.monotonic()
        assert get_event(eid, "other", timeout=1.5) is None
    assert time.monotonic() - began >= 1.5
    # Two looks (value, status) on entry and one pair a second: polling would make ~20.
    assert len(queries) <= 8, [q["sql"] for q in queries.captured_queries]


def test_get_event_returns_soon_after_the_value_is_published():
    eid = start_workflow("publishes_after_signal")
    run_burst()

    def go():
        try:
            signal_workflow(eid, "go")
            run_burst()
        finally:
            connection.close()

    timer = threading.Timer(0.5, go)
    timer.start()
    try:
        began = time.monotonic()
        assert get_event(eid, "answer", timeout=20) == 42
        assert time.monotonic() - began < 10
    finally:
        timer.join(30)
