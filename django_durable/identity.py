"""Names of lease owners, and telling whether the process behind one is still alive."""

from __future__ import annotations

import os
import socket
import uuid


def host_key() -> str:
    """This host and PID namespace: owners with the same key see the same process ids."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = "-"
    return f"{socket.gethostname()}/{namespace}"


def new_owner_id() -> str:
    """A lease owner name, ``host/pidns:pid:nonce``, unique for each worker or caller."""
    return f"{host_key()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def pid_of(owner: str) -> int | None:
    try:
        return int(owner.rsplit(":", 2)[-2])
    except (IndexError, ValueError):
        return None


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, it is just not ours
    return True
