"""How long this process may still act on a lease, by its own clock."""

from __future__ import annotations

import time


class LeaseClock:
    """Until when this process may still act on a lease, by its own monotonic clock.

    Renewed from the time a renewal *began*, less a margin, so that a run whose heartbeat is
    stuck (a database lock, a long pause) stops before another worker may take over, rather
    than start a step body after the lease has passed to someone else.
    """

    def __init__(self, lease_seconds: float, margin: float):
        self.lease_seconds = lease_seconds
        self.margin = min(margin, lease_seconds / 2)
        self.valid_until = time.monotonic() + lease_seconds - self.margin

    def renewed(self, began: float) -> None:
        self.valid_until = began + self.lease_seconds - self.margin

    def expired(self) -> bool:
        return time.monotonic() >= self.valid_until
