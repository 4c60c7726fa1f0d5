"""The store's guarantees: claims, leases, fencing, takeover."""

import datetime as dt
import subprocess
import sys

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_durable import dialect, start_workflow, store
from django_durable.exceptions import _Abort
from django_durable.identity import owner_name
from django_durable.models import RunOutcome, Status, StepResult, WorkflowExecution, WorkflowRun
from django_durable.serialization import dumps
from django_durable.upkeep import expire_dead_local_owners

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


def test_a_claim_takes_several_executions_in_one_update_each_at_its_own_epoch():
    ids = [start_workflow("add", a=i, b=1) for i in range(3)]
    claimed = store.claim("A", 5, 60)
    assert sorted(c.lease.execution_id for c in claimed) == sorted(ids)
    assert {c.lease.epoch for c in claimed} == {1}
    rows = WorkflowExecution.objects.filter(pk__in=ids)
    assert {(r.status, r.lease_owner, r.lease_epoch, r.runs) for r in rows} == {
        (Status.RUNNING, "A", 1, 1)
    }
    assert all(r.started_at is not None for r in rows)


def test_a_candidate_changed_since_it_was_read_is_left_out_of_the_claim():
    # Where rows cannot be locked, another worker may take a candidate between the read and
    # the update: the update then changes fewer rows, and only the others are claimed.
    from django_durable.store import claims

    ids = [start_workflow("add", a=i, b=1) for i in range(3)]
    rows = list(
        WorkflowExecution.objects.filter(pk__in=ids)
        .order_by("created_at")
        .values_list(*claims._CLAIM_COLUMNS)
    )
    (taken_by_b,) = store.claim("B", 1, 60)
    with transaction.atomic():
        claimed = claims._take(rows, "A", 60, timezone.now())
    assert sorted(c.lease.execution_id for c in claimed) == sorted(
        set(ids) - {taken_by_b.lease.execution_id}
    )
    assert WorkflowExecution.objects.get(pk=taken_by_b.lease.execution_id).lease_owner == "B"


def test_a_lease_renewed_after_the_candidates_were_read_is_not_taken_over():
    # On SQLite the candidates are read before the write transaction: a heartbeat that
    # renews the lease in between keeps the epoch, and must still win.
    from django_durable.store import claims

    eid = start_workflow("add", a=1, b=2)
    (held,) = store.claim("A", 1, 60)
    WorkflowExecution.objects.filter(pk=eid).update(lease_expires_at="2000-01-01T00:00:00Z")
    rows = claims._candidates(5, timezone.now(), lock=False)
    assert [row[0] for row in rows] == [eid]
    assert store.renew_leases([held.lease], 60) == {eid}
    with transaction.atomic():
        assert claims._take(rows, "B", 60, timezone.now()) == []
    execution = WorkflowExecution.objects.get(pk=eid)
    assert (execution.lease_owner, execution.lease_epoch) == ("A", held.lease.epoch)


def test_a_lease_is_taken_over_only_once_it_has_been_expired_for_the_grace():
    # A stall of the database delays the holder's heartbeat and a taker alike; the grace
    # lets the heartbeat, queued first, renew before anyone takes the run over.
    eid = start_workflow("add", a=1, b=2)
    (held,) = store.claim("A", 1, 60)
    now = timezone.now()
    expired = WorkflowExecution.objects.filter(pk=eid)
    expired.update(lease_expires_at=now - store.TAKEOVER_GRACE / 2)
    assert store.claim("B", 1, 60) == []
    assert not store.has_runnable()
    expired.update(lease_expires_at=now - store.TAKEOVER_GRACE * 2)
    (taken,) = store.claim("B", 1, 60)
    assert taken.lease.epoch == held.lease.epoch + 1


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


