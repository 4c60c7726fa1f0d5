import datetime as dt
import os
import time

from django_durable.exceptions import ChildWorkflowFailed, StepFailed, WaitTimeout
from django_durable.registry import register

from .models import Ledger, SideEffect


@register.workflow()
def onboard_user(ctx, user_id: int):
    ctx.run_activity("send_email", user_id)
    ctx.sleep(3600)  # timer; no worker thread is blocked
    score = ctx.run_activity("compute_score", user_id)
    return {"ok": True, "score": score["score"]}


def effect(execution_id, name, sleep=0.0):
    SideEffect.objects.create(execution_id=execution_id, step=name, pid=os.getpid())
    if sleep:
        time.sleep(sleep)
    return name


@register.workflow()
def add(ctx, a: int, b: int):
    return ctx.step(lambda: a + b, step_id="sum")


@register.workflow()
def steps(ctx, n: int, sleep: float = 0.0):
    """``n`` sequential steps, each writing a side-effect row."""
    total = 0
    for i in range(n):
        ctx.step(effect, ctx.execution_id, f"s{i}", sleep, step_id=f"s{i}")
        total += i
    return total


@register.workflow()
def ledger(ctx, entries: int, sleep: float = 0.0):
    """Atomic steps: each writes a ledger row in the transaction that records it."""

    def book(index):
        Ledger.objects.create(execution_id=ctx.execution_id, entry=f"e{index}", amount=index)
        if sleep:
            time.sleep(sleep)
        return index

    return sum(ctx.step(book, i, atomic=True, step_id=f"e{i}") for i in range(entries))


@register.workflow()
def sleepy(ctx, seconds: float):
    before = ctx.now()
    ctx.sleep(seconds)
    return {"slept_from": before}


@register.workflow()
def approval(ctx, timeout: float | None = None):
    decision = ctx.wait_signal("approve", timeout=timeout)
    return {"decision": decision}


@register.workflow()
def two_signals(ctx):
    first = ctx.wait_signal("item")
    second = ctx.wait_signal("item")
    return [first, second]


@register.workflow()
def failing(ctx):
    ctx.step(effect, ctx.execution_id, "before")
    raise ValueError("boom on purpose")


@register.workflow()
def catches_step_failure(ctx):
    def explode():
        raise KeyError("missing")

    try:
        ctx.step(explode)
    except Exception as exc:  # noqa: BLE001
        return {"caught": type(exc).__name__, "message": str(exc)}


@register.workflow()
def retrying(ctx, fail_times: int):
    return ctx.run_activity("flaky", ctx.execution_id, "flaky", fail_times)


@register.workflow()
def times_out_step(ctx):
    return ctx.run_activity("slow", 2.0)


@register.workflow(timeout=0.5)
def short_deadline(ctx):
    ctx.sleep(30)
    return "never"


@register.workflow()
def swallows(ctx):
    try:
        ctx.sleep(60)
    except:  # noqa: E722 - on purpose: the engine must still suspend
        pass
    return "should not complete"


@register.workflow()
def deterministic(ctx):
    return {"now": ctx.now(), "uuid": ctx.uuid4(), "random": ctx.random()}


@register.workflow()
def unserializable(ctx):
    return ctx.step(object)


@register.workflow()
def steps_then_sleep(ctx, before: int, after: int):
    for i in range(before):
        ctx.step(effect, ctx.execution_id, f"b{i}")
    ctx.sleep(60)
    for i in range(after):
        ctx.step(effect, ctx.execution_id, f"a{i}")
    return before + after


@register.workflow()
def explicit_ids(ctx, variant: str):
    def first():
        return 1

    def second():
        return 2

    ctx.step(first, step_id="shared")
    if variant == "changed":
        return ctx.step(second, step_id="shared")
    return ctx.step(second)


@register.workflow()
def retrying_slowly(ctx, fail_times: int):
    from django_durable.retry import RetryPolicy

    from .durable_activities import flaky

    policy = RetryPolicy(max_attempts=3, initial_interval=5)
    return ctx.step(flaky, ctx.execution_id, "flaky", fail_times, retry=policy)


