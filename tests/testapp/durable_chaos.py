"""The chaos workload (``tests/chaos.py``): one workflow that follows a plan of steps.

Every step body writes a :class:`SideEffect` row (its own transaction, outside the engine,
except in atomic steps where it shares the step's transaction) with the worker's pid, the
lease epoch of the run, and when the body began and ended, so that the runner can count
real executions and check that no two runs of one execution overlapped.
"""

import os
import time

from django_durable.registry import register
from django_durable.retry import RetryPolicy

from .models import Ledger, SideEffect


class ChaosFailure(Exception):
    """Raised by a workflow whose plan ends in ``["fail"]``."""


def _run_epoch(ctx) -> int:
    # The epoch this run was claimed with (an engine internal, read for the overlap check).
    lease = getattr(ctx, "_lease", None)
    return lease.epoch if lease is not None else 0


def chaos_step(execution_id, step, epoch, seconds):
    row = SideEffect.objects.create(
        execution_id=execution_id, step=step, pid=os.getpid(), epoch=epoch, started=time.time()
    )
    try:
        if seconds:
            time.sleep(seconds)
        SideEffect.objects.filter(pk=row.pk).update(finished=time.time())
    except BaseException:
        note_end(row.pk)
        raise
    return step


def note_end(pk):
    """The body ends here but the database cannot say so: tell the chaos runner by a file."""
    directory = os.environ.get("DURABLE_CHAOS_ENDS")
    if directory:
        with open(os.path.join(directory, f"ends-{os.getpid()}.txt"), "a") as notes:
            notes.write(f"{pk} {time.time()}\n")


def chaos_book(execution_id, step, epoch, amount):
    """Atomic: the side-effect and ledger rows commit with the step's record, or not at all."""
    started = time.time()
    Ledger.objects.create(execution_id=execution_id, entry=step, amount=amount)
    SideEffect.objects.create(
        execution_id=execution_id,
        step=step,
        pid=os.getpid(),
        epoch=epoch,
        started=started,
        finished=time.time(),
    )
    return amount


def chaos_flaky(execution_id, step, epoch):
    """Fails on its first attempt (remembered in a ``<step>.fail`` row), then succeeds."""
    failed = f"{step}.fail"
    if not SideEffect.objects.filter(execution_id=execution_id, step=failed).exists():
        now = time.time()
        SideEffect.objects.create(
            execution_id=execution_id,
            step=failed,
            pid=os.getpid(),
            epoch=epoch,
            started=now,
            finished=now,
        )
        raise RuntimeError(f"{step}: failing once on purpose")
    chaos_step(execution_id, step, epoch, 0.0)
    return f"{step}-ok"


@register.workflow()
def chaos_mix(ctx, plan: list):
    """Run ``plan``: a list of ``[kind, ...]`` items; return one result per item."""
    eid = ctx.execution_id
    results = []
    for item in plan:
        kind = item[0]
        if kind == "step":
            _, sid, seconds = item
            results.append(ctx.step(chaos_step, eid, sid, _run_epoch(ctx), seconds, step_id=sid))
        elif kind == "atomic":
            _, sid, amount = item
            value = ctx.step(
                chaos_book, eid, sid, _run_epoch(ctx), amount, step_id=sid, atomic=True
            )
            results.append(value)
        elif kind == "sleep":
            ctx.sleep(item[1])
            results.append(None)
        elif kind == "signal":
            results.append(ctx.wait_signal(item[1]))
        elif kind == "flaky":
            _, sid, interval = item
            policy = RetryPolicy(max_attempts=3, initial_interval=interval)
            results.append(
                ctx.step(chaos_flaky, eid, sid, _run_epoch(ctx), step_id=sid, retry=policy)
            )
        elif kind == "broken":
            # No retry policy: the step fails once for good, and so does the execution,
            # until the chaos runner retries it (retry_workflow) and the step succeeds.
            sid = item[1]
            results.append(ctx.step(chaos_flaky, eid, sid, _run_epoch(ctx), step_id=sid))
        elif kind == "event":
            ctx.set_event("progress", item[1])
            results.append(None)
        elif kind == "children":
            # Children with ids under the parent's (the runner checks them like parents),
            # started one by one, then gathered.
            _, sid, count = item
            children = [
                ctx.start_workflow("chaos_child", workflow_id=f"{eid}.{sid}.{j}", step=sid, j=j)
                for j in range(count)
            ]
            results.append(ctx.wait_workflows(children))
        elif kind == "fanout":
            # A batch fan-out (ids generated), gathered in one call.
            _, count = item
            results.append(ctx.run_workflows("chaos_double", [{"j": j} for j in range(count)]))
        elif kind == "fail":
            raise ChaosFailure("planned failure")
        else:
            raise ValueError(f"unknown plan item {item!r}")
    return results


@register.workflow()
def chaos_child(ctx, step: str, j: int):
    """A child with a side effect, checked by the runner like every execution of the run."""
    ctx.step(chaos_step, ctx.execution_id, step, _run_epoch(ctx), 0.01, step_id=step)
    return f"{step}-{j}"


def _double(j):
    return 2 * j


@register.workflow()
def chaos_double(ctx, j: int):
    return ctx.step(_double, j)
