"""Wait until a file is written to, by any process of this host (Linux inotify).

The SQLite commit watcher (``dialect.CommitWatcher``) uses it to look at the database only
when something wrote to it, instead of every few milliseconds. Where the C library has no
inotify (not Linux), or the kernel refuses one more instance, :func:`watch_writes` returns
``None`` and the caller polls.
"""

from __future__ import annotations

import ctypes
import os
import select
import threading
from collections.abc import Iterable

_IN_MODIFY = 0x00000002


class WriteWatch:
    """An inotify instance watching some files for writes."""

    def __init__(self, fd: int):
        self._fd = fd
        # interrupt() writes to this pipe, so that it ends a wait at once.
        self._interrupt_r, self._interrupt_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN)
        self._poll.register(self._interrupt_r, select.POLLIN)
        self._lock = threading.Lock()
        self._closed = False

    def wait(self, timeout: float) -> bool:
        """Return whether a watched file was written to, within ``timeout`` seconds.

        The writes seen are consumed: the next call waits for new ones. An
        :meth:`interrupt` ends the wait (False).
        """
        ready = {fd for fd, _event in self._poll.poll(timeout * 1000)}
        if self._interrupt_r in ready:
            _drain(self._interrupt_r)
            return False
        if self._fd in ready:
            _drain(self._fd)
            return True
        return False

    def interrupt(self) -> None:
        """End the current (or the next) :meth:`wait`; from any thread, also once closed."""
        with self._lock:
            if not self._closed:
                try:
                    os.write(self._interrupt_w, b"\0")
                except BlockingIOError:
                    pass  # the pipe is full of interrupts already

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for fd in (self._fd, self._interrupt_r, self._interrupt_w):
                os.close(fd)


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass  # everything read


def watch_writes(paths: Iterable[str]) -> WriteWatch | None:
    """Watch the existing files among ``paths``; ``None`` if inotify is not available."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        init, add = libc.inotify_init1, libc.inotify_add_watch
    except (OSError, AttributeError):
        return None
    fd = init(os.O_NONBLOCK | os.O_CLOEXEC)
    if fd < 0:
        return None  # e.g. the user's inotify instances are used up
    watched = [add(fd, os.fsencode(path), _IN_MODIFY) >= 0 for path in paths]
    if not any(watched):
        os.close(fd)
        return None
    return WriteWatch(fd)
