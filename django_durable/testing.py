"""Test your workflows in your own test suite: inline, deterministic, in milliseconds.

``run_until_idle()`` runs every runnable execution in the calling thread until none is left,
and skips timers by moving the engine's clock (:mod:`django_durable.clock`) to the next one
due, so a workflow that sleeps a day finishes at once and ``ctx.now()`` reads a day later.
It works inside a ``django.test.TestCase`` transaction: no worker, no other connection.
``override_activity()`` swaps an activity's function for the length of a ``with`` block.

The clock stays moved for the rest of the test (time in a test only goes forward); call
:func:`reset_clock` when the test ends (the ``durable`` pytest fixture does).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from . import clock
from .exceptions import InvalidInput
from .inline import InlineDriver
from .registry import register

__all__ = ["reset_clock", "override_activity", "run_until_idle"]


class StillBusy(RuntimeError):
    """``run_until_idle`` made its maximum number of runs and work remained."""


def run_until_idle(
    *, until: dt.datetime | dt.timedelta | None = None, max_runs: int = 1000
) -> list[str]:
    """Run every runnable execution here and now, firing timers at once; return their ids.

    Repeats until nothing is runnable and no timer is left (or none is due before
    ``until``: a datetime, or a timedelta from now, after which the clock does not move).
    An execution waiting for a signal stays waiting: send it with
    :func:`~django_durable.signal_workflow` and call this again. Raises :class:`StillBusy`
    after ``max_runs`` runs (a workflow that never ends, like a loop of sleeps).
    """
    if isinstance(max_runs, bool) or not isinstance(max_runs, int) or max_runs < 1:
        raise InvalidInput(f"max_runs must be a whole number of 1 or more, not {max_runs!r}")
    if isinstance(until, dt.timedelta):
        until = clock.now() + until
    elif until is not None and not isinstance(until, dt.datetime):
        raise InvalidInput(f"until takes a datetime or a timedelta, not {until!r}")
    driver = InlineDriver(heartbeat=False)
    # Timers are fired only when nothing is runnable: the clock moves only then, and each
    # look for due timers is a query the common path does not need.
    fire = True
    while True:
        if driver.run_once(fire_timers=fire):
            if len(driver.ran) >= max_runs:
                raise StillBusy(
                    f"run_until_idle made {max_runs} runs and work remains: does a workflow "
                    "loop forever? Pass until= to stop the clock, or a larger max_runs"
                )
            fire = False
            continue
        if not fire:
            fire = True  # nothing runnable: are timers due at the current time?
            continue
        due = driver.next_timer_due()
        if due is None or (until is not None and due > until):
            break
        clock.move_to(due)
    return list(dict.fromkeys(driver.ran))


def reset_clock() -> None:
    """Put the engine's clock back to the real time (after a test that moved it)."""
    clock.reset()


@contextmanager
def override_activity(
    name_or_fn: str | Callable[..., Any], fn: Callable[..., Any]
) -> Iterator[None]:
    """Run ``fn`` instead of the activity's function inside the block.

    The activity keeps its name, retry policy and timeout, so step ids and records are as
    in production; only the work is replaced (a fake payment provider, a failing email).
    """
    definition = register.get_activity(name_or_fn)
    register.activities[definition.name] = dataclasses.replace(definition, fn=fn)
    try:
        yield
    finally:
        register.activities[definition.name] = definition
