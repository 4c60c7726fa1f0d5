"""Group commit: one commit carries the writes of several threads.

:class:`Batcher` is the mechanism; :func:`write` applies it to SQLite, where a batch is one
transaction. Elsewhere every write goes to the database at once: PostgreSQL and MySQL merge
the disk flushes of commits that come together themselves, and a batch of ours only made
its writes wait for the one before (see docs/design.md, "Group commit").

SQLite lets one connection write at a time, and every commit waits for the disk (in WAL
mode with ``synchronous=FULL``, one fsync). When threads of one worker record steps, finish
runs or take claimed executions at the same moment, the first to arrive leads: it takes
every write waiting, its own included, runs each in a savepoint of one transaction on its
own connection, and commits once. Each thread returns only after the commit that carried its
write, with its own result or error: a write that fails (a lost lease, a step recorded
first by another run) rolls back to its savepoint and leaves the others in. A lone write
runs at once, exactly as it would without any of this; nothing waits for a batch to fill.
Writes that arrive while a leader commits queue, and the first of them leads the next
batch. Every write keeps its own fence: the batch changes when rows are committed, never
which.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, IntegrityError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from .. import dialect
from ..exceptions import _ControlFlow


def write(
    body: Callable[[], Any],
    alone: Callable[[], Any] | None = None,
    *,
    savepoint: bool = True,
    conn: BaseDatabaseWrapper | None = None,
) -> Any:
    """Run ``body`` (the statements of one write) and commit it; return its value.

    ``alone`` is how the write runs when no other thread's write shares its commit (by
    default, ``body`` in a write transaction of its own): a single statement may prefer
    autocommit. Elsewhere than SQLite, and inside a transaction, it simply runs ``alone``.
    In a batch the body runs in a savepoint of its own, unless ``savepoint=False`` says it
    is one statement, which SQLite undoes by itself when it fails. ``conn``: the default
    database's connection, when the caller has it at hand (each lookup costs ~1 µs).
    """
    alone = alone or _in_own_transaction(body)
    if conn is None:
        conn = connections[DEFAULT_DB_ALIAS]  # once: the proxy costs a lookup per attribute
    if conn.vendor != "sqlite" or conn.in_atomic_block:
        return alone()
    return _sqlite_writes.submit((body, savepoint), alone)


def _in_own_transaction(body: Callable[[], Any]) -> Callable[[], Any]:
    def alone() -> Any:
        with dialect.write_transaction():
            return body()

    return alone


class Write:
    """One thread's write in a batch: what ``together`` runs, and what came of it."""

    __slots__ = ("payload", "alone", "done", "leads", "value", "error", "run_alone")

    def __init__(self, payload: Any, alone: Callable[[], Any]):
        self.payload = payload
        self.alone = alone
        self.done = threading.Event()
        self.leads = False  # handed the lead of the next batch by the last leader
        self.value: Any = None
        self.error: BaseException | None = None
        # Made again by its own thread, alone: the shared transaction could not begin or
        # commit (nothing of it was written), or the batch cannot tell this write's outcome.
        self.run_alone = False

    def result(self) -> Any:
        if self.run_alone:
            return self.alone()
        if self.error is not None:
            raise self.error
        return self.value


class Batcher:
    """The writes of this process's threads waiting for the next commit.

    ``together(batch)`` commits a batch of two or more writes and sets each one's
    ``value``, ``error`` or ``run_alone``; a lone write runs its own ``alone``.
    """

    def __init__(self, together: Callable[[list[Write]], None]):
        self._together = together
        self._lock = threading.Lock()
        self._waiting: list[Write] = []
        self._leading = False

    def submit(self, payload: Any, alone: Callable[[], Any]) -> Any:
        with self._lock:
            lone = not self._leading  # nothing waits while nobody leads
            self._leading = True
            if not lone:
                write = Write(payload, alone)
                self._waiting.append(write)
        if lone:
            # The common case with one thread writing: no batch to build or to hand results to.
            try:
                return alone()
            finally:
                self._hand_on([])
        write.done.wait()
        if not write.leads:
            return write.result()
        self._lead()
        return write.result()

    def _lead(self) -> None:
        with self._lock:
            batch, self._waiting = self._waiting, []
        try:
            if len(batch) == 1:
                _run_alone(batch[0])
            else:
                self._together(batch)
        except BaseException:
            for write in batch:
                write.value, write.error, write.run_alone = None, None, True
            raise
        finally:
            self._hand_on(batch)

    def _hand_on(self, batch: list[Write]) -> None:
        """After a commit: hand the lead to the first write waiting, and wake the batch's."""
        with self._lock:
            successor = self._waiting[0] if self._waiting else None
            if successor is None:
                self._leading = False
            else:
                successor.leads = True
        for write in batch:
            write.done.set()
        if successor is not None:
            successor.done.set()

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._waiting)

    @property
    def leading(self) -> bool:
        return self._leading


def _run_alone(write: Write) -> None:
    # The leader's own write, the only one waiting: while it commits, others queue.
    try:
        write.value = write.alone()
    except BaseException as exc:  # noqa: BLE001 - handed to its thread by result()
        write.error = exc


def _in_one_transaction(batch: list[Write]) -> None:
    try:
        with dialect.write_transaction():
            for write in batch:
                body, savepoint = write.payload
                if not savepoint:
                    # One statement: a constraint it breaks undoes it alone; any other error
                    # ends the whole batch (SQLite may have rolled back the transaction).
                    try:
                        write.value = body()
                    except IntegrityError as exc:
                        write.error = exc
                    continue
                try:
                    with transaction.atomic():  # a savepoint: a failed write leaves the others
                        write.value = body()
                except (Exception, _ControlFlow) as exc:
                    write.error = exc
    except DatabaseError:
        for write in batch:
            write.value, write.error, write.run_alone = None, None, True


_sqlite_writes = Batcher(_in_one_transaction)