@register.workflow()
def mixed(ctx, n: int):
    """Plain steps that take a while and atomic ledger steps: a kill lands in either."""

    def book(index):
        Ledger.objects.create(execution_id=ctx.execution_id, entry=f"l{index}", amount=index)
        time.sleep(0.05)
        return index

    total = 0
    for i in range(n):
        ctx.step(effect, ctx.execution_id, f"x{i}", 0.1, step_id=f"x{i}")
        total += ctx.step(book, i, atomic=True, step_id=f"l{i}")
    return total


# --- used by tests/test_bad_input.py ---------------------------------------------------


def _one():
    return 1


BAD_CTX_CALLS = {
    "sleep_text": lambda ctx: ctx.sleep("soon"),
    "sleep_negative": lambda ctx: ctx.sleep(-1),
    "sleep_nan": lambda ctx: ctx.sleep(float("nan")),
    "sleep_infinite": lambda ctx: ctx.sleep(float("inf")),
    "sleep_until_naive": lambda ctx: ctx.sleep_until(dt.datetime(2030, 1, 1)),
    "sleep_until_text": lambda ctx: ctx.sleep_until("tomorrow"),
    "wait_signal_empty": lambda ctx: ctx.wait_signal(""),
    "wait_signal_none": lambda ctx: ctx.wait_signal(None),
    "wait_signal_bad_timeout": lambda ctx: ctx.wait_signal("go", timeout="later"),
    "wait_signal_long_name": lambda ctx: ctx.wait_signal("n" * 300, timeout=60),
    "step_not_callable": lambda ctx: ctx.step("not callable"),
    "step_bad_retry": lambda ctx: ctx.step(_one, retry={"max_attempts": 3}),
    "step_atomic_timeout": lambda ctx: ctx.step(_one, atomic=True, timeout=5),
    "step_negative_timeout": lambda ctx: ctx.step(_one, timeout=-1),
    "step_empty_id": lambda ctx: ctx.step(_one, step_id=""),
    "step_int_id": lambda ctx: ctx.step(_one, step_id=7),
    "step_long_id": lambda ctx: ctx.step(_one, step_id="s" * 300),
    "step_nul_id": lambda ctx: ctx.step(_one, step_id="a\x00b"),
    "wait_signal_nul_name": lambda ctx: ctx.wait_signal("a\x00b", timeout=60),
    "step_wrong_args": lambda ctx: ctx.step(_one, 1, 2),
    "activity_unknown": lambda ctx: ctx.run_activity("no_such_activity"),
    "activity_wrong_kwargs": lambda ctx: ctx.run_activity("send_email", user=7),
    "set_event_empty_key": lambda ctx: ctx.set_event("", 1),
    "set_event_nul_key": lambda ctx: ctx.set_event("a\x00b", 1),
    "set_event_unstorable": lambda ctx: ctx.set_event("progress", object()),
}


@register.workflow()
def bad_ctx_call(ctx, case: str):
    BAD_CTX_CALLS[case](ctx)
    return "unreachable"


LAMBDA_STEP_NAME = {"name": "<lambda>"}
"""The name the step of ``renamed_lambda`` gets; a test changes it between two runs."""


@register.workflow()
def renamed_lambda(ctx, explicit: bool):
    fn = lambda: 1  # noqa: E731 - a lambda on purpose
    fn.__name__ = LAMBDA_STEP_NAME["name"]
    first = ctx.step(fn, step_id="pick" if explicit else None)
    ctx.sleep(60)
    return first


@register.workflow()
def step_returns(ctx, kind: str, size: int = 0):
    def produce():
        if kind == "set":
            return {1, 2}
        if kind == "huge_int":
            return 2**80
        if kind == "blob":
            return "x" * size
        return object()

    return ctx.step(produce)


@register.workflow()
def returns_big(ctx, size: int):
    return "x" * size


