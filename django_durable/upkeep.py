"""Upkeep of a worker's long-lived hold on the database: its threads' connections and leases.

Used by the worker (:mod:`.worker`) and by ``run_workflow``'s in-process driver
(:mod:`.inline`), whose one heartbeat thread :func:`keep_lease` starts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import Error as DatabaseError
from django.db import connection

from . import store
from .conf import durable_settings
from .identity import local_suffix, pid_of, process_alive
from .lease_clock import LeaseClock

logger = logging.getLogger("django_durable")


def drop_broken_connection() -> None:
    """Close this thread's connection if a database error left it unusable.

    Unlike ``close_old_connections()``, a healthy connection is kept whatever
    ``CONN_MAX_AGE`` says: a worker thread is one long-lived client, and reconnecting for
    every run would cost more than the run itself.
    """
    if connection.connection is None or not connection.errors_occurred:
        return
    if connection.in_atomic_block or connection.is_usable():
        connection.errors_occurred = False
    else:
        connection.close()


def drop_dead_idle_connection() -> None:
    """Close this thread's connection if it died while the thread was idle.

    A server or a proxy may end idle connections (MySQL's ``wait_timeout``, PostgreSQL's
    ``idle_session_timeout``, a firewall, an operator). Found only at the first query of the
    next run, it would abort that run and delay the execution; one ping after an idle spell
    costs less. A busy thread, running executions back to back, never pays it.
    """
    if connection.connection is not None and not connection.is_usable():
        connection.close()


def expire_dead_local_owners(own_id: str) -> int:
    """End the leases of workers on this host whose process is gone; return how many."""
    dead = [
        owner
        for owner in store.running_owners(local_suffix())
        if owner != own_id and (pid := pid_of(owner)) is not None and not process_alive(pid)
    ]
    expired = store.expire_leases_of(dead)
    if expired:
        logger.info("took back %d execution(s) of dead worker(s) %s", expired, ", ".join(dead))
    return expired


@contextmanager
def keep_lease(lease: store.Lease, abort: threading.Event, clock: LeaseClock) -> Iterator[None]:
    """Renew one lease in a heartbeat thread while the body runs (``run_workflow``).

    ``abort`` is set if the lease is lost (canceled, or taken over), so the run stops at its
    next step.
    """
    stop = threading.Event()
    interval = float(durable_settings.DURABLE_HEARTBEAT_SECONDS)
    lease_seconds = float(durable_settings.DURABLE_LEASE_SECONDS)

    def beat() -> None:
        try:
            while not stop.wait(interval):
                began = time.monotonic()
                try:
                    held = store.renew_leases([lease], lease_seconds)
                except DatabaseError as exc:
                    logger.warning("could not renew the lease of %s: %s", lease.execution_id, exc)
                    connection.close()
                    continue
                if lease.execution_id not in held:
                    abort.set()
                    return
                clock.renewed(began)
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name="durable-lease", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
