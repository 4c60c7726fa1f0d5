"""Everything that differs between SQLite, PostgreSQL and MySQL/MariaDB, in one place.

The store asks this module for the fenced step insert (plain SQL with a row lock where the
database has one), for transactions that take SQLite's write lock up front, and it relies on
:func:`configure_connection` for SQLite's journal mode and busy timeout.
"""

from __future__ import annotations

import datetime as dt
import functools
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import connection, transaction

from . import filewatch, wakeups, writeturn
from .conf import durable_settings


def configure_connection(sender, connection, **kwargs) -> None:
    """Set WAL and a busy timeout on each new SQLite connection (``connection_created``).

    Without them, a second thread or process writing at the same time gets "database is
    locked" at once; with them it waits its turn.
    """
    # SQLite has no connection.features flag for these PRAGMAs; the vendor is the fact.
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"PRAGMA busy_timeout = {int(durable_settings.DURABLE_SQLITE_BUSY_TIMEOUT_MS)}"
        )
        mode = durable_settings.DURABLE_SQLITE_JOURNAL_MODE
        if mode and not connection.is_in_memory_db():
            cursor.execute(f"PRAGMA journal_mode = {mode}")


# The engine's writers queue here before they ask SQLite for its write lock: the threads of
# a process, and the processes of a host (see writeturn).
_sqlite_writer = writeturn.WriteTurn()


@contextmanager
def sqlite_write_turn() -> Iterator[None]:
    """Hold this process's SQLite write turn (elsewhere, and inside a transaction: nothing).

    Inside a transaction the turn is already held (ours) or cannot be taken safely (a user's
    transaction may hold the database lock that the turn's holder waits for).
    """
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        yield
        return
    with _sqlite_writer:
        yield


@contextmanager
def write_transaction() -> Iterator[None]:
    """``transaction.atomic()`` that, on SQLite, takes the write lock when it begins.

    A deferred SQLite transaction that reads and then writes fails with "database is locked"
    when another connection wrote in between, and the busy timeout cannot help it;
    ``BEGIN IMMEDIATE`` waits for the lock instead. Nested blocks are plain savepoints.
    """
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        with transaction.atomic():
            yield
        return
    with sqlite_write_turn():
        connection.ensure_connection()  # transaction_mode is read from OPTIONS on connect
        previous = connection.transaction_mode
        connection.transaction_mode = "IMMEDIATE"
        try:
            atomic = transaction.atomic()
            atomic.__enter__()
        finally:
            connection.transaction_mode = previous
        try:
            yield
        except BaseException as exc:
            if not atomic.__exit__(type(exc), exc, exc.__traceback__):
                raise
        else:
            atomic.__exit__(None, None, None)


@contextmanager
def statement_cursor(conn) -> Iterator:
    """A Django cursor of ``conn`` for the engine's own hot statement (the step insert).

    On psycopg 3 it binds parameters on the server, so that psycopg can prepare the
    statement once per connection when the project allows prepared statements
    (``OPTIONS["prepare_threshold"]``; Django disables them by default for the sake of
    transaction-pooling proxies). Planning the fenced insert anew cost about 100 µs of a
    ~300 µs step on a loopback connection. The project's own queries are not affected.
    """
    factory = _server_binding_cursor_class(conn.vendor, conn.settings_dict.get("OPTIONS", {}))
    if factory is None:
        with conn.cursor() as cursor:
            yield cursor
        return
    conn.ensure_connection()
    conn.validate_thread_sharing()
    with conn.wrap_database_errors:
        raw = factory(conn.connection)
    wrapped = conn.make_debug_cursor(raw) if conn.queries_logged else conn.make_cursor(raw)
    with wrapped as cursor:
        yield cursor


