"""The engine's turn to write to a SQLite file: among this process's threads, and among the
processes of this host.

SQLite lets one connection write at a time, and a connection that finds the write lock
taken sleeps in SQLite's busy handler, 1, 2, 5, 10… ms at a time, while the lock is usually
free again after a few hundred microseconds. A worker and a process that starts workflows,
both writing, spent those sleeps taking turns, and one of them could keep the lock through a
whole burst of its own commits. So the engine's writers queue before they ask SQLite: the
threads of a process on a lock, and processes on an advisory lock (``flock``) of a file
beside the database, ``<database>-durable-lock``, which the kernel hands to the next waiter
as soon as it is released (and frees when its holder dies). The file holds no data; deleting
it while nothing runs is harmless.

Writers that do not take the turn (the project's own transactions) still meet SQLite's busy
handler, as before. A holder of the turn only ever waits for SQLite's lock, never for the
turn again, and a transaction that holds SQLite's lock never waits for the turn (see
``dialect.sqlite_write_turn``), so the two locks cannot wait for each other; a holder that
cannot get SQLite's lock fails after the busy timeout and gives the turn up.
"""

from __future__ import annotations

import logging
import os
import threading

try:
    import fcntl
except ImportError:  # not POSIX: the processes take turns in SQLite's busy handler
    fcntl = None

from django.db import DEFAULT_DB_ALIAS, connections

logger = logging.getLogger("django_durable")

LOCK_FILE_SUFFIX = "-durable-lock"


class WriteTurn:
    """A context manager: hold the turn to write to the default database (a SQLite file)."""

    def __init__(self):
        self._threads = threading.Lock()
        # (process id, database name) -> its lock file's descriptor, or None (no file lock).
        # Keyed by process: after a fork, the child opens its own (an inherited descriptor
        # would share the parent's lock).
        self._files: dict[tuple[int, object], int | None] = {}
        self._held: int | None = None  # read and written only by the thread holding the turn

    def __enter__(self) -> None:
        self.acquire()

    def __exit__(self, *exc_info) -> None:
        self.release()

    def acquire(self, conn=None) -> None:
        """Wait for the turn (``conn``: the default database's connection, if at hand)."""
        self._threads.acquire()
        try:
            fd = self._lock_file(conn or connections[DEFAULT_DB_ALIAS])
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise
        self._held = fd

    def release(self) -> None:
        fd, self._held = self._held, None
        try:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def _lock_file(self, conn) -> int | None:
        key = (os.getpid(), conn.settings_dict["NAME"])
        try:
            return self._files[key]
        except KeyError:
            pass
        fd = None
        name = str(key[1])
        # An in-memory database has one process; a URI name is left to the busy handler.
        if fcntl is not None and not conn.is_in_memory_db() and not name.startswith("file:"):
            path = os.path.realpath(name) + LOCK_FILE_SUFFIX
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            except OSError as exc:
                logger.warning(
                    "cannot open %s (%s): processes writing to this SQLite file take turns "
                    "in SQLite's busy handler instead",
                    path,
                    exc,
                )
        self._files[key] = fd
        return fd
