"""Executions: create, claim, renew and release leases, finish, cancel."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections
from django.db.models import Q

from .. import clock, dialect, queues, step_ids
from ..exceptions import ExecutionConflict, ExecutionFinished, ExecutionNotFound, _Abort
from ..models import (
    FINAL_STATUSES,
    LIVE_STATUSES,
    QueueLock,
    RunOutcome,
    Status,
    Timer,
    TimerKind,
    WorkflowExecution,
)
from . import runs
from .types import ClaimedExecution, Lease

Executions = WorkflowExecution.objects


def create_execution(
    workflow_name: str,
    input_data: bytes,
    *,
    execution_id: str | None = None,
    timeout: float | None = None,
    owner: str | None = None,
    lease_seconds: float = 60.0,
    queue: str = "default",
    priority: int = 0,
) -> tuple[str, bool]:
    """Insert a new execution; return its id and whether it was created.

    A given ``execution_id`` makes the start idempotent: if it exists for the same workflow,
    nothing is written. With ``owner``, the execution starts already claimed by that owner.
    """
    execution_id = execution_id or str(uuid.uuid4())
    now = clock.now()
    row = new_execution(execution_id, workflow_name, input_data, now, timeout, queue, priority)
    if owner:
        row.status = Status.RUNNING
        row.lease_owner = owner
        row.lease_epoch = 1
        row.lease_expires_at = now + dt.timedelta(seconds=lease_seconds)
        row.runs = 1
        row.started_at = now
    conn = connections[DEFAULT_DB_ALIAS]
    # Built before the transaction: on SQLite every writer waits while it is open.
    values = [field.get_db_prep_save(getattr(row, field.attname), conn) for field in _FIELDS]
    try:
        with dialect.write_transaction(), conn.cursor() as cursor:
            cursor.execute(_insert_sql(conn.vendor), values)
            if owner:
                runs.open_runs(cursor, [(execution_id, 1)], owner, now)
            else:
                dialect.notify_wake()
            if row.deadline_at:
                Timer.objects.create(
                    execution_id=execution_id,
                    step_id=step_ids.WORKFLOW_TIMEOUT,
                    kind=TimerKind.WORKFLOW_TIMEOUT,
                    due_at=row.deadline_at,
                    created_at=now,
                )
    except IntegrityError:
        existing = (
            Executions.filter(pk=execution_id).values_list("workflow_name", flat=True).first()
        )
        if existing is None:
            raise
        if existing != workflow_name:
            raise ExecutionConflict(execution_id, existing, workflow_name) from None
        return execution_id, False
    return execution_id, True


_FIELDS = WorkflowExecution._meta.concrete_fields


def new_execution(
    execution_id: str,
    workflow_name: str,
    input_data: bytes,
    now: dt.datetime,
    timeout: float | None,
    queue: str,
    priority: int,
    parent: str = "",
) -> WorkflowExecution:
    """A pending execution row, not saved."""
    return WorkflowExecution(
        id=execution_id,
        workflow_name=workflow_name,
        input=input_data,
        created_at=now,
        updated_at=now,
        deadline_at=now + dt.timedelta(seconds=timeout) if timeout else None,
        queue=queue,
        priority=priority,
        parent=parent,
    )


@functools.lru_cache(maxsize=4)
def _insert_sql(vendor: str) -> str:
    q = connection.ops.quote_name
    columns = ", ".join(q(field.column) for field in _FIELDS)
    placeholders = ", ".join(["%s"] * len(_FIELDS))
    return f"INSERT INTO {q(WorkflowExecution._meta.db_table)} ({columns}) VALUES ({placeholders})"


# A lease is taken over only once it has been expired this long. When the database itself
# stalls (SQLite's write lock held by another process, a server pause), the holder's
# heartbeat and a would-be taker both wait, and at the end of the stall the heartbeat, queued
# first, gets through within milliseconds: this keeps a stall from handing a run in the
# middle of a step to another worker. A dead holder is taken over a second later.
TAKEOVER_GRACE = dt.timedelta(seconds=1)


def _runnable(now: dt.datetime) -> Q:
    return Q(status=Status.PENDING) | Q(
        status=Status.RUNNING, lease_expires_at__lt=now - TAKEOVER_GRACE
    )


_CLAIM_COLUMNS = (
    "id",
    "status",
    "lease_epoch",
    "workflow_name",
    "input",
    "deadline_at",
    "retry_step_id",
    "retry_attempts",
    "runs",
    "forked_from",
    "started_at",
    "parent",
    "awaited",
)
_STARTED = _CLAIM_COLUMNS.index("started_at")


def claim(
    owner: str,
    limit: int,
    lease_seconds: float,
    skip_workflows: frozenset[str] = frozenset(),
    served_queues: frozenset[str] | None = None,
    *,
    apply_limits: bool = True,
) -> list[ClaimedExecution]:
    """Claim up to ``limit`` runnable executions (pending, or with an expired lease).

    Executions of the workflows in ``skip_workflows`` (those this worker cannot run) are
    left for others; with ``served_queues``, only executions of those queues are taken.
    Pending executions are taken by priority, then age. Queues with a limit come first,
    each within its limit (see :func:`_claim_limited`); ``apply_limits=False`` ignores the
    limits (the test harness).

    Candidates are taken with one compare-and-set on their epochs, which is what makes the
    claim correct on every database. Where rows can be locked and skipped, the candidates
    are read in the same transaction, locked, so concurrent workers pick different rows.
    Elsewhere (SQLite) they are read first, outside the write transaction, so that the
    database's single write lock is held for the update alone, and an idle poll takes no
    write lock at all.
    """
    if limit <= 0:
        return []
    now = clock.now()
    all_limited = queues.limited() if apply_limits else []
    limited = [q for q in all_limited if served_queues is None or q.name in served_queues]
    claimed: list[ClaimedExecution] = []
    if limited:
        claimed = _claim_limited(limited, owner, limit, lease_seconds, skip_workflows, now)
        limit -= len(claimed)
        if limit <= 0:
            return claimed
    scope = _Scope(
        skip=skip_workflows,
        served=served_queues,
        excluded=frozenset(q.name for q in all_limited),
    )
    if scope.served is not None and not scope.served - scope.excluded:
        return claimed  # every queue served has a limit: claimed above
    if connection.features.has_select_for_update_skip_locked:
        with dialect.write_transaction():
            rows = _candidates(limit, now, lock=True, scope=scope)
            return claimed + _take(rows, owner, lease_seconds, now)
    rows = _candidates(limit, now, lock=False, scope=scope)
    if not rows:
        return claimed
    with dialect.write_transaction():
        return claimed + _take(rows, owner, lease_seconds, now)


@dataclass(frozen=True)
class _Scope:
    """Which runnable executions a claim may take."""

    skip: frozenset[str] = frozenset()  # workflows this worker cannot run
    served: frozenset[str] | None = None  # queues this worker serves (None: all)
    excluded: frozenset[str] = frozenset()  # queues claimed elsewhere (the limited ones)
    queue: str | None = None  # only this queue
    new_starts: bool = True  # False: only executions that have started before

    def narrow(self, rows):
        if self.skip:
            rows = rows.exclude(workflow_name__in=sorted(self.skip))
        if self.queue is not None:
            rows = rows.filter(queue=self.queue)
        elif self.served is not None:
            rows = rows.filter(queue__in=sorted(self.served - self.excluded))
        elif self.excluded:
            rows = rows.exclude(queue__in=sorted(self.excluded))
        if not self.new_starts:
            rows = rows.filter(started_at__isnull=False)
        return rows


def _claim_limited(limited, owner, limit, lease_seconds, skip, now) -> list[ClaimedExecution]:
    """Claim from the queues with a limit, each within what its limit allows now.

    One transaction per queue, which first locks the queue's row, so that two workers count
    its running executions one after the other and cannot both take its last slot. A dead
    worker's executions stop counting when their lease expires. Executions resuming (they
    started before) do not count against the rate limit: it limits starts.
    """
    lock_rows = connection.features.has_select_for_update
    claimed: list[ClaimedExecution] = []
    for queue in limited:
        wanted = limit - len(claimed)
        if wanted <= 0:
            break
        with dialect.write_transaction():
            if lock_rows:
                _lock_queue(queue.name)
            in_queue = Executions.filter(queue=queue.name)
            if queue.concurrency:
                running = in_queue.filter(
                    status=Status.RUNNING, lease_expires_at__gte=now - TAKEOVER_GRACE
                ).count()
                wanted = min(wanted, queue.concurrency - running)
            starts_left = wanted
            if queue.rate_count:
                since = now - dt.timedelta(seconds=queue.rate_seconds)
                starts_left = queue.rate_count - in_queue.filter(started_at__gte=since).count()
            if wanted <= 0:
                continue
            scope = _Scope(skip=skip, queue=queue.name, new_starts=starts_left > 0)
            rows = []
            for row in _candidates(wanted, now, lock=lock_rows, scope=scope):
                if row[_STARTED] is None:
                    if starts_left <= 0:
                        continue
                    starts_left -= 1
                rows.append(row)
            claimed += _take(rows, owner, lease_seconds, now)
    return claimed


def _lock_queue(name: str) -> None:
    locked = QueueLock.objects.select_for_update().filter(name=name)
    if not locked.exists():
        QueueLock.objects.bulk_create([QueueLock(name=name)], ignore_conflicts=True)
        locked.exists()  # a fresh queryset each time: evaluated again, now locking the row


def _candidates(limit: int, now: dt.datetime, *, lock: bool, scope: _Scope = _Scope()) -> list:
    # Two queries, each served in order by an index: a single OR would make MySQL scan and
    # sort every runnable row, locking all of them before the LIMIT.
    pending = scope.narrow(Executions.filter(status=Status.PENDING)).order_by(
        "priority", "created_at"
    )
    expired = scope.narrow(
        Executions.filter(status=Status.RUNNING, lease_expires_at__lt=now - TAKEOVER_GRACE)
    ).order_by("lease_expires_at")
    rows: list[tuple] = []
    for candidates in (pending, expired):
        wanted = limit - len(rows)
        if wanted <= 0:
            break
        if lock:
            candidates = candidates.select_for_update(skip_locked=True)
        rows += candidates.values_list(*_CLAIM_COLUMNS)[:wanted]
    return rows


def claim_one(
    execution_ids: list[str], owner: str, lease_seconds: float
) -> ClaimedExecution | None:
    """Claim one of these executions that is runnable now (``run_workflow``: its execution
    and that one's children), whatever its queue's limits."""
    now = clock.now()
    with dialect.write_transaction():
        rows = list(
            Executions.filter(_runnable(now), pk__in=execution_ids)
            .order_by("created_at")
            .values_list(*_CLAIM_COLUMNS)[:1]
        )
        taken = _take(rows, owner, lease_seconds, now)
    return taken[0] if taken else None


def _take(
    rows: list[tuple], owner: str, lease_seconds: float, now: dt.datetime
) -> list[ClaimedExecution]:
    """Take the candidate rows in one ``UPDATE``, each only at the epoch it was read at."""
    if not rows:
        return []
    conn = connections[DEFAULT_DB_ALIAS]
    adapt = conn.ops.adapt_datetimefield_value
    params = [
        Status.RUNNING.value,
        owner,
        adapt(now + dt.timedelta(seconds=lease_seconds)),
        adapt(now),
        adapt(now),
        Status.PENDING.value,
        adapt(now - TAKEOVER_GRACE),
    ]
    for row in rows:
        params += row[:3]
    with dialect.statement_cursor(conn) as cursor:
        cursor.execute(_take_sql(conn.vendor, len(rows)), params)
        taken = cursor.rowcount
        if taken != len(rows):
            # Only where rows cannot be locked: another worker took some of them in between.
            # Which ones are ours is what the epochs now say.
            ours = set(
                Executions.filter(
                    pk__in=[row[0] for row in rows], lease_owner=owner, status=Status.RUNNING
                ).values_list("id", "lease_epoch")
            )
            rows = [row for row in rows if (row[0], row[2] + 1) in ours]
        taken_over = [row[0] for row in rows if row[1] == Status.RUNNING]
        if taken_over:
            runs.end_open_runs(
                taken_over,
                RunOutcome.WORKER_DIED,
                f"its lease expired without renewal; taken over by {owner}",
            )
        runs.open_runs(cursor, [(row[0], row[2] + 1) for row in rows], owner, now)
    return [
        ClaimedExecution(
            Lease(eid, epoch + 1, owner, bool(parent) or awaited),
            name,
            bytes(data),
            deadline,
            retry_step,
            retry_attempts,
            # A fork starts with the steps it copied: its first run must load them.
            first_run=runs == 0 and not forked_from,
        )
        for (
            eid,
            _status,
            epoch,
            name,
            data,
            deadline,
            retry_step,
            retry_attempts,
            runs,
            forked_from,
            _started,
            parent,
            awaited,
        ) in rows
    ]


# The run loop's own writes (claim, finish) are plain SQL built once: the ORM spent about
# 120 µs compiling each of them, inside SQLite's write lock, which every writer waits for.


@functools.lru_cache(maxsize=64)
def _take_sql(vendor: str, count: int) -> str:
    q = connection.ops.quote_name
    at_epoch = f"({q('id')} = %s AND {q('status')} = %s AND {q('lease_epoch')} = %s)"
    return (
        f"UPDATE {q(WorkflowExecution._meta.db_table)} SET {q('status')} = %s, "
        f"{q('lease_owner')} = %s, {q('lease_epoch')} = {q('lease_epoch')} + 1, "
        f"{q('lease_expires_at')} = %s, {q('runs')} = {q('runs')} + 1, "
        f"{q('started_at')} = COALESCE({q('started_at')}, %s), {q('updated_at')} = %s "
        # Still runnable: a lease renewed since the candidates were read is not taken over
        # (a renewal keeps the epoch, so the epoch alone cannot tell).
        f"WHERE ({q('status')} = %s OR {q('lease_expires_at')} < %s) "
        f"AND ({' OR '.join([at_epoch] * count)})"
    )


_FINISH_COLUMNS = (
    "status",
    "result",
    "error_type",
    "root_error_type",
    "error_message",
    "error_traceback",
    "finished_at",
    "updated_at",
    "lease_owner",
    "lease_expires_at",
    "retry_step_id",
    "retry_attempts",
)


@functools.lru_cache(maxsize=8)
def _finish_sql(vendor: str, awaited: bool) -> tuple[str, str]:
    q = connection.ops.quote_name
    table = q(WorkflowExecution._meta.db_table)
    delete_timers = f"DELETE FROM {q(Timer._meta.db_table)} WHERE {q('execution_id')} = %s"
    update = (
        f"UPDATE {table} SET "
        + ", ".join(f"{q(column)} = %s" for column in _FINISH_COLUMNS)
        + f" WHERE {q('id')} = %s AND {q('lease_epoch')} = %s AND {q('status')} = %s"
    )
    if not awaited:
        # Nobody could wait for it when it was claimed; should someone have begun to since,
        # this changes nothing and the finish is made again, waking them.
        update += f" AND {q('awaited')} = %s"
    return delete_timers, update


@functools.lru_cache(maxsize=4)
def _wake_waiters_sql(vendor: str) -> str:
    q = connection.ops.quote_name
    return (
        f"UPDATE {q(WorkflowExecution._meta.db_table)} SET {q('status')} = %s, "
        f"{q('updated_at')} = %s WHERE {q('waiting_for')} = %s AND {q('status')} = %s"
    )


def wake_waiters(execution_ids: list[str], now: dt.datetime) -> int:
    """Make runnable the executions waiting in ``ctx.wait_workflow`` for these ended ones.

    An indexed lookup per ended execution: a parent of a thousand children is woken by
    each of them at the same cost, without a look at the others.
    """
    conn = connections[DEFAULT_DB_ALIAS]
    sql = _wake_waiters_sql(conn.vendor)
    moment = conn.ops.adapt_datetimefield_value(now)
    woken = 0
    with dialect.statement_cursor(conn) as cursor:
        for execution_id in execution_ids:
            cursor.execute(sql, [Status.PENDING.value, moment, execution_id, Status.WAITING.value])
            woken += cursor.rowcount
    if woken:
        dialect.notify_wake()
    return woken


def renew_leases(leases: list[Lease], lease_seconds: float) -> set[str]:
    """Extend the leases still held; return the ids of those that are."""
    if not leases:
        return set()
    owner = leases[0].owner
    wanted = {lease.execution_id: lease.epoch for lease in leases}
    current = Executions.filter(
        pk__in=list(wanted), lease_owner=owner, status=Status.RUNNING
    ).values_list("id", "lease_epoch")
    held = {eid for eid, epoch in current if wanted.get(eid) == epoch}
    if held:
        Executions.filter(pk__in=list(held), lease_owner=owner, status=Status.RUNNING).update(
            lease_expires_at=clock.now() + dt.timedelta(seconds=lease_seconds)
        )
    return held


def release(lease: Lease, after: float = 0.0, reason: str = "") -> bool:
    """Give an execution back: runnable by anyone at once, or only ``after`` seconds.

    A delayed release keeps the execution ``RUNNING`` with a lease that ends then, so a run
    that keeps failing for the same reason is retried with a pause, not in a hot loop.
    ``reason`` goes to the run log.
    """
    now = clock.now()
    if after > 0:
        changes = {"lease_expires_at": now + dt.timedelta(seconds=after)}
        reason = reason or f"runnable again in {after:g} s"
    else:
        changes = {"status": Status.PENDING, "lease_owner": "", "lease_expires_at": None}
    with dialect.write_transaction():
        released = bool(fenced(lease).update(updated_at=now, **changes))
        if released:
            runs.end_run(lease.execution_id, lease.epoch, RunOutcome.HANDED_BACK, detail=reason)
            if after <= 0:
                dialect.notify_wake()
    return released


def running_owners(suffix: str) -> list[str]:
    """Owners whose name ends with ``suffix`` that hold running executions."""
    return list(
        Executions.filter(
            status=Status.RUNNING,
            lease_owner__endswith=suffix,
            lease_expires_at__gt=clock.now(),
        )
        .order_by()  # the model's ordering would defeat DISTINCT
        .values_list("lease_owner", flat=True)
        .distinct()
    )


def expire_leases_of(owners: list[str]) -> int:
    """End the leases of owners known to be dead, so their executions are claimable now."""
    if not owners:
        return 0
    now = clock.now()
    with dialect.write_transaction():
        held = Executions.filter(
            status=Status.RUNNING, lease_owner__in=owners, lease_expires_at__gt=now
        )
        ids = list(held.values_list("id", flat=True))
        if not ids:
            return 0
        expired = Executions.filter(pk__in=ids, lease_owner__in=owners).update(
            lease_expires_at=now - TAKEOVER_GRACE - dt.timedelta(seconds=1)
        )
        runs.end_open_runs(ids, RunOutcome.WORKER_DIED, "its worker process is gone")
    return expired


def fenced(lease: Lease):
    return Executions.filter(pk=lease.execution_id, lease_epoch=lease.epoch, status=Status.RUNNING)


def finish(
    lease: Lease,
    status: str,
    *,
    result: bytes | None = None,
    error_type: str = "",
    error_message: str = "",
    error_traceback: str = "",
    root_error_type: str = "",
    may_have_timers: bool = True,
) -> None:
    """End a run's execution with a final status; ``_Abort`` if the lease is gone.

    ``root_error_type`` is the type of the error at the root of a failure (a failed step's
    own error, where the workflow raised ``StepFailed``); it defaults to ``error_type``.

    Its timers go first: every transaction that touches both takes timer rows before the
    execution row (as the scheduler does), so that none of them can deadlock another.
    ``may_have_timers=False`` skips that delete, for a run that knows there are none.
    """
    conn = connections[DEFAULT_DB_ALIAS]
    moment = clock.now()
    now = conn.ops.adapt_datetimefield_value(moment)
    values = (
        str(status),
        result,
        dialect.storable_text(error_type)[:255],
        dialect.storable_text(root_error_type or error_type)[:255],
        dialect.storable_text(error_message),
        dialect.storable_text(error_traceback),
        now,
        now,
        "",
        None,
        "",
        0,
    )
    awaited = lease.awaited
    with dialect.write_transaction(), dialect.statement_cursor(conn) as cursor:
        delete_timers, update = _finish_sql(conn.vendor, awaited)
        if may_have_timers:
            cursor.execute(delete_timers, [lease.execution_id])
        if status == Status.TIMED_OUT:
            # Children first (rows are locked child before parent), as a timer's timeout does.
            end_descendants([lease.execution_id], Status.CANCELED, CASCADE_TIMED_OUT, moment)
        fence = [lease.execution_id, lease.epoch, Status.RUNNING.value]
        cursor.execute(update, [*values, *fence] if awaited else [*values, *fence, False])
        if cursor.rowcount != 1 and not awaited and fenced(lease).filter(awaited=True).exists():
            awaited = True
            cursor.execute(_finish_sql(conn.vendor, True)[1], [*values, *fence])
        if cursor.rowcount != 1:
            raise _Abort("lease lost before the run could finish")
        if awaited:
            # After the execution's own row: rows are locked child before parent.
            wake_waiters([lease.execution_id], moment)
        detail = f"{error_type}: {error_message}"[:1000] if error_type else ""
        runs.close_run(
            cursor, lease.execution_id, lease.epoch, str(status), detail=detail, now=moment
        )


def cancel(execution_id: str, reason: str = "") -> None:
    """Cancel a live execution and its live children, theirs, and so on.

    No further step of any of them runs; their timers are deleted; executions waiting for
    one of them are woken (to see it canceled).
    """
    now = clock.now()
    with dialect.write_transaction():
        # Timers first (see finish()), then the children's rows before the parent's.
        Timer.objects.filter(execution_id=execution_id).delete()
        end_descendants(
            [execution_id], Status.CANCELED, f"{CASCADE_PREFIX}, {execution_id}, was canceled", now
        )
        status = lock_status(execution_id)
        if status in FINAL_STATUSES:
            raise ExecutionFinished(execution_id, status, "cancel")
        _end_live([execution_id], Status.CANCELED, reason, now)
    end_orphans([execution_id], f"{CASCADE_PREFIX}, {execution_id}, was canceled")


def end_orphans(execution_ids: list[str], reason: str) -> int:
    """Cancel the live descendants of these ended executions that their end did not see.

    A run starting children commits them while the cancel (or timeout) that ends their
    parent waits for the parent's row: the cascade, which looked for children before that,
    misses them. Once the parent has ended, no run of it can start more, so one look after
    the commit finds them all (also below children the cascade canceled).
    """
    with dialect.write_transaction():
        return end_descendants(
            execution_ids, Status.CANCELED, reason, clock.now(), through_cascaded=True
        )


# The cancel reason of an execution ended with its parent or another ancestor (a retry of
# that ancestor retries it too).
CASCADE_PREFIX = "its parent or an ancestor"
CASCADE_TIMED_OUT = f"{CASCADE_PREFIX} timed out"


def end_descendants(
    execution_ids: list[str],
    status: str,
    reason: str,
    now: dt.datetime,
    *,
    through_cascaded: bool = False,
) -> int:
    """End every live descendant of these executions with ``status`` (canceled); return how many.

    Deepest first, each generation's rows locked before its parents' (see store.children).
    """
    generations = live_descendants(execution_ids, through_cascaded=through_cascaded)
    if not generations:
        return 0
    Timer.objects.filter(execution_id__in=[eid for ids in generations for eid in ids]).delete()
    ended = 0
    for ids in reversed(generations):
        ended += _end_live(ids, status, reason, now)
    return ended


def live_descendants(
    execution_ids: list[str], *, through_cascaded: bool = False
) -> list[list[str]]:
    """The live children of these executions, then theirs, and so on: one list per generation.

    ``through_cascaded`` also looks below children that a cascade already canceled.
    """
    followed = Q(status__in=list(LIVE_STATUSES))
    if through_cascaded:
        followed |= Q(status=Status.CANCELED, cancel_reason__startswith=CASCADE_PREFIX)
    generations = []
    parents = list(execution_ids)
    while parents:
        rows = list(
            Executions.filter(followed, parent__in=parents).order_by().values_list("id", "status")
        )
        live = [eid for eid, status in rows if status in LIVE_STATUSES]
        if live:
            generations.append(live)
        parents = [eid for eid, _status in rows]
    return generations


def _end_live(ids: list[str], status: str, reason: str, now: dt.datetime) -> int:
    ended = Executions.filter(pk__in=ids, status__in=list(LIVE_STATUSES)).update(
        status=status,
        cancel_reason=dialect.storable_text(reason),
        finished_at=now,
        updated_at=now,
        lease_owner="",
        lease_expires_at=None,
    )
    runs.end_open_runs(ids, RunOutcome.CANCELED, reason)
    wake_waiters(ids, now)
    return ended


def lock_status(execution_id: str) -> str:
    status = (
        Executions.select_for_update()
        .filter(pk=execution_id)
        .values_list("status", flat=True)
        .first()
    )
    if status is None:
        raise ExecutionNotFound(execution_id)
    return status


def has_scheduled_executions(workflow_name: str) -> bool:
    """Whether any execution was ever started for a tick of this workflow's schedule."""
    return Executions.filter(
        workflow_name=workflow_name, pk__startswith=f"{workflow_name}@"
    ).exists()


def has_runnable(
    skip_workflows: frozenset[str] = frozenset(), served_queues: frozenset[str] | None = None
) -> bool:
    scope = _Scope(skip=skip_workflows, served=served_queues)
    return scope.narrow(Executions.filter(_runnable(clock.now()))).exists()