def test_recording_a_step_twice_conflicts_with_or_without_query_logging():
    eid = start_workflow("add", a=1, b=2)
    (held,) = store.claim("A", 1, 60)
    started = WorkflowExecution.objects.get().created_at
    store.record_step(held.lease, _step(), started_at=started)
    with pytest.raises(store.StepConflict):
        store.record_step(held.lease, _step(), started_at=started)  # the driver's cursor
    with CaptureQueriesContext(connection) as queries:  # Django's cursor, which logs
        with pytest.raises(store.StepConflict):
            store.record_step(held.lease, _step(), started_at=started)
        store.record_step(held.lease, _step("s:2"), started_at=started)
    assert any("INSERT" in (query["sql"] or "") for query in queries)
    steps = StepResult.objects.filter(execution_id=eid).order_by("step_id")
    assert [s.step_id for s in steps] == ["s:1", "s:2"]
    assert all(s.started_at == started and s.finished_at >= started for s in steps)


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
    owner = owner_name(dead.pid, "deadbeef")
    store.claim(owner, 1, 3600)
    assert store.claim("B", 1, 60) == []
    assert expire_dead_local_owners("me") == 1
    (taken,) = store.claim("B", 1, 60)
    assert taken.lease.owner == "B"


def test_a_live_worker_on_this_host_keeps_its_leases():
    import os

    start_workflow("add", a=1, b=2)
    store.claim(owner_name(os.getpid(), "alive"), 1, 3600)
    assert expire_dead_local_owners("me") == 0


def test_a_step_row_holds_its_outcome_though_the_statement_writes_some_columns_itself():
    eid = start_workflow("add", a=1, b=2)
    (held,) = store.claim("A", 1, 60)
    started = WorkflowExecution.objects.get().created_at
    completed = store.RecordedStep("ok:1", "ok", "COMPLETED", dumps(7), attempts=2, arguments="7")
    store.record_step(held.lease, completed, started)
    message = "it's 100% \\ wrong"  # a quote, a '%' and a backslash, sent as a parameter
    failed = store.RecordedStep("bad:1", "bad", "FAILED", None, "ValueError", message, "Tb", 3)
    store.record_step(held.lease, failed, started)
    rows = {row.step_id: row for row in StepResult.objects.filter(execution_id=eid)}
    ok, bad = rows["ok:1"], rows["bad:1"]
    assert (ok.name, ok.status, ok.attempts, ok.arguments) == ("ok", "COMPLETED", 2, "7")
    assert bytes(ok.result) == dumps(7)
    assert ok.error_type == ok.error_message == ok.error_traceback == ""
    assert (bad.name, bad.status, bad.result, bad.attempts) == ("bad", "FAILED", None, 3)
    assert (bad.error_type, bad.error_message, bad.error_traceback) == ("ValueError", message, "Tb")
    assert ok.started_at == bad.started_at == started