def execute_autocommit(conn, sql: str, params: list) -> int:
    """Run one statement of the engine's hot path outside any transaction; its rowcount.

    On SQLite and psycopg the statement runs on the driver's own cursor, under this
    process's SQLite write turn: Django's cursor wrappers, its ``%s`` → ``?`` rewrite on
    SQLite and a context manager per layer cost ~20 µs of a ~60 µs step. Errors are still
    Django's (``wrap_database_errors``). With query logging (``DEBUG``,
    ``assertNumQueries``) or ``execute_wrappers`` installed, Django's cursor runs it, so that
    they still see it.
    """
    vendor = conn.vendor
    if conn.queries_logged or conn.execute_wrappers or vendor not in ("sqlite", "postgresql"):
        with statement_cursor(conn) as cursor, sqlite_write_turn():
            cursor.execute(sql, params)
            return cursor.rowcount
    conn.close_if_health_check_failed()
    if conn.connection is None:
        conn.ensure_connection()
    conn.validate_thread_sharing()
    raw = conn.connection
    with conn.wrap_database_errors:
        if vendor == "sqlite":
            _sqlite_writer.acquire(conn)
            try:
                return raw.execute(_qmark(sql), params).rowcount
            finally:
                _sqlite_writer.release()
        # One cursor per thread's connection, kept: making a psycopg cursor costs ~5 µs.
        held = getattr(_hot_cursor, "held", None)
        if held is None or held[0] is not raw:
            factory = _server_binding_cursor_class(vendor, conn.settings_dict.get("OPTIONS", {}))
            held = _hot_cursor.held = (raw, raw.cursor() if factory is None else factory(raw))
        try:
            held[1].execute(sql, params)
        except BaseException:
            _hot_cursor.held = None
            raise
        return held[1].rowcount


_hot_cursor = threading.local()


@functools.lru_cache(maxsize=16)
def _qmark(sql: str) -> str:
    # sqlite3's placeholder; the engine's SQL has no literal '%' (Django's rewrite handles one).
    # Cached: the hot path's few statements come back at every step, and rewriting one costs
    # 0.7 µs where the cache's lookup costs 0.05.
    return sql.replace("%s", "?")


def adapt_datetime(conn, value: dt.datetime):
    """``value`` as the database driver takes it (``adapt_datetimefield_value``).

    SQLite stores a naive UTC string; the engine's aware UTC times skip Django's settings
    and time zone lookups to get there.
    """
    if value.tzinfo is dt.UTC and conn.vendor == "sqlite" and conn.timezone is dt.UTC:
        return value.isoformat(" ")[:-6]  # str() of the naive value, without "+00:00"
    return conn.ops.adapt_datetimefield_value(value)


def from_db_datetime(conn, value):
    """A ``DateTimeField`` value as read by hand-written SQL, made what the ORM returns.

    PostgreSQL's driver returns aware datetimes already; SQLite returns text and MySQL naive
    datetimes, which the backend's own converter turns aware.
    """
    convert = getattr(conn.ops, "convert_datetimefield_value", None)
    if value is None or convert is None:
        return value
    return convert(value, None, conn)


def _server_binding_cursor_class(vendor: str, options: dict):
    return _binding_cursor_class(
        vendor, options.get("server_side_binding") is True, options.get("prepare_threshold")
    )


@functools.lru_cache(maxsize=8)
def _binding_cursor_class(vendor: str, binds_on_server: bool, prepare_threshold):
    if vendor != "postgresql" or binds_on_server:
        return None  # not psycopg, or the project's cursors bind on the server already
    if prepare_threshold is None:
        return None  # no prepared statements: server-side binding alone gains nothing
    from django.db.backends.postgresql import base

    return getattr(base, "ServerBindingCursor", None)  # absent with psycopg2


def string_literal(text: str) -> str:
    """One of the engine's own constants (a status, '') as an SQL string literal.

    Never for user input. Doubling quotes is the escape on every database here; a backslash
    (MySQL reads it as one) or a '%' (the placeholders' mark) would not be safe, so neither
    is taken.
    """
    if "\\" in text or "%" in text:
        raise ValueError(f"not a constant the engine writes into SQL: {text!r}")
    return "'" + text.replace("'", "''") + "'"


