import os
import threading

from django_durable.registry import register
from django_durable.retry import RetryPolicy

from .models import SideEffect


@register.activity()
def send_email(user_id: int):
    return {"sent": True, "user_id": user_id}


@register.activity()
def compute_score(user_id: int):
    return {"score": 42}


@register.activity(retry=RetryPolicy(max_attempts=3, initial_interval=0.01))
def flaky(execution_id: str, key: str, fail_times: int):
    """Fail the first ``fail_times`` calls for this key, then succeed."""
    SideEffect.objects.create(execution_id=execution_id, step=key, pid=os.getpid())
    calls = SideEffect.objects.filter(execution_id=execution_id, step=key).count()
    if calls <= fail_times:
        raise ConnectionError(f"flaky failure {calls}")
    return calls


@register.activity(retry=RetryPolicy(max_attempts=1), timeout=0.2)
def slow(seconds: float):
    import time

    time.sleep(seconds)
    return "done"


# --- used by tests/test_bad_input.py ---------------------------------------------------

NEVER_RETURNS = threading.Event()
"""Set by the tests at teardown to let the abandoned ``never_returns`` thread end."""


@register.activity(retry=RetryPolicy(max_attempts=1), timeout=0.3)
def never_returns():
    NEVER_RETURNS.wait()
    return "released"


@register.activity(retry=RetryPolicy(max_attempts=1))
def a_set():
    return {1, 2, 3}


# --- async activities (tests/test_async_activities.py) ---------------------------------

ASYNC_CALLS: list = []
"""Every call of ``fetch_page`` in this process: (url, id of the running event loop)."""


@register.activity(retry=RetryPolicy(max_attempts=1))
async def fetch_page(url: str, seconds: float = 0.2):
    """An HTTP-like call: waits on the network (here, asyncio.sleep) and returns a body."""
    import asyncio

    ASYNC_CALLS.append((url, id(asyncio.get_running_loop())))
    await asyncio.sleep(seconds)
    return {"url": url, "status": 200}


FLAKY_ASYNC: dict = {}


@register.activity(retry=RetryPolicy(max_attempts=3, initial_interval=0.05))
async def flaky_fetch(url: str):
    FLAKY_ASYNC[url] = FLAKY_ASYNC.get(url, 0) + 1
    if FLAKY_ASYNC[url] < 3:
        raise ConnectionError(f"attempt {FLAKY_ASYNC[url]} of {url} failed")
    return FLAKY_ASYNC[url]


@register.activity(retry=RetryPolicy(max_attempts=1), timeout=0.2)
async def hangs():
    import asyncio

    await asyncio.sleep(30)
