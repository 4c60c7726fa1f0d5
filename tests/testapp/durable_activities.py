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
