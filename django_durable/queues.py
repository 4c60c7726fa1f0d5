"""Queues: their names and limits from ``DURABLE_QUEUES``, and where an execution goes.

Every execution is on one queue (``"default"`` unless its workflow or its start names
another). A queue with a limit caps, across every worker, how many of its executions run at
once (``concurrency``) and how many start per period (``rate_limit = (COUNT, SECONDS)``).
Read at call time, never at import, like every setting.
"""

from __future__ import annotations

from dataclasses import dataclass

from .conf import durable_settings
from .exceptions import UnknownQueue

DEFAULT_QUEUE = "default"
MAX_NAME_LENGTH = 100
# The priority is stored in a 32-bit integer column on every database.
MIN_PRIORITY, MAX_PRIORITY = -(2**31), 2**31 - 1


@dataclass(frozen=True)
class QueueLimit:
    """A queue's limits: at most ``concurrency`` running, ``rate_count`` per ``rate_seconds``."""

    name: str
    concurrency: int | None = None
    rate_count: int | None = None
    rate_seconds: float | None = None


class QueueSettingError(ValueError):
    """``DURABLE_QUEUES`` is malformed (reported by the system checks)."""


def configured() -> dict[str, QueueLimit]:
    """Every declared queue by name, ``"default"`` included; raise on a malformed setting."""
    global _parsed
    raw = durable_settings.DURABLE_QUEUES
    parsed = _parsed
    if parsed is not None and parsed[0] is raw:
        return parsed[1]  # every claim and start asks: parse the setting once per value
    queues = _parse_all(raw)
    _parsed = (raw, queues)
    return queues


_parsed: tuple[object, dict[str, QueueLimit]] | None = None


def _parse_all(raw: object) -> dict[str, QueueLimit]:
    if not isinstance(raw, dict):
        raise QueueSettingError(
            f"DURABLE_QUEUES must be a dict of queue names to options, not {type(raw).__name__}"
        )
    queues = {DEFAULT_QUEUE: QueueLimit(DEFAULT_QUEUE)}
    for name, options in raw.items():
        queues[name] = _parse(name, options)
    return queues


def _parse(name: object, options: object) -> QueueLimit:
    where = f"DURABLE_QUEUES[{name!r}]"
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_LENGTH:
        raise QueueSettingError(
            f"{where}: a queue name must be a non-empty string of at most "
            f"{MAX_NAME_LENGTH} characters"
        )
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise QueueSettingError(
            f'{where} must be a dict such as {{"concurrency": 5, "rate_limit": (100, 60)}}'
        )
    unknown = sorted(set(options) - {"concurrency", "rate_limit"})
    if unknown:
        raise QueueSettingError(
            f"{where}: unknown option {unknown[0]!r} (the options are concurrency and rate_limit)"
        )
    concurrency = options.get("concurrency")
    if concurrency is not None and not _positive_int(concurrency):
        raise QueueSettingError(
            f"{where}['concurrency'] must be a whole number of at least 1, not {concurrency!r} "
            "(leave it out for no limit)"
        )
    rate = options.get("rate_limit")
    count = seconds = None
    if rate is not None:
        if (
            not isinstance(rate, (tuple, list))
            or len(rate) != 2
            or not _positive_int(rate[0])
            or not _positive_number(rate[1])
        ):
            raise QueueSettingError(
                f"{where}['rate_limit'] must be (COUNT, SECONDS) with COUNT a whole number "
                f"of at least 1 and SECONDS > 0, e.g. (100, 60); not {rate!r}"
            )
        count, seconds = int(rate[0]), float(rate[1])
    return QueueLimit(name, concurrency, count, seconds)


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _positive_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def limited() -> list[QueueLimit]:
    """The queues with a concurrency or rate limit."""
    return [q for q in configured().values() if q.concurrency or q.rate_count]


def check_queue(name: object) -> str:
    """Return ``name`` if it is a declared queue; raise :class:`UnknownQueue` otherwise."""
    queues = configured()
    if not isinstance(name, str) or name not in queues:
        raise UnknownQueue(name, sorted(queues))
    return name


def check_priority(priority: object) -> int:
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise TypeError(f"priority must be a whole number, not {type(priority).__name__}")
    if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise ValueError(f"priority must be between {MIN_PRIORITY} and {MAX_PRIORITY}")
    return priority


def placement(default_queue: str, queue: str | None, priority: int | None) -> tuple[str, int]:
    """The queue and priority of a start: the start's own, else the workflow's, else 0."""
    return (
        check_queue(default_queue if queue is None else queue),
        0 if priority is None else check_priority(priority),
    )
