"""django.tasks tasks run by DurableBackend (see tests/test_tasks.py)."""

import asyncio
import os
import time

try:
    from django.tasks import task
except ImportError:
    from django_tasks import task

from .durable_chaos import note_end
from .models import SideEffect


@task()
def add(a, b):
    return a + b


@task(priority=10)
def urgent(n):
    return n


@task()
def fails(message):
    raise ValueError(message)


@task(takes_context=True)
def knows_its_attempt(context, name):
    return {"attempt": context.attempt, "id": context.task_result.id, "name": name}


CONNECTION_KILLS = {"left": 0}


@task(takes_context=True)
def loses_its_connection(context):
    """Its database connection dies under it while ``CONNECTION_KILLS`` says so."""
    from django.db import connection

    if CONNECTION_KILLS["left"] > 0:
        CONNECTION_KILLS["left"] -= 1
        connection.connection.close()
        SideEffect.objects.count()
    return context.attempt


@task()
async def doubles_later(n):
    await asyncio.sleep(0.01)
    return 2 * n


@task(queue_name="emails")
def send_email(to):
    return f"sent to {to}"


@task()
def returns_a_set():
    return {1, 2}


@task()
def records_and_sleeps(key, seconds):
    """Writes a SideEffect (its own transaction), then sleeps: a kill lands mid-task."""
    SideEffect.objects.create(execution_id=key, step="task", pid=os.getpid())
    time.sleep(seconds)
    return key


@task(takes_context=True)
def chaos_task(context, key, seconds):
    """The chaos runner's task: a side effect timed like the chaos steps' (for overlaps).

    Its attempt number stands in for a run's epoch: it grows with every run that calls it.
    """
    row = SideEffect.objects.create(
        execution_id=key, step="task", pid=os.getpid(), epoch=context.attempt, started=time.time()
    )
    try:
        time.sleep(seconds)
        SideEffect.objects.filter(pk=row.pk).update(finished=time.time())
    except BaseException:
        # The end could not be written (the database went away): say so by a file, as the
        # chaos steps do, or the runner takes the body for running until its worker's kill.
        note_end(row.pk)
        raise
    return key