@register.workflow()
def generator_flow(ctx):
    yield ctx.step(_one)


@register.workflow()
def blocks_with_time_sleep(ctx, seconds: float):
    time.sleep(seconds)  # blocks this run's thread; no timer row, no suspension
    return ctx.step(_one)


@register.workflow()
def swallows_wait(ctx):
    try:
        ctx.wait_signal("go")
    except:  # noqa: E722 - on purpose: the engine must still suspend
        pass
    ctx.step(effect, ctx.execution_id, "after-swallow")
    return "should not complete"


@register.workflow()
def swallows_then_raises(ctx):
    try:
        ctx.sleep(60)
    except BaseException:
        raise ValueError("masked the suspension") from None
    return "should not complete"


@register.workflow()
def never_returns_flow(ctx):
    return ctx.run_activity("never_returns")


@register.workflow()
def interrupted_step(ctx, kind: str):
    def interrupt():
        raise (KeyboardInterrupt if kind == "keyboard" else SystemExit)("from a step")

    return ctx.step(interrupt)


@register.workflow()
def exits_in_body(ctx):
    raise SystemExit(3)


@register.workflow()
def recurses(ctx, in_step: bool = False):
    def down(n):
        return down(n + 1)

    if in_step:
        return ctx.step(down, 0)
    return down(0)


@register.workflow()
def raises_nul(ctx):
    raise ValueError("a NUL \x00 in the message")


@register.workflow()
def calls_activity(ctx, name: str):
    return ctx.run_activity(name)


@register.workflow()
def atomic_swallows_db_error(ctx):
    from django.db import IntegrityError

    def book_twice():
        Ledger.objects.create(execution_id=ctx.execution_id, entry="dup", amount=1)
        try:
            SideEffect.objects.create(execution_id=None, step="x")  # NOT NULL violation
        except IntegrityError:
            pass  # swallowed: the transaction can now only roll back
        return 1

    return ctx.step(book_twice, atomic=True)


@register.workflow()
def wait_after_other_signal(ctx):
    note = ctx.wait_signal("note")
    decision = ctx.wait_signal("approve", timeout=30)
    return {"note": note, "decision": decision}


CONNECTION_KILLS = {"left": 0}


@register.workflow()
def atomic_loses_connection(ctx):
    from django.db import connection

    def book():
        Ledger.objects.create(execution_id=ctx.execution_id, entry="book", amount=1)
        if CONNECTION_KILLS["left"] > 0:
            CONNECTION_KILLS["left"] -= 1
            connection.connection.close()  # the database connection dies under the step
            Ledger.objects.count()
        return "booked"

    return ctx.step(book, atomic=True, step_id="book")


from . import durable_chaos  # noqa: E402, F401 - the chaos workload (tests/chaos.py)


@register.workflow(timeout=3600)
def add_with_deadline(ctx, a: int, b: int):
    """``add`` with a workflow timeout: it starts with a timeout timer."""
    return ctx.step(_sum, a, b)


def _sum(a, b):
    return a + b


def _fails_the_first_time(execution_id):
    if not SideEffect.objects.filter(execution_id=execution_id, step="second-failed").exists():
        SideEffect.objects.create(execution_id=execution_id, step="second-failed", pid=os.getpid())
        raise RuntimeError("fails the first time")
    SideEffect.objects.create(execution_id=execution_id, step="second", pid=os.getpid())
    return 2


@register.workflow()
def fails_first_time(ctx):
    """Fails at its second step on the first try; a retry of the execution completes."""
    ctx.step(effect, ctx.execution_id, "first", step_id="first")
    return ctx.step(_fails_the_first_time, ctx.execution_id, step_id="second")


def _renamed_first(execution_id):
    return "renamed"


@register.workflow()
def evolving(ctx):
    """Code that changes with DURABLE_TEST_EVOLVING: "v2" is a deploy that breaks the record."""
    if os.environ.get("DURABLE_TEST_EVOLVING", "v1") == "v1":
        ctx.step(effect, ctx.execution_id, "first", step_id="first")
    else:
        ctx.step(_renamed_first, ctx.execution_id, step_id="first")
    ctx.sleep(3600)
    return "done"


