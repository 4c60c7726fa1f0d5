"""Retry policies: a value, and the pure function that turns an attempt number into a delay."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.module_loading import import_string


@dataclass(frozen=True)
class RetryPolicy:
    """How often, and how far apart, a failing step is tried.

    ``max_attempts`` counts every try, the first one included: 1 means no retry, 0 means no
    limit. The n-th retry waits ``initial_interval * backoff_coefficient ** (n - 1)`` seconds,
    at most ``max_interval``. An error whose class is in ``non_retryable`` (classes, or their
    import paths as strings) fails the step at once.
    """

    max_attempts: int = 3
    initial_interval: float = 1.0
    backoff_coefficient: float = 2.0
    max_interval: float = 60.0
    non_retryable: tuple[type[BaseException] | str, ...] = field(default=())

    def __post_init__(self) -> None:
        if isinstance(self.non_retryable, (list, set, frozenset)):
            object.__setattr__(self, "non_retryable", tuple(self.non_retryable))
        problems = []
        if not isinstance(self.max_attempts, int) or self.max_attempts < 0:
            problems.append("max_attempts must be an int >= 0 (0 means no limit)")
        if not _is_number(self.initial_interval) or self.initial_interval < 0:
            problems.append("initial_interval must be a number of seconds >= 0")
        if not _is_number(self.backoff_coefficient) or self.backoff_coefficient < 1:
            problems.append("backoff_coefficient must be a number >= 1")
        if not _is_number(self.max_interval) or self.max_interval < self.initial_interval:
            problems.append("max_interval must be a number of seconds >= initial_interval")
        if not isinstance(self.non_retryable, tuple) or not all(
            isinstance(item, str) or (isinstance(item, type) and issubclass(item, BaseException))
            for item in self.non_retryable
        ):
            problems.append("non_retryable must be exception classes or their import paths")
        if problems:
            raise ValueError("invalid RetryPolicy: " + "; ".join(problems))


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


NO_RETRY = RetryPolicy(max_attempts=1)
"""The policy of a plain ``ctx.step`` unless it is given one: a single attempt."""

DEFAULT_ACTIVITY_RETRY = RetryPolicy()
"""The policy of an activity registered without ``retry=``: 3 attempts, 1 s then 2 s apart."""


def next_delay(policy: RetryPolicy, attempts_made: int) -> float | None:
    """Return the seconds to wait before the next attempt, or ``None`` if none is left."""
    if policy.max_attempts and attempts_made >= policy.max_attempts:
        return None
    delay = policy.initial_interval * policy.backoff_coefficient ** (attempts_made - 1)
    return float(min(delay, policy.max_interval))


def is_retryable(policy: RetryPolicy, error: BaseException) -> bool:
    """Tell whether ``error`` may be retried under ``policy``."""
    for item in policy.non_retryable:
        if isinstance(item, str):
            try:
                item = import_string(item)
            except ImportError:
                # A name that does not import still matches by its qualified name.
                if _qualified_name(type(error)) == item:
                    return False
                continue
        if isinstance(error, item):
            return False
    return True


def _qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
