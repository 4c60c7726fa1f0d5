"""The benchmark workflows (auto-discovered: ``benchmarks`` is an installed app)."""

import os
import signal
import time
from datetime import datetime

from django_durable import register

# W3: the step after the K recorded ones kills its own process in the first phase and
# notes the time it ran in the second.
RESUMED_AT: list[float] = []


def trivial(i):
    return i


def after_k():
    if os.environ.get("BENCH_CRASH_AFTER_K"):
        os.kill(os.getpid(), signal.SIGKILL)
    RESUMED_AT.append(time.perf_counter())
    return None


def wall_clock():
    return time.time()


@register.workflow()
def bench_steps(ctx, n: int):
    """W1 (and W3's first phase): ``n`` sequential trivial steps."""
    for i in range(n):
        ctx.step(trivial, i)
    return n


@register.workflow()
def bench_three(ctx, i: int):
    """W2: three trivial steps."""
    for j in range(3):
        ctx.step(trivial, i + j)
    return i


@register.workflow()
def bench_fanout(ctx, n: int):
    """W6: fan out ``n`` children (``bench_three``), gather their results, return their sum."""
    return sum(ctx.run_workflows(bench_three, [{"i": i} for i in range(n)]))


def timed_sleep():
    """W7: a step of a few ms that returns the wall-clock times its body began and ended."""
    began = time.time()
    time.sleep(QUEUED_STEP_SECONDS)
    return [began, time.time()]


# W7: long enough for the steps running at once to overlap measurably.
QUEUED_STEP_SECONDS = 0.005


@register.workflow()
def bench_queued(ctx):
    """W7: one timed step (started on the queue ``w7`` by the case: see settings.py)."""
    return ctx.step(timed_sleep)


@register.workflow()
def bench_resume(ctx, k: int):
    """W3: ``k`` trivial steps, then one that crashes (first phase) or is timed (second)."""
    for i in range(k):
        ctx.step(trivial, i)
    ctx.step(after_k)
    return k


@register.workflow()
def bench_first(ctx):
    """W5: the first step returns the wall-clock time at which it ran."""
    return ctx.step(wall_clock)


@register.workflow()
def bench_sleeper(ctx, until: str):
    """W4: sleep until ``until`` (an ISO 8601 aware datetime); return when the next step ran."""
    ctx.sleep_until(datetime.fromisoformat(until))
    return ctx.step(wall_clock)


@register.workflow()
def bench_day_long(ctx, n: int):
    """The test harness case: ``n`` trivial steps with a one-day sleep in the middle."""
    for i in range(n // 2):
        ctx.step(trivial, i)
    ctx.sleep(86400)
    for i in range(n // 2, n):
        ctx.step(trivial, i)
    return n
