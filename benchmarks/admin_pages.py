#!/usr/bin/env python
"""Time the admin's pages on a big table: 100,000 executions and 1,000,000 steps.

    .venv/bin/python benchmarks/admin_pages.py                       # SQLite, /tmp file
    .venv/bin/python benchmarks/admin_pages.py \\
        --database postgres://postgres@127.0.0.1:5432/durable_admin_bench
    .venv/bin/python benchmarks/admin_pages.py --keep                # reuse a filled database

The database is filled with bulk inserts (a minute or two), unless ``--keep`` finds it
filled already. Each page is fetched with Django's test client, once to warm up and then
``--reps`` times; the table gives the median and the fastest time, the median CPU time of
this process (Django's share: steadier than wall time on a busy machine), the number of SQL
queries of one fetch and the size of the page.

PostgreSQL: create the database first (``psql -h 127.0.0.1 -U postgres -c 'create database
durable_admin_bench'``); everything in it is replaced.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

STATUS_MIX = [  # (status, share of executions)
    ("COMPLETED", 0.70),
    ("FAILED", 0.10),
    ("CANCELED", 0.04),
    ("TIMED_OUT", 0.02),
    ("SLEEPING", 0.06),
    ("WAITING", 0.05),
    ("PENDING", 0.02),
    ("RUNNING", 0.01),
]
WORKFLOWS = ["fulfil_order", "onboard_user", "refund", "nightly_report", "sync_inventory"]
ERRORS = ["builtins.ValueError", "builtins.KeyError", "myapp.errors.PaymentDeclined"]
BIG_STEPS = 1000  # one execution with this many steps, for the page of a long execution


def configure(database_url: str) -> None:
    from django.conf import settings

    from tests.settings import database_from_url

    database = database_from_url(database_url)
    database.pop("TEST", None)
    settings.configure(
        SECRET_KEY="django-durable-admin-bench",
        DEBUG=False,
        USE_TZ=True,
        TIME_ZONE="UTC",
        ALLOWED_HOSTS=["testserver"],
        ROOT_URLCONF=__name__,
        STATIC_URL="/static/",
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        DATABASES={"default": database},
        INSTALLED_APPS=[
            "django.contrib.admin",
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "django.contrib.staticfiles",
            "django_durable",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
        ],
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ],
    )
    import django

    django.setup()


def urls():
    from django.contrib import admin
    from django.urls import path

    return [path("admin/", admin.site.urls)]


def __getattr__(name):  # ROOT_URLCONF = this module: its urlpatterns, built once Django is set up
    if name == "urlpatterns":
        return urls()
    raise AttributeError(name)


# --- filling the database -------------------------------------------------------------------


def filled(executions: int) -> bool:
    from django_durable.models import WorkflowExecution

    return (
        WorkflowExecution.objects.count() == executions + 1
        and WorkflowExecution.objects.filter(pk="bench-big").exists()
    )


def fill(executions: int, steps_each: int) -> None:
    from django.db import connection, transaction
    from django.db.models.fields import AutoFieldMixin

    from django_durable.models import (
        Signal,
        StepResult,
        Timer,
        WorkerProcess,
        WorkflowExecution,
        WorkflowRun,
    )
    from django_durable.serialization import dumps

    for model in (StepResult, Timer, Signal, WorkflowRun, WorkerProcess, WorkflowExecution):
        model.objects.all().delete()
    rng = random.Random(7)
    now = dt.datetime.now(dt.UTC)
    statuses = [s for s, _ in STATUS_MIX]
    weights = [w for _, w in STATUS_MIX]
    adapt = connection.ops.adapt_datetimefield_value
    q = connection.ops.quote_name

    def insert(model, rows: list[dict]):
        # Every column the model has: the ones a row leaves out get the field's default, so
        # that a column added to a model later does not break the fill.
        fields = [f for f in model._meta.concrete_fields if not isinstance(f, AutoFieldMixin)]
        defaults = [None if f.null else f.get_default() for f in fields]
        sql = (
            f"INSERT INTO {q(model._meta.db_table)} ({', '.join(q(f.column) for f in fields)}) "
            f"VALUES ({', '.join(['%s'] * len(fields))})"
        )
        values = [
            [row.get(f.attname, default) for f, default in zip(fields, defaults, strict=True)]
            for row in rows
        ]
        with connection.cursor() as cursor:
            for start in range(0, len(values), 5000):
                cursor.executemany(sql, values[start : start + 5000])

    began = time.monotonic()
    worker = "bench-host:1@worker"
    WorkerProcess.objects.create(
        id=worker,
        host="bench-host",
        pid=1,
        threads=4,
        started_at=now,
        last_heartbeat_at=now,
        current_steps="{}",
    )
    batch = 10_000
    for first in range(0, executions + 1, batch):
        rows, steps, runs, timers = [], [], [], []
        for n in range(first, min(first + batch, executions + 1)):
            big = n == executions
            status = "COMPLETED" if big else rng.choices(statuses, weights)[0]
            created = now - dt.timedelta(seconds=rng.uniform(0, 30 * 86400))
            started = created + dt.timedelta(seconds=rng.uniform(0.01, 2))
            eid = f"bench-{n:07d}" if not big else "bench-big"
            count = BIG_STEPS if big else steps_each
            finished = None
            if status in ("COMPLETED", "FAILED", "CANCELED", "TIMED_OUT"):
                finished = started + dt.timedelta(seconds=count * 0.05)
            never_ran = status == "PENDING" or (status == "TIMED_OUT" and n % 2)
            error = ERRORS[n % len(ERRORS)] if status == "FAILED" else ""
            rows.append(
                {
                    "id": eid,
                    "workflow_name": WORKFLOWS[n % len(WORKFLOWS)],
                    "status": status,
                    "input": dumps({"order_id": f"ORD-{n:07d}", "user_id": n, "items": [1, 2]}),
                    "result": dumps({"ok": True, "n": n}) if status == "COMPLETED" else None,
                    "error_type": error,
                    "error_message": "something went wrong" if error else "",
                    "error_traceback": "Traceback (most recent call last):\n  ...\n"
                    if error
                    else "",
                    "cancel_reason": "canceled by support" if status == "CANCELED" else "",
                    "created_at": adapt(created),
                    "updated_at": adapt(finished or started),
                    "started_at": None if never_ran else adapt(started),
                    "finished_at": adapt(finished) if finished else None,
                    "lease_owner": worker if status == "RUNNING" else "",
                    "lease_expires_at": (
                        adapt(now + dt.timedelta(seconds=60)) if status == "RUNNING" else None
                    ),
                    "lease_epoch": 0 if never_ran else 1,
                    "runs": 0 if never_ran else 1,
                }
            )
            if never_ran:
                continue
            done = count if finished or big else count // 2
            for k in range(done):
                at = started + dt.timedelta(seconds=k * 0.05)
                failed = status == "FAILED" and k == done - 1
                steps.append(
                    {
                        "execution_id": eid,
                        "step_id": f"step_{k}:1",
                        "name": f"step_{k}",
                        "status": "FAILED" if failed else "COMPLETED",
                        "result": None if failed else dumps({"k": k, "order": n}),
                        "error_type": error if failed else "",
                        "error_message": "boom" if failed else "",
                        "attempts": 1,
                        "started_at": adapt(at),
                        "finished_at": adapt(at + dt.timedelta(seconds=0.04)),
                    }
                )
            run_end = finished or started + dt.timedelta(seconds=done * 0.05)
            outcome = {"CANCELED": "CANCELED", "TIMED_OUT": "TIMED_OUT"}.get(status, status)
            wait_step = f"step_{done}:1"
            due = None
            if status == "SLEEPING":
                outcome, wait_step, kind, due = "SLEEPING", "ctx.sleep:1", "SLEEP", 1
            elif status == "WAITING":
                outcome, wait_step = "WAITING_SIGNAL", "ctx.wait_signal:approve:1"
                kind, due = "SIGNAL_TIMEOUT", 2
            if due is not None:
                timers.append(
                    {
                        "execution_id": eid,
                        "step_id": wait_step,
                        "kind": kind,
                        "due_at": adapt(run_end + dt.timedelta(days=due)),
                        "created_at": adapt(run_end),
                    }
                )
            runs.append(
                {
                    "execution_id": eid,
                    "epoch": 1,
                    "worker": worker,
                    "started_at": adapt(started),
                    "ended_at": None if status == "RUNNING" else adapt(run_end),
                    "outcome": "" if status == "RUNNING" else outcome,
                    "waiting_on": wait_step if due is not None else "",
                }
            )
        with transaction.atomic():
            insert(WorkflowExecution, rows)
            insert(StepResult, steps)
            insert(WorkflowRun, runs)
            insert(Timer, timers)
        print(
            f"  filled {min(first + batch, executions + 1):,} executions "
            f"({time.monotonic() - began:.0f} s)",
            file=sys.stderr,
        )
    # Fresh statistics, as a database that has lived with these rows would have.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


# --- timing the pages ---------------------------------------------------------------------


def time_pages(reps: int) -> list[tuple]:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from django_durable.models import WorkflowExecution

    user = User.objects.filter(username="bench").first() or User.objects.create_superuser(
        "bench", "bench@example.com", "bench"
    )
    client = Client()
    client.force_login(user)
    base = "/admin/django_durable/workflowexecution/"
    sample = WorkflowExecution.objects.filter(status="FAILED").order_by("id").first()
    waiting = WorkflowExecution.objects.filter(status="WAITING").order_by("id").first()
    pages = [
        ("list, first page (50 rows)", base, {}),
        ("list, page 20", base, {"p": "20"}),
        ("list, status=FAILED", base, {"status__exact": "FAILED"}),
        ("list, workflow=refund", base, {"workflow": "refund"}),
        ("list, search an order id in the inputs", base, {"q": "ORD-0042424"}),
        ("list, search an execution id", base, {"q": "bench-0042424"}),
        ("execution page, a failed one (11 steps)", f"{base}{sample.pk}/change/", {}),
        ("execution page, waiting on a signal", f"{base}{waiting.pk}/change/", {}),
        (f"execution page, {BIG_STEPS:,} steps", f"{base}bench-big/change/", {}),
        ("step results list", "/admin/django_durable/stepresult/", {}),
    ]
    table = []
    for label, url, params in pages:
        response = client.get(url, params)  # warms the template and the database caches
        assert response.status_code == 200, (label, response.status_code)
        with CaptureQueriesContext(connection) as captured:
            client.get(url, params)
        queries = len(captured)  # now: the next request empties the log it reads from
        size = len(response.content)
        times, cpu = [], []
        for _ in range(reps):
            began, began_cpu = time.perf_counter(), time.process_time()
            client.get(url, params)
            times.append((time.perf_counter() - began) * 1000)
            cpu.append((time.process_time() - began_cpu) * 1000)
        median = statistics.median
        table.append((label, median(times), min(times), median(cpu), queries, size))
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="sqlite:///tmp/durable-admin-bench.sqlite3")
    parser.add_argument("--executions", type=int, default=100_000)
    # Finished executions get this many steps, live ones half, queued ones none: 11 makes
    # about a million steps for 100,000 executions.
    parser.add_argument("--steps-each", type=int, default=11)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="reuse a database already filled")
    args = parser.parse_args()
    if any(part.startswith("test") for part in args.database.rsplit("/", 1)[-1:]):
        parser.error("refusing a database named test*: it belongs to the test suite")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "")
    configure(args.database)
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    if not (args.keep and filled(args.executions)):
        print(f"filling {args.executions:,} executions…", file=sys.stderr)
        fill(args.executions, args.steps_each)
    from django_durable.models import StepResult, WorkflowExecution

    executions, step_rows = WorkflowExecution.objects.count(), StepResult.objects.count()
    print(
        f"\n{connection.vendor}: {executions:,} executions, {step_rows:,} steps; "
        f"median and fastest of {args.reps} fetches\n"
    )
    rows = time_pages(args.reps)
    width = max(len(label) for label, *_ in rows)
    print(
        f"{'page':<{width}}  {'median ms':>9}  {'min ms':>7}  {'CPU ms':>7}  {'queries':>7}  "
        f"{'KB':>5}"
    )
    for label, median, fastest, cpu, queries, size in rows:
        print(
            f"{label:<{width}}  {median:9.1f}  {fastest:7.1f}  {cpu:7.1f}  {queries:7d}  "
            f"{size / 1024:5.0f}"
        )


if __name__ == "__main__":
    main()