def writes_in_one_statement() -> bool:
    """Whether one statement can chain several writes (PostgreSQL's data-modifying ``WITH``)."""
    return connection.vendor == "postgresql"


def update_then_update_sql(first: str, second: str) -> str | None:
    """PostgreSQL: one statement that runs the ``UPDATE`` ``second`` only if ``first``
    changed a row, and returns how many ``first`` changed; elsewhere ``None``.

    One round trip and one commit in autocommit, where the two in a transaction take four.
    ``second`` reads what ``first`` returned, so rows are locked in their order.
    """
    if not writes_in_one_statement():
        return None
    return (
        f"WITH first AS ({first} RETURNING 1), "
        f"second AS ({second} AND EXISTS (SELECT 1 FROM first) RETURNING 1) "
        f"SELECT count(*) FROM first"
    )


def share_lock_clause() -> str:
    """What makes a ``SELECT`` share-lock the rows it reads ('' on SQLite)."""
    if not connection.features.has_select_for_update:
        return ""  # SQLite: the statement holds the database's write lock anyway.
    if connection.vendor == "mysql":
        return " LOCK IN SHARE MODE"
    return " FOR SHARE"


def storable_text(text: str) -> str:
    """``text`` with NUL characters escaped: PostgreSQL text columns cannot hold them.

    Used for the free text the engine stores (error messages and tracebacks, cancel
    reasons), so a workflow raising ``ValueError("a\\x00b")`` ends ``FAILED`` instead of
    failing the write that records it, run after run.
    """
    text = text.replace("\x00", "\\x00")
    # Lone surrogates (from os.fsdecode of undecodable names) cannot be encoded for any
    # database driver; keep them visible as escapes.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


WAKE_CHANNEL = "django_durable_wake"


def can_listen() -> bool:
    """Whether idle workers can be woken by the database (PostgreSQL's LISTEN/NOTIFY)."""
    return connection.vendor == "postgresql"


def notify_wake() -> None:
    """Tell idle workers that something became runnable, when the transaction commits.

    Workers of this process are woken on every database. On PostgreSQL a ``NOTIFY`` wakes
    those of other processes too; on a SQLite file they see the commit through
    :class:`CommitWatcher`; on MySQL/MariaDB they find the work at their next poll.
    """
    wakeups.wake_at_commit()
    if can_listen():
        with connection.cursor() as cursor:
            cursor.execute(f"NOTIFY {WAKE_CHANNEL}")


def insert_and_notify_wake_sql(insert: str) -> str:
    """The ``INSERT`` statement ``insert`` made to also do what :func:`notify_wake` does on
    other processes (PostgreSQL: ``pg_notify``, sent when the statement commits)."""
    if not can_listen():
        return insert
    notify = f"SELECT pg_notify('{WAKE_CHANNEL}', '')"
    return f"WITH inserted AS ({insert} RETURNING 1) {notify} FROM inserted"


EVENT_CHANNEL = "django_durable_event"


def notify_event() -> None:
    """Tell ``get_event`` callers that a value was published; sent at commit (PostgreSQL)."""
    if can_listen():
        with connection.cursor() as cursor:
            cursor.execute(f"NOTIFY {EVENT_CHANNEL}")


@contextmanager
def published_events() -> Iterator[Callable[[float], None]]:
    """A ``wait(seconds)`` that returns early when some execution publishes a value.

    On PostgreSQL it listens on a connection of its own; elsewhere it sleeps, and the
    caller looks again.
    """
    if not can_listen():
        yield time.sleep
        return
    listener = connection.get_new_connection(connection.get_connection_params())
    try:
        listener.autocommit = True
        listener.execute(f"LISTEN {EVENT_CHANNEL}")

        def wait(seconds: float) -> None:
            for _notification in listener.notifies(timeout=seconds, stop_after=1):
                break

        yield wait
    finally:
        listener.close()


