"""Claiming runnable executions: by priority then age, within the queues' limits.

One compare-and-set on the lease epochs takes the candidates, which is what makes the claim
correct on every database (see :func:`claim`).
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Q

from .. import clock, dialect, queues
from ..models import QueueLock, RunOutcome, Status, WorkflowExecution, WorkflowRun
from . import group_commit, runs
from .types import ClaimedExecution, Lease

Executions = WorkflowExecution.objects


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
_DEADLINE = _CLAIM_COLUMNS.index("deadline_at")


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
    are read in the same transaction, locked, so concurrent workers pick different rows; on
    PostgreSQL the read, the take and the run log's rows are one statement.
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
    if dialect.writes_in_one_statement():
        return claimed + _claim_in_one_statement(limit, owner, lease_seconds, now, scope)
    if connection.features.has_select_for_update_skip_locked:
        with dialect.write_transaction():
            rows = _candidates(limit, now, lock=True, scope=scope)
            return claimed + _take(rows, owner, lease_seconds, now)
    rows = _candidates(limit, now, lock=False, scope=scope)
    if not rows:
        return claimed
    # On SQLite the take shares its commit with the executor threads' steps and finishes
    # when they write at the same moment (a busy worker claims every few runs).
    return claimed + group_commit.write(lambda: _take(rows, owner, lease_seconds, now))


@dataclass(frozen=True)
class _Scope:
    """Which runnable executions a claim may take."""

    skip: frozenset[str] = frozenset()  # workflows this worker cannot run
    served: frozenset[str] | None = None  # queues this worker serves (None: all)
    excluded: frozenset[str] = frozenset()  # queues claimed elsewhere (the limited ones)
    queue: str | None = None  # only this queue
    new_starts: bool = True  # False: only executions that have started before

    def conditions(self) -> tuple[list[str], list]:
        """The ``WHERE`` conditions (quoted columns, ``%s`` placeholders); their parameters."""
        q = connection.ops.quote_name
        where: list[str] = []
        params: list = []

        def among(column: str, values, negate: bool = False) -> None:
            values = sorted(values)
            marks = ", ".join(["%s"] * len(values))
            where.append(f"{q(column)} {'NOT IN' if negate else 'IN'} ({marks})")
            params.extend(values)

        if self.skip:
            among("workflow_name", self.skip, negate=True)
        if self.queue is not None:
            where.append(f"{q('queue')} = %s")
            params.append(self.queue)
        elif self.served is not None:
            among("queue", self.served - self.excluded)
        elif self.excluded:
            among("queue", self.excluded, negate=True)
        if not self.new_starts:
            where.append(f"{q('started_at')} IS NOT NULL")
        return where, params


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
    """Up to ``limit`` runnable executions in ``scope`` (their ``_CLAIM_COLUMNS``): pending
    ones by priority then age, then those whose lease expired, oldest expiry first."""
    conn = connections[DEFAULT_DB_ALIAS]
    rows: list[tuple] = []
    # Two queries, each served in order by an index: a single OR would make MySQL scan and
    # sort every runnable row, locking all of them before the LIMIT.
    for expired in (False, True):
        wanted = limit - len(rows)
        if wanted <= 0:
            break
        if expired:
            params = [Status.RUNNING.value, dialect.adapt_datetime(conn, now - TAKEOVER_GRACE)]
        else:
            params = [Status.PENDING.value]
        sql, scope_params = _candidates_sql(conn.vendor, expired, scope, lock, wanted)
        with dialect.statement_cursor(conn) as cursor:
            cursor.execute(sql, [*params, *scope_params])
            rows += _as_read(conn, cursor.fetchall())
    return rows


def _as_read(conn, fetched: list[tuple]) -> list[tuple]:
    """Rows of ``_CLAIM_COLUMNS`` read by hand-written SQL, their deadline as the ORM's."""
    return [
        (*row[:_DEADLINE], dialect.from_db_datetime(conn, row[_DEADLINE]), *row[_DEADLINE + 1 :])
        for row in fetched
    ]


# The run loop's own statements (the claim's read and update, the finish) are plain SQL built
# once: the ORM spent about 120 µs compiling each of them (in W2, a third of the worker's
# time went to compiling the candidates' query), and the update's inside SQLite's write lock,
# which every writer waits for.


@functools.lru_cache(maxsize=128)
def _candidates_sql(
    vendor: str, expired: bool, scope: _Scope, lock: bool, limit: int
) -> tuple[str, tuple]:
    """The candidates' query, and the parameters of its scope (after the status's and, for
    expired leases, the cutoff's)."""
    q = connection.ops.quote_name
    where = [f"{q('status')} = %s"]
    if expired:
        where.append(f"{q('lease_expires_at')} < %s")
    scope_where, scope_params = scope.conditions()
    where += scope_where
    order = [q("lease_expires_at")] if expired else [q("priority"), q("created_at")]
    sql = (
        f"SELECT {', '.join(q(column) for column in _CLAIM_COLUMNS)} "
        f"FROM {q(WorkflowExecution._meta.db_table)} WHERE {' AND '.join(where)} "
        f"ORDER BY {', '.join(order)} {connection.ops.limit_offset_sql(0, limit)}"
    )
    if lock:
        sql += f" {connection.ops.for_update_sql(skip_locked=True)}"
    return sql, tuple(scope_params)