def test_only_the_engines_constants_are_written_into_sql_as_literals():
    assert dialect.string_literal("") == "''"
    assert dialect.string_literal("it's") == "'it''s'"
    for unsafe in ("100%", "a\\b"):
        with pytest.raises(ValueError, match="not a constant"):
            dialect.string_literal(unsafe)


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="prepared statements: PostgreSQL (psycopg 3)"
)
@pytest.mark.parametrize("prepare_threshold", [None, 0])
def test_the_step_insert_is_prepared_when_the_project_allows_prepared_statements(
    prepare_threshold,
):
    from django_durable import run_workflow

    options = connection.settings_dict.setdefault("OPTIONS", {})
    saved = dict(options)
    options["prepare_threshold"] = prepare_threshold
    connection.close()  # the threshold is a connection parameter
    try:
        assert run_workflow("steps", n=3) == 3
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement FROM pg_prepared_statements")
            prepared = [row[0] for row in cursor.fetchall()]
    finally:
        options.clear()
        options.update(saved)
        connection.close()
    step_inserts = [
        s for s in prepared if s.startswith(f'INSERT INTO "{StepResult._meta.db_table}"')
    ]
    assert len(step_inserts) == (0 if prepare_threshold is None else 1), prepared
    assert StepResult.objects.count() == 3


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    not connection.features.has_select_for_update, reason="SQLite has one writer: no deadlocks"
)
def test_a_real_deadlock_is_recognized_as_one():
    import threading

    from django.db import DatabaseError, close_old_connections, transaction

    from django_durable import dialect, start_workflow
    from django_durable.models import WorkflowExecution

    first, second = start_workflow("add", a=1, b=1), start_workflow("add", a=2, b=2)
    both_locked = threading.Barrier(2, timeout=10)
    errors = []

    def lock(one, other):
        try:
            with transaction.atomic():
                WorkflowExecution.objects.filter(pk=one).update(runs=7)
                both_locked.wait()
                WorkflowExecution.objects.filter(pk=other).update(runs=7)
        except DatabaseError as exc:
            errors.append(exc)
        finally:
            close_old_connections()

    threads = [
        threading.Thread(target=lock, args=(first, second)),
        threading.Thread(target=lock, args=(second, first)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(errors) == 1 and dialect.is_deadlock(errors[0]), errors
    assert not dialect.is_deadlock(DatabaseError("something else"))


@pytest.mark.parametrize(
    "moment",
    [
        dt.datetime(2026, 12, 4, 13, 56, 21, 552241, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 4, 13, 56, 21, tzinfo=dt.UTC),  # no microseconds
        dt.datetime(1999, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC),
    ],
)
def test_the_hot_paths_datetime_is_what_django_would_store(moment):
    # The step insert converts its times itself (SQLite: without Django's settings lookups);
    # a row it writes must read and sort like one the ORM wrote.
    connection.ensure_connection()
    ours = dialect.adapt_datetime(connection, moment)
    assert ours == connection.ops.adapt_datetimefield_value(moment)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="one statement: PostgreSQL's WITH")
def test_a_claim_on_postgresql_is_one_statement_and_ends_the_run_it_takes_over():
    eid = start_workflow("steps", n=1)
    (first,) = store.claim("worker-a", 1, 60)
    expired = timezone.now() - dt.timedelta(seconds=5)  # past the takeover grace
    WorkflowExecution.objects.filter(pk=eid).update(lease_expires_at=expired)
    with CaptureQueriesContext(connection) as queries:
        (second,) = store.claim("worker-b", 4, 60)
    assert len(queries) == 1
    assert second.lease.epoch == first.lease.epoch + 1 and not second.first_run
    runs = WorkflowRun.objects.filter(execution_id=eid).order_by("epoch")
    assert [(run.epoch, run.worker, run.outcome) for run in runs] == [
        (first.lease.epoch, "worker-a", RunOutcome.WORKER_DIED),
        (second.lease.epoch, "worker-b", ""),
    ]
    assert "taken over by worker-b" in runs[0].detail
    row = WorkflowExecution.objects.get(pk=eid)
    assert (row.status, row.lease_owner, row.runs) == (Status.RUNNING, "worker-b", 2)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's AUTOINCREMENT")
def test_step_and_run_ids_are_sqlite_row_ids_still_given_in_order():
    execution_id = start_workflow("add", a=1, b=2)
    (claimed,) = store.claim("A", 1, 60)
    for n in range(1, 4):
        store.record_step(claimed.lease, _step(f"s:{n}"), timezone.now())
    with connection.cursor() as cursor:
        for model in (StepResult, WorkflowRun):
            cursor.execute("SELECT sql FROM sqlite_master WHERE name = %s", [model._meta.db_table])
            assert "AUTOINCREMENT" not in cursor.fetchone()[0]
    ids = list(StepResult.objects.filter(execution_id=execution_id).values_list("id", "step_id"))
    assert [step_id for _, step_id in sorted(ids)] == ["s:1", "s:2", "s:3"]
    # The newest step deleted (a retry forgets failed steps): the next one still comes last.
    StepResult.objects.filter(execution_id=execution_id, step_id="s:3").delete()
    store.record_step(claimed.lease, _step("s:4"), timezone.now())
    ids = sorted(StepResult.objects.filter(execution_id=execution_id).values_list("id", "step_id"))
    assert [step_id for _, step_id in ids] == ["s:1", "s:2", "s:4"]