def wait_for_wakeups(stop: threading.Event, on_wake: Callable[[], None]) -> None:
    """Call ``on_wake`` for every wake-up notification until ``stop`` is set.

    Uses a connection of its own, outside Django's connection handling: it does nothing but
    wait, so it must not be closed or reused by anything else.
    """
    listener = connection.get_new_connection(connection.get_connection_params())
    try:
        listener.autocommit = True
        listener.execute(f"LISTEN {WAKE_CHANNEL}")
        while not stop.is_set():
            for _notification in listener.notifies(timeout=0.5):
                on_wake()
    finally:
        listener.close()


def can_watch_commits() -> bool:
    """Whether idle workers can see other connections' commits cheaply (a SQLite file)."""
    # SQLite has no connection.features flag for data_version; the vendor is the fact.
    return connection.vendor == "sqlite" and not connection.is_in_memory_db()


# Without inotify the watcher looks this often; with it, at every write reported and at the
# latest after the wait.
_WATCH_POLL_SECONDS = 0.05
_WATCH_WAIT_SECONDS = 5.0
# A writer writes its pages before its commit lands: look again after these pauses.
_WATCH_SETTLE_SECONDS = (0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256)


class CommitWatcher:
    """Sees the commits of other connections to a SQLite file, this process's own included.

    It compares ``PRAGMA data_version`` on a plain ``sqlite3`` connection of its own, which
    does nothing else (each read is a short read transaction that no writer waits for). On
    Linux it reads it when inotify reports a write to the database or its WAL file, so an
    idle watcher costs next to nothing; elsewhere every 50 ms.
    """

    def __init__(self):
        self._db = sqlite3.connect(
            connection.settings_dict["NAME"],
            uri=True,
            check_same_thread=False,
            isolation_level=None,
        )
        self._cursor = self._db.cursor()
        self._interrupted = threading.Event()
        self._writes = None
        try:
            self._version()  # a first read opens the WAL file, which can then be watched too
            path = self._cursor.execute("PRAGMA database_list").fetchone()[2]
            self._writes = filewatch.watch_writes([path, f"{path}-wal"])
            # After the watch: a later commit is either counted here or reported.
            self._seen = self._version()
        except BaseException:
            self.close()
            raise

    def _version(self) -> int:
        return self._cursor.execute("PRAGMA data_version").fetchone()[0]

    def committed(self) -> bool:
        """Whether another connection committed since the previous call (or since it opened).

        Waits for a write to be reported, at most a few seconds, or until :meth:`interrupt`.
        """
        if self._writes is None:
            self._interrupted.wait(_WATCH_POLL_SECONDS)
            reported = False
        else:
            reported = self._writes.wait(_WATCH_WAIT_SECONDS)
        if self._interrupted.is_set():
            return False
        # Without a write reported, look anyway (once), in case a commit landed late.
        current = self._version()
        for pause in _WATCH_SETTLE_SECONDS if reported else ():
            if current != self._seen or self._interrupted.wait(pause):
                break
            current = self._version()
        changed, self._seen = current != self._seen, current
        return changed

    def interrupt(self) -> None:
        """End a :meth:`committed` call at once, and every later one (from any thread)."""
        self._interrupted.set()
        if self._writes is not None:
            self._writes.interrupt()

    def close(self) -> None:
        if self._writes is not None:
            self._writes.close()
        self._db.close()


# PostgreSQL: deadlock_detected, serialization_failure; MySQL: ER_LOCK_DEADLOCK.
_DEADLOCK_SQLSTATES = frozenset({"40P01", "40001"})
_DEADLOCK_MYSQL_CODES = frozenset({1213})


def is_deadlock(error: BaseException) -> bool:
    """Whether a database error is a deadlock the database broke by aborting this side:
    the transaction did nothing and may simply be tried again."""
    cause = error.__cause__ or error
    if getattr(cause, "sqlstate", None) in _DEADLOCK_SQLSTATES:
        return True
    args = getattr(cause, "args", ())
    return bool(args) and args[0] in _DEADLOCK_MYSQL_CODES