def _claim_in_one_statement(
    limit: int, owner: str, lease_seconds: float, now: dt.datetime, scope: _Scope
) -> list[ClaimedExecution]:
    """PostgreSQL: lock the candidates, take them, open their runs and end the runs of those
    taken over, in one autocommitted statement.

    In a transaction the same took six round trips (BEGIN, two reads, the update, the run
    log's insert, COMMIT), on a connection that claims for every thread of the worker, and
    an idle poll four. The rows are locked (``SKIP LOCKED``) before they are updated, so
    concurrent workers take different ones and a lease renewed meanwhile is not taken over.
    """
    conn = connections[DEFAULT_DB_ALIAS]
    adapt = conn.ops.adapt_datetimefield_value
    at, cutoff = adapt(now), adapt(now - TAKEOVER_GRACE)
    sql, scope_params = _one_statement_sql(scope, limit)
    params = [
        *(Status.PENDING.value, *scope_params),
        *(Status.RUNNING.value, cutoff, *scope_params),
        *(Status.RUNNING.value, owner, adapt(now + dt.timedelta(seconds=lease_seconds)), at, at),
        *(Status.PENDING.value, cutoff),
        *(owner, at),
        *(at, RunOutcome.WORKER_DIED.value, dialect.storable_text(_taken_over_by(owner))),
    ]
    with dialect.statement_cursor(conn) as cursor:
        cursor.execute(sql, params)
        rows = _as_read(conn, cursor.fetchall())
    return _claimed(rows, owner)


@functools.lru_cache(maxsize=128)
def _one_statement_sql(scope: _Scope, limit: int) -> tuple[str, tuple]:
    """The one-statement claim, and its scope's parameters (twice in it: see the caller)."""
    q = connection.ops.quote_name
    table = q(WorkflowExecution._meta.db_table)
    run_table = q(WorkflowRun._meta.db_table)
    scope_where, scope_params = scope.conditions()
    in_scope = "".join(f" AND {condition}" for condition in scope_where)
    lock = connection.ops.for_update_sql(skip_locked=True)
    read = ", ".join(q(column) for column in (*_CLAIM_COLUMNS, "priority", "created_at"))
    sql = (
        # The pending, by priority then age; then, only if they do not fill the limit (a
        # LIMIT stops reading a WITH query), leases expired, oldest expiry first. Each row
        # is read as the locked version: the one the take changes.
        f"WITH pending AS (SELECT {read} FROM {table} WHERE {q('status')} = %s{in_scope} "
        f"ORDER BY {q('priority')}, {q('created_at')} LIMIT {limit} {lock}), "
        f"expired AS (SELECT {read} FROM {table} WHERE {q('status')} = %s "
        f"AND {q('lease_expires_at')} < %s{in_scope} "
        f"ORDER BY {q('lease_expires_at')} LIMIT {limit} {lock}), "
        f"candidates AS ((SELECT *, FALSE AS taken_over FROM pending) "
        f"UNION ALL (SELECT *, TRUE FROM expired) LIMIT {limit}), "
        f"taken AS (UPDATE {table} e SET {q('status')} = %s, {q('lease_owner')} = %s, "
        f"{q('lease_epoch')} = e.{q('lease_epoch')} + 1, {q('lease_expires_at')} = %s, "
        f"{q('runs')} = e.{q('runs')} + 1, "
        f"{q('started_at')} = COALESCE(e.{q('started_at')}, %s), {q('updated_at')} = %s "
        f"FROM candidates c WHERE e.{q('id')} = c.{q('id')} "
        f"AND (e.{q('status')} = %s OR e.{q('lease_expires_at')} < %s) "
        f"RETURNING e.{q('id')}, e.{q('lease_epoch')}), "
        f"opened AS (INSERT INTO {run_table} ({q('execution_id')}, {q('epoch')}, "
        f"{q('worker')}, {q('started_at')}, {q('outcome')}, {q('waiting_on')}, {q('detail')}) "
        f"SELECT {q('id')}, {q('lease_epoch')}, %s, %s, '', '', '' FROM taken), "
        # The taken over's open run (not the one just opened: a WITH query's writes are
        # not seen by the others).
        f"ended AS (UPDATE {run_table} r SET {q('ended_at')} = %s, {q('outcome')} = %s, "
        f"{q('detail')} = %s FROM candidates c JOIN taken t ON t.{q('id')} = c.{q('id')} "
        f"WHERE c.taken_over AND r.{q('execution_id')} = c.{q('id')} "
        f"AND r.{q('outcome')} = '') "
        # The rows as read, before the take: the layout every claim hands to _claimed.
        f"SELECT {', '.join(f'c.{q(column)}' for column in _CLAIM_COLUMNS)} "
        f"FROM candidates c JOIN taken t ON t.{q('id')} = c.{q('id')} "
        f"ORDER BY c.taken_over, c.{q('priority')}, c.{q('created_at')}"
    )
    return sql, tuple(scope_params)


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
            runs.end_open_runs(taken_over, RunOutcome.WORKER_DIED, _taken_over_by(owner))
        runs.open_runs(cursor, [(row[0], row[2] + 1) for row in rows], owner, now)
    return _claimed(rows, owner)


def _taken_over_by(owner: str) -> str:
    """The run log's detail of a run whose execution ``owner`` took over."""
    return f"its lease expired without renewal; taken over by {owner}"


def _claimed(rows: list[tuple], owner: str) -> list[ClaimedExecution]:
    """What the worker gets for the candidate rows (``_CLAIM_COLUMNS`` as read) it took."""
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


def has_runnable(
    skip_workflows: frozenset[str] = frozenset(), served_queues: frozenset[str] | None = None
) -> bool:
    scope = _Scope(skip=skip_workflows, served=served_queues)
    return bool(_candidates(1, clock.now(), lock=False, scope=scope))
