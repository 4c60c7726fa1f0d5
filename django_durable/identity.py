"""Names of lease owners, and telling whether the process behind one is still alive."""

from __future__ import annotations

import os
import socket
import uuid


def host_key() -> str:
    """This boot of this host, and this PID namespace: owners with the same key see the same
    process ids.

    The hostname alone is not enough (containers often share one), nor is the namespace id
    (the initial PID namespace has the same id on every Linux host); the boot id tells
    machines apart.
    """
    parts = []
    for path, reader in (
        ("/proc/sys/kernel/random/boot_id", _read),
        ("/proc/self/ns/pid", os.readlink),
    ):
        try:
            parts.append(reader(path).strip())
        except OSError:
            parts.append("-")
    return "/".join(part.replace(":", "").replace("@", "") for part in parts)


def _read(path: str) -> str:
    with open(path) as handle:
        return handle.read()


def owner_name(pid: int, nonce: str) -> str:
    """``host:pid:nonce@hostkey``: readable first, unique, and telling where it runs."""
    host = socket.gethostname().replace(":", "").replace("@", "") or "host"
    return f"{host}:{pid}:{nonce}{local_suffix()}"


def local_suffix() -> str:
    """The end shared by the names of every owner whose process ids this one can check."""
    return f"@{host_key()}"


def new_owner_id() -> str:
    """A lease owner name, unique for each worker or caller (see :func:`owner_name`)."""
    return owner_name(os.getpid(), uuid.uuid4().hex[:8])


def pid_of(owner: str) -> int | None:
    try:
        return int(owner.split("@", 1)[0].split(":")[1])
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
