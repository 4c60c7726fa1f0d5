"""Group commit on SQLite: writes of several threads that come at once share one commit.

Elsewhere each write goes to the database at once; the tests that say nothing is lost or
doubled, and that a lone write is durable when it returns, run on every database.
"""

import dataclasses
import sqlite3
import threading
import time

import pytest
from django.db import connection
from django.utils import timezone

from django_durable import dialect, start_workflow, store
from django_durable.models import Status, StepResult, StepStatus, WorkflowExecution
from django_durable.store import group_commit
from tests.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)
sqlite_only = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="SQLite's group commit: a shared transaction"
)


class Statements:
    """The statements each thread's connection ran, by their first word."""

    def __init__(self):
        self.words = []
        self._lock = threading.Lock()

    def __call__(self, execute, sql, params, many, context):
        with self._lock:
            self.words.append(sql.split()[0].upper())
        return execute(sql, params, many, context)

    def count(self, word):
        return self.words.count(word)


def other_connection():
    """A connection of the test database's own, outside Django (it sees committed rows)."""
    if connection.vendor == "sqlite":
        return sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    return connection.get_new_connection(connection.get_connection_params())


def committed_steps(execution_id):
    """Step ids recorded for an execution, read on a connection of its own (committed rows)."""
    other = other_connection()
    try:
        table = StepResult._meta.db_table
        placeholder = "?" if connection.vendor == "sqlite" else "%s"
        cursor = other.cursor()
        cursor.execute(
            f"SELECT step_id FROM {table} WHERE execution_id = {placeholder}", [execution_id]
        )
        rows = cursor.fetchall()
        if connection.vendor == "mysql":
            other.commit()  # ends its snapshot (REPEATABLE READ)
    finally:
        other.close()
    return {row[0] for row in rows}


def step(step_id):
    return store.RecordedStep(step_id, "s", StepStatus.COMPLETED, b"\xc0", attempts=1)


def in_thread(statements, outcomes, name, write):
    def run():
        try:
            with connection.execute_wrapper(statements):
                write()
            outcomes[name] = "ok"
        except BaseException as exc:  # noqa: BLE001 - the outcome is what the test checks
            outcomes[name] = type(exc).__name__
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@sqlite_only
def test_writes_that_come_together_share_one_commit_and_keep_their_own_fences():
    ids = [start_workflow("steps", n=1) for _ in range(6)]
    claimed = {c.lease.execution_id: c.lease for c in store.claim("W", 5, 60)}
    (still_pending,) = set(ids) - set(claimed)
    first, mine, taken, lost, finishing = (claimed[eid] for eid in ids if eid in claimed)
    store.record_step(taken, step("s:1"), timezone.now())  # another run recorded it first
    lost = dataclasses.replace(lost, epoch=lost.epoch + 1)  # its lease was taken over
    statements, outcomes = Statements(), {}

    # The first writer leads and, while it waits for the write lock, the others queue.
    dialect._sqlite_writer.acquire()
    try:
        threads = [
            in_thread(
                statements,
                outcomes,
                "first",
                lambda: store.record_step(first, step("s:1"), timezone.now()),
            )
        ]
        wait_for(lambda: group_commit._sqlite_writes.leading, message="a leader")
        threads += [
            in_thread(
                statements,
                outcomes,
                "mine",
                lambda: store.record_step(mine, step("s:1"), timezone.now()),
            ),
            in_thread(
                statements,
                outcomes,
                "taken",
                lambda: store.record_step(taken, step("s:1"), timezone.now()),
            ),
            in_thread(
                statements,
                outcomes,
                "lost",
                lambda: store.record_step(lost, step("s:1"), timezone.now()),
            ),
            in_thread(
                statements,
                outcomes,
                "finishing",
                lambda: store.finish(finishing, Status.COMPLETED, result=b"\xc0"),
            ),
            in_thread(statements, outcomes, "claiming", lambda: store.claim("W2", 1, 60)),
        ]
        wait_for(lambda: group_commit._sqlite_writes.waiting == 5, message="five writes queued")
        assert outcomes == {}
    finally:
        dialect._sqlite_writer.release()
    for thread in threads:
        thread.join(10)

    assert outcomes == {
        "first": "ok",
        "mine": "ok",
        "taken": "StepConflict",
        "lost": "_Abort",
        "finishing": "ok",
        "claiming": "ok",
    }
    # The lone first write committed by itself (autocommit); the five queued ones in one
    # transaction, the finish and the claim's take (several statements each) in savepoints of
    # their own; a failed step insert undoes itself.
    assert statements.count("BEGIN") == 1
    assert statements.count("SAVEPOINT") == 2
    assert committed_steps(first.execution_id) == {"s:1"}
    assert committed_steps(mine.execution_id) == {"s:1"}
    assert committed_steps(taken.execution_id) == {"s:1"}
    assert committed_steps(lost.execution_id) == set()
    statuses = dict(WorkflowExecution.objects.filter(pk__in=ids).values_list("id", "status"))
    assert statuses[finishing.execution_id] == Status.COMPLETED
    assert statuses[lost.execution_id] == Status.RUNNING  # its writes changed nothing
    assert WorkflowExecution.objects.get(pk=still_pending).lease_owner == "W2"


def test_a_lone_write_commits_at_once_and_is_durable_when_it_returns():
    eid = start_workflow("steps", n=1)
    (claimed,) = store.claim("W", 1, 60)
    statements = Statements()
    began = time.monotonic()
    with connection.execute_wrapper(statements):
        store.record_step(claimed.lease, step("s:1"), timezone.now())
    assert time.monotonic() - began < 0.5
    assert committed_steps(eid) == {"s:1"}
    assert statements.words == ["INSERT"]  # one autocommitted statement, as without batching


def test_many_threads_recording_at_once_lose_and_double_nothing():
    ids = [start_workflow("steps", n=1) for _ in range(4)]
    leases = [c.lease for c in store.claim("W", 4, 60)]
    statements, outcomes = Statements(), {}

    def record_many(lease):
        for n in range(1, 51):
            store.record_step(lease, step(f"s:{n}"), timezone.now())
            # Durable when it returns: another connection sees it at once.
            assert f"s:{n}" in committed_steps(lease.execution_id)

    threads = [
        in_thread(statements, outcomes, lease.execution_id, lambda lease=lease: record_many(lease))
        for lease in leases
    ]
    for thread in threads:
        thread.join(60)
    assert outcomes == {eid: "ok" for eid in ids}
    for eid in ids:
        assert committed_steps(eid) == {f"s:{n}" for n in range(1, 51)}
    if connection.vendor == "sqlite":
        # Fewer commits than steps: some writes shared a transaction.
        assert statements.count("BEGIN") > 0  # a lone write is autocommitted: no BEGIN
