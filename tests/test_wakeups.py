"""Wake-ups: a commit wakes the idle workers of its process; the SQLite commit watcher."""

import threading
import time
from contextlib import closing

import pytest
from django.db import connection, transaction
from django.test import override_settings

from django_durable import dialect, filewatch, get_workflow, start_workflow, wakeups
from django_durable.models import Status, WorkflowExecution
from django_durable.worker import Worker
from tests.conftest import start_and_time_first_step, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def woken():
    calls = []

    def callback():
        calls.append(time.monotonic())

    wakeups.subscribe(callback)
    yield calls
    wakeups.unsubscribe(callback)


def test_a_wake_up_is_sent_when_the_transaction_commits_and_not_before(woken):
    with transaction.atomic():
        dialect.notify_wake()
        assert woken == []
    assert len(woken) == 1


def test_a_rolled_back_transaction_wakes_nobody(woken):
    with pytest.raises(RuntimeError), transaction.atomic():
        dialect.notify_wake()
        raise RuntimeError("roll back")
    assert woken == []


def test_a_wake_up_outside_a_transaction_is_sent_at_once(woken):
    dialect.notify_wake()
    assert len(woken) == 1


def test_a_start_is_one_statement_that_wakes_workers_here_and_elsewhere(woken):
    statements = []
    listener = None
    if dialect.can_listen():
        # A worker of another process: LISTEN on a connection of its own.
        listener = connection.get_new_connection(connection.get_connection_params())
        listener.autocommit = True
        listener.execute(f"LISTEN {dialect.WAKE_CHANNEL}")
    connection.ensure_connection()  # its set-up statements are not the start's
    try:
        with connection.execute_wrapper(
            lambda execute, sql, *args: statements.append(sql) or execute(sql, *args)
        ):
            eid = start_workflow("steps", n=1)
        assert len(statements) == 1  # no BEGIN, NOTIFY or COMMIT of its own
        assert len(woken) == 1
        assert get_workflow(eid).status == Status.PENDING
        if listener is not None:
            channels = [n.channel for n in listener.notifies(timeout=5, stop_after=1)]
            assert channels == [dialect.WAKE_CHANNEL]
    finally:
        if listener is not None:
            listener.close()


def test_a_start_in_a_transaction_rolled_back_leaves_nothing_and_wakes_nobody(woken):
    with pytest.raises(RuntimeError), transaction.atomic():
        eid = start_workflow("steps", n=1)
        raise RuntimeError("roll back")
    assert woken == []
    assert not WorkflowExecution.objects.filter(pk=eid).exists()


@pytest.mark.parametrize("inotify", [True, False], ids=["inotify", "polling"])
def test_the_commit_watcher_sees_each_commit_of_another_connection(inotify, monkeypatch):
    if not dialect.can_watch_commits():
        pytest.skip("only a SQLite file has a commit watcher")
    if not inotify:
        monkeypatch.setattr(filewatch, "watch_writes", lambda paths: None)
    with closing(dialect.CommitWatcher()) as watcher:
        start_workflow("add", a=1, b=2)  # this thread's connection: another one
        assert watcher.committed()
        threading.Timer(0.2, watcher.interrupt).start()
        began = time.monotonic()
        assert not watcher.committed()  # nothing more: it waits until interrupted
        assert time.monotonic() - began < 2


def test_an_idle_worker_in_this_process_runs_a_new_execution_at_once(monkeypatch):
    # Only the in-process wake-up: no LISTEN (PostgreSQL), no commit watcher (SQLite file).
    monkeypatch.setattr(dialect, "can_listen", lambda: False)
    monkeypatch.setattr(dialect, "can_watch_commits", lambda: False)
    with override_settings(DURABLE_POLL_SECONDS=5):
        worker = Worker(threads=1)
        thread = threading.Thread(target=worker.run)
        thread.start()
        try:
            for _ in range(3):
                # Idle: the claim loop waits a poll interval (5 s) for its next look.
                wait_for(worker._idle.is_set, message="the worker to be idle")
                eid, elapsed = start_and_time_first_step()
                assert elapsed < 0.5, "found by polling, not woken"
                wait_for(lambda eid=eid: get_workflow(eid).status == Status.COMPLETED)
        finally:
            worker.stop()
            thread.join(30)
    # A stopped worker is no longer woken.
    assert worker._wake.set not in wakeups._callbacks


def test_an_idle_worker_stops_at_once_and_leaves_no_thread_behind():
    before = set(threading.enumerate())
    worker = Worker(threads=1)
    thread = threading.Thread(target=worker.run)
    thread.start()
    wait_for(worker._idle.is_set, message="the worker to be idle")
    worker.stop()
    thread.join(30)
    # The commit watcher (SQLite) or the listener (PostgreSQL) ended its wait at the stop.
    assert [t.name for t in set(threading.enumerate()) - before] == []