def _double(n):
    return n * 2


@register.workflow()
def day_long(ctx, steps: int):
    """``steps`` steps, a one-day sleep in the middle, and the clock read on both sides."""
    before = ctx.now()
    total = sum(ctx.step(_double, n) for n in range(steps // 2))
    ctx.sleep(dt.timedelta(days=1))
    total += sum(ctx.step(_double, n) for n in range(steps // 2, steps))
    return {"total": total, "slept": (ctx.now() - before).total_seconds()}


@register.workflow()
def reminds_forever(ctx):
    while True:
        ctx.sleep(60)


@register.workflow()
def welcome(ctx, user_id: int):
    sent = ctx.run_activity("send_email", user_id)
    approved = ctx.wait_signal("approve")
    return {"sent": sent, "approved": approved}


@register.workflow()
def reports_progress(ctx, total: int):
    """Publishes its progress, a link, waits for "go", then publishes that it finished."""
    ctx.set_event("link", "https://pay.example/42")
    for done in range(1, total + 1):
        ctx.step(_double, done)
        ctx.set_event("progress", {"done": done, "of": total})
    ctx.wait_signal("go")
    ctx.set_event("progress", "finished")
    return total


# --- composition: children, fan-out, queues ---------------------------------------------


@register.workflow()
def child_adds(ctx, a: int, b: int, fail: bool = False, wait: str = ""):
    """A child: one step; fails on request; waits for a signal ``wait`` if named."""
    if wait:
        ctx.wait_signal(wait)
    total = ctx.step(_add, a, b)
    if fail:
        raise ValueError(f"asked to fail with {total}")
    return total


def _add(a, b):
    return a + b


@register.workflow()
def parent_runs_child(ctx, a: int, b: int, fail: bool = False, wait: str = ""):
    child = ctx.start_workflow("child_adds", a=a, b=b, fail=fail, wait=wait)
    try:
        total = ctx.wait_workflow(child)
    except ChildWorkflowFailed as exc:
        return {"child": child, "failed": exc.status, "error": exc.error_type}
    return {"child": child, "total": ctx.step(_double, total)}


@register.workflow()
def parent_does_not_catch(ctx):
    return ctx.run_workflow(child_adds, a=1, b=2, fail=True)


@register.workflow()
def parent_waits_with_timeout(ctx, seconds: float):
    child = ctx.start_workflow("child_adds", a=1, b=1, wait="never")
    try:
        return ctx.wait_workflow(child, timeout=seconds)
    except WaitTimeout:
        ctx.step(_double, 1)
        return "gave up"


@register.workflow()
def fans_out(ctx, n: int, fail_every: int = 0, steps: int = 1):
    """Starts ``n`` children at once, gathers them, and sums what came back."""
    inputs = [
        {"a": k, "b": steps, "fail": bool(fail_every) and k % fail_every == 0} for k in range(n)
    ]
    results = ctx.run_workflows("child_adds", inputs, return_exceptions=bool(fail_every))
    failed = [r for r in results if isinstance(r, ChildWorkflowFailed)]
    return {"sum": sum(r for r in results if isinstance(r, int)), "failed": len(failed)}


@register.workflow()
def grandparent(ctx):
    return ctx.run_workflow("parent_runs_child", a=2, b=3, wait="go")


@register.workflow()
def waits_on_itself(ctx):
    return ctx.wait_workflow(ctx.execution_id)


@register.workflow()
def starts_unknown_child(ctx):
    return ctx.start_workflow("no_such_workflow")


@register.workflow()
def waits_on(ctx, execution_id: str):
    return ctx.wait_workflow(execution_id)


@register.workflow()
def starts_child_as_itself(ctx):
    return ctx.start_workflow("child_adds", workflow_id=ctx.execution_id, a=1, b=1)


@register.workflow()
def starts_child(ctx, child_id: str = "", child_queue: str = "default"):
    return ctx.start_workflow(
        "child_adds", workflow_id=child_id or None, queue=child_queue, a=1, b=1
    )


@register.workflow()
def fans_out_badly(ctx):
    return ctx.start_workflows("child_adds", [1, 2])


@register.workflow(queue="limited")
def queued_work(ctx, seconds: float = 0.2):
    """One step that takes ``seconds``, on the queue "limited" (limits set per test)."""
    return ctx.step(_pause, seconds)


def _pause(seconds):
    time.sleep(seconds)
    return seconds


@register.workflow()
def slow_child(ctx, j: int, seconds: float):
    ctx.step(effect, ctx.execution_id, "work", seconds)
    return j


@register.workflow()
def fans_out_slowly(ctx, n: int, seconds: float):
    ctx.step(effect, ctx.execution_id, "before", 0.0)
    children = ctx.start_workflows("slow_child", [{"j": j, "seconds": seconds} for j in range(n)])
    total = sum(ctx.wait_workflows(children))
    ctx.step(effect, ctx.execution_id, "after", 0.0)
    return total


def _fails_once(execution_id):
    if not SideEffect.objects.filter(execution_id=execution_id, step="failed-once").exists():
        SideEffect.objects.create(execution_id=execution_id, step="failed-once", pid=os.getpid())
        raise RuntimeError("the first attempt fails")
    return "ok"


@register.workflow()
def child_fails_once(ctx):
    return ctx.step(_fails_once, ctx.execution_id)


@register.workflow()
def parent_of_a_flaky_child(ctx):
    return {"child": ctx.run_workflow("child_fails_once"), "after": ctx.step(_double, 4)}


@register.workflow(timeout=1)
def parent_outlives_its_timeout(ctx):
    ctx.start_workflow("child_adds", a=1, b=1, wait="never")
    ctx.step(time.sleep, 1.3)
    ctx.step(_double, 1)


@register.workflow()
def catches_then_fails(ctx):
    try:
        ctx.run_workflow("child_adds", a=1, b=1, fail=True)
    except ChildWorkflowFailed:
        ctx.step(_double, 1)  # handled: e.g. a refund
    raise ValueError("fails later, for another reason")


@register.workflow()
def publishes_after_signal(ctx):
    ctx.wait_signal("go")
    ctx.set_event("answer", 42)


@register.workflow()
def crawls(ctx, count: int, seconds: float = 0.2):
    """Fetches ``count`` pages at once with ctx.gather, then one more with run_activity."""
    pages = ctx.gather(
        *(ctx.activity("fetch_page", f"https://example.com/{n}", seconds) for n in range(count))
    )
    last = ctx.run_activity("fetch_page", "https://example.com/last", 0.0)
    return {"fetched": len(pages), "ok": all(p["status"] == 200 for p in pages), "last": last}


@register.workflow()
def gathers_mixed(ctx):
    """Async calls that retry, time out and succeed, beside a plain (sync) activity."""
    results = ctx.gather(
        ctx.activity("flaky_fetch", "a"),
        ctx.activity("hangs"),
        ctx.activity("send_email", 5),
        ctx.activity("fetch_page", "b", 0.0),
        return_exceptions=True,
    )
    return [f"failed: {r.error_type}" if isinstance(r, Exception) else r for r in results]


@register.workflow()
def crawls_then_waits(ctx, count: int):
    pages = ctx.gather(*(ctx.activity("fetch_page", f"p{n}", 0.0) for n in range(count)))
    ctx.wait_signal("go")
    return len(pages)


async def _async_double(n):
    return 2 * n


@register.workflow()
def async_step(ctx, n: int):
    return ctx.step(_async_double, n)


@register.workflow()
def gathers_wrong(ctx):
    return ctx.gather(ctx.run_activity)


@register.workflow()
def waits_on_a_hung_call(ctx):
    try:
        ctx.run_activity("hangs")
    except StepFailed as exc:
        return exc.error_type
