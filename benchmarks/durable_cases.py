"""Django Durable's side of each workload; one case per process (``benchmarks/run.py``).

    DATABASE_URL=... python -m benchmarks.durable_cases w1|w2|w3|w4|w5|w6|w7|w8 [arguments]

Each case migrates the database, empties the engine's tables, runs, and prints one
``RESULT {json}`` line. Worker processes it starts are stopped before it exits.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")

import django  # noqa: E402

django.setup()

from django.apps import apps  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import Max  # noqa: E402
from django.utils import timezone  # noqa: E402

from benchmarks import durable_workflows  # noqa: E402
from benchmarks.common import (  # noqa: E402
    emit,
    idle_window,
    max_overlap,
    percentile,
    proc_rss_mb,
    wait_threads_steady,
)
from django_durable import run_workflow, start_workflow, store, wait_workflow  # noqa: E402
from django_durable.conf import durable_settings  # noqa: E402
from django_durable.models import (  # noqa: E402
    FINAL_STATUSES,
    Status,
    StepResult,
    Timer,
    TimerKind,
    WorkflowExecution,
    WorkflowRun,
)
from django_durable.worker import Worker  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MANAGE = ROOT / "benchmarks" / "manage.py"


def prepare() -> None:
    """Migrate and empty the engine's tables (a fresh SQLite file is empty already)."""
    call_command("migrate", verbosity=0)
    # Every table of the app, children before parents: a table added later (the run log,
    # published events) must not make TRUNCATE refuse or leave rows behind.
    models = [
        m for m in apps.get_app_config("django_durable").get_models() if m is not WorkflowExecution
    ]
    models.append(WorkflowExecution)
    if connection.vendor == "postgresql":
        tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in models)
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {tables}")
    else:
        for model in models:
            model.objects.all().delete()


class Workers:
    """``durable_worker --threads N`` processes of the benchmark project, stopped on exit."""

    def __init__(self, count: int, threads: int = 4, queues: tuple[str, ...] = ()):
        self.logs = Path(tempfile.mkdtemp(prefix="durable-bench-workers-"))
        self.procs = []
        served = [arg for name in queues for arg in ("--queue", name)]
        for n in range(count):
            log = open(self.logs / f"worker-{n}.log", "wb")  # noqa: SIM115
            self.procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        str(MANAGE),
                        "durable_worker",
                        "--threads",
                        str(threads),
                        *served,
                    ],
                    cwd=ROOT,
                    env=dict(os.environ, PYTHONUNBUFFERED="1"),  # its log lines as they come
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            log.close()

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.final_log = self.log_text()
        failed = [p for p in self.procs if p.returncode not in (0, -signal.SIGTERM)]
        for n, proc in enumerate(self.procs):
            if proc in failed:
                sys.stderr.write((self.logs / f"worker-{n}.log").read_text()[-3000:])
        for path in self.logs.iterdir():
            path.unlink()
        self.logs.rmdir()

    def check_alive(self) -> None:
        for proc in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"a worker exited early with status {proc.returncode}")

    def log_text(self) -> str:
        return "".join(path.read_text(errors="replace") for path in sorted(self.logs.iterdir()))

    def wait_started(self, timeout: float = 60.0) -> None:
        """Wait until every worker process has logged that its run loop began.

        Not its row in the workers table: on SQLite that insert can fail when two workers
        start together ("database is locked"), and the worker goes on without it.
        """
        deadline = time.monotonic() + timeout
        while self.log_text().count(" started with ") < len(self.procs):
            self.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the workers did not all start in {timeout:.0f} s\n{self.log_text()[-3000:]}"
                )
            time.sleep(0.05)


def wait_completed(workers: Workers, executions, count: int, what: str) -> None:
    """Poll until ``count`` of ``executions`` are completed; raise if one ended otherwise."""
    deadline = time.monotonic() + 600
    while executions.filter(status=Status.COMPLETED).count() < count:
        workers.check_alive()
        if executions.filter(status__in=FINAL_STATUSES).exclude(status=Status.COMPLETED).exists():
            raise RuntimeError(f"{what}: an execution ended without completing")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not finish in 600 s")
        time.sleep(0.05)


def w1(n: int) -> None:
    """W1: µs per step of one ``n``-step workflow run in this thread (``run_workflow``)."""
    prepare()
    run_workflow("bench_steps", n=10)  # warm-up: connection, caches
    started = time.perf_counter()
    assert run_workflow("bench_steps", n=n) == n
    emit(value=(time.perf_counter() - started) / n * 1e6)


def w2(count: int, processes: int) -> None:
    """W2: ``count`` three-step workflows started at once; worker processes of 4 threads."""
    prepare()
    with Workers(processes) as workers:
        wait_workflow(start_workflow("bench_three", i=-1), timeout=60)  # the workers are up
        if processes > 1:
            for eid in [start_workflow("bench_three", i=-1) for _ in range(4 * processes)]:
                wait_workflow(eid, timeout=60)
        first = WorkflowExecution.objects.aggregate(Max("finished_at"))["finished_at__max"]
        t0 = time.time()
        ids = [start_workflow("bench_three", i=i) for i in range(count)]
        batch = WorkflowExecution.objects.filter(pk__in=ids)
        deadline = time.monotonic() + 600
        while batch.filter(status=Status.COMPLETED).count() < count:
            workers.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError("W2 did not finish in 600 s")
            time.sleep(0.05)
    rows = list(batch.values_list("created_at", "finished_at"))
    assert first is not None
    end = max(f for _, f in rows).timestamp()
    latencies = [(f - c).total_seconds() * 1000 for c, f in rows]
    emit(
        value=count / (end - t0),
        p50_ms=percentile(latencies, 0.5),
        p99_ms=percentile(latencies, 0.99),
    )


def w6(count: int) -> None:
    """W6: one workflow fans out ``count`` three-step children and gathers their results.

    The worker setup is W2's (one process of 4 threads, the same polling); the clock runs
    from the parent's start to its completion.
    """
    prepare()
    with Workers(1) as workers:
        wait_workflow(start_workflow("bench_three", i=-1), timeout=60)  # the worker is up
        t0 = time.time()
        parent = start_workflow("bench_fanout", n=count)
        wait_completed(workers, WorkflowExecution.objects.filter(pk=parent), 1, "W6")
    row = WorkflowExecution.objects.get(pk=parent)
    if row.decoded_result != count * (count - 1) // 2:
        raise RuntimeError(f"W6: the parent returned {row.decoded_result!r}")
    children = WorkflowExecution.objects.filter(parent=parent)
    if children.filter(status=Status.COMPLETED).count() != count:
        raise RuntimeError("W6: not every child completed")
    spans = children.aggregate(started=Max("created_at"), done=Max("finished_at"))
    emit(
        value=row.finished_at.timestamp() - t0,
        fanned_out_s=spans["started"].timestamp() - t0,
        children_done_s=spans["done"].timestamp() - t0,
        gather_ms=(row.finished_at - spans["done"]).total_seconds() * 1000,
        parent_runs=row.runs,
        children=count,
    )


W7_QUEUE = "w7"


def w7(count: int, processes: int, threads: int, backlog: int = 0) -> None:
    """W7: ``count`` one-step workflows on the queue ``w7`` (a concurrency limit).

    ``processes`` workers of ``threads`` threads serve only that queue. The step sleeps a
    few ms and returns when its body began and ended; the most bodies overlapping at any
    moment is the concurrency observed. The workers have more threads than the limit, so
    only the limit keeps it down.

    Started one by one from here while the workers run (as W2), the time runs from the first
    start to the last completion; with ``backlog`` all are started before the workers, and
    the time runs from the first step body's beginning to the last one's end.
    """
    limit = int(os.environ["BENCH_QUEUE_CONCURRENCY"])
    prepare()
    if backlog:
        ids = [start_workflow("bench_queued", queue=W7_QUEUE) for _ in range(count)]
    with Workers(processes, threads=threads, queues=(W7_QUEUE,)) as workers:
        workers.wait_started()
        if not backlog:
            warm = [start_workflow("bench_queued", queue=W7_QUEUE) for _ in range(2 * limit)]
            for eid in warm:
                wait_workflow(eid, timeout=60)
            t0 = time.time()
            ids = [start_workflow("bench_queued", queue=W7_QUEUE) for _ in range(count)]
        batch = WorkflowExecution.objects.filter(pk__in=ids)
        wait_completed(workers, batch, count, "W7")
    rows = list(batch.only("id", "result", "created_at", "finished_at"))
    spans = [tuple(e.decoded_result) for e in rows]
    if backlog:
        seconds = max(end for _, end in spans) - min(begin for begin, _ in spans)
        starts_s = 0.0
    else:
        seconds = max(e.finished_at for e in rows).timestamp() - t0
        starts_s = max(e.created_at for e in rows).timestamp() - t0
    emit(
        value=count / seconds,
        max_concurrency=max_overlap(spans),
        limit=limit,
        starts_s=starts_s,
        # The worker's own log lines reporting a database error (they go on after one).
        worker_db_errors=workers.final_log.count("database error in worker"),
    )


def w3(k: int) -> None:
    """W3: a ``k``-step execution is SIGKILLed; time from a fresh worker's claim to step k+1."""
    prepare()
    env = dict(os.environ, BENCH_CRASH_AFTER_K="1")
    crash = subprocess.run(
        [sys.executable, "-m", "benchmarks.durable_cases", "w3-crash", str(k)], cwd=ROOT, env=env
    )
    if crash.returncode != -signal.SIGKILL:
        raise RuntimeError(f"the first phase ended with {crash.returncode}, not SIGKILL")
    assert StepResult.objects.count() == k
    claimed_at: list[float] = []
    original = store.claim

    def timed_claim(*args, **kwargs):
        started = time.perf_counter()
        claimed = original(*args, **kwargs)
        if claimed and not claimed_at:
            claimed_at.append(started)
        return claimed

    store.claim = timed_claim
    try:
        Worker(threads=1, burst=True).run()  # the real worker loop, in this process
    finally:
        store.claim = original
    assert durable_workflows.RESUMED_AT, "step k+1 did not run"
    seconds = durable_workflows.RESUMED_AT[0] - claimed_at[0]
    emit(value=seconds / k * 1e6, resume_ms=seconds * 1000)


def w3_crash(k: int) -> None:
    run_workflow("bench_resume", k=k)  # its step k+1 kills this process


def w5(samples: int) -> None:
    """W5: an idle worker; workflows started from this process one at a time."""
    prepare()
    poll = 1.0
    latencies = []
    with Workers(1) as workers:
        ran_at = wait_workflow(start_workflow("bench_first"), timeout=60)
        rng = random.Random(5)
        for _ in range(samples):
            # The worker looks again one poll interval after its last run ended (~ran_at):
            # start at a uniformly random phase of that interval, whenever we learned of it.
            time.sleep(max(0.0, ran_at + rng.uniform(0.7, 0.7 + poll) - time.time()))
            workers.check_alive()
            t0 = time.time()
            ran_at = wait_workflow(start_workflow("bench_first"), timeout=60)
            latencies.append((ran_at - t0) * 1000)
    emit(
        value=percentile(latencies, 0.5),
        p50_ms=percentile(latencies, 0.5),
        p99_ms=percentile(latencies, 0.99),
    )


W4_COPY_BATCH = 5000


def w4(total: int, due_together: int) -> None:
    """W4: ``total`` sleeping executions under one idle worker; then ``due_together`` fall due.

    Those are made by the engine itself; the others are copies of their rows.
    """
    prepare()
    began = time.monotonic()
    made = min(total, due_together)
    until = (timezone.now() + dt.timedelta(days=1)).isoformat()
    ids = [start_workflow("bench_sleeper", until=until) for _ in range(made)]
    Worker(threads=4, burst=True).run()  # runs each up to its sleep; exits when none is runnable
    engine_made = WorkflowExecution.objects.filter(pk__in=ids)
    if engine_made.filter(status=Status.SLEEPING).count() != made:
        raise RuntimeError("not every engine-made execution is sleeping")
    timers = Timer.objects.filter(execution_id__in=ids, kind=TimerKind.SLEEP)
    if timers.count() != made or timers.values("execution_id").distinct().count() != made:
        raise RuntimeError("the engine-made sleepers do not have one sleep timer each")
    template = WorkflowExecution.objects.get(pk=ids[0])
    template_timer = Timer.objects.get(execution_id=ids[0])
    copy_sleepers(template, template_timer, total - made)
    if (
        WorkflowExecution.objects.filter(status=Status.SLEEPING).count() != total
        or WorkflowExecution.objects.count() != total
        or Timer.objects.filter(kind=TimerKind.SLEEP).count() != total
    ):
        raise RuntimeError(f"expected {total} sleeping executions with one timer each")
    setup_s = time.monotonic() - began

    with Workers(1) as workers:
        pid = workers.procs[0].pid
        wait_threads_steady(pid)
        time.sleep(1.0)  # past its first claim, timer and heartbeat passes
        idle = idle_window(pid, 10.0)
        workers.check_alive()
        # The engine-made timers fall due together, at one moment a few seconds ahead.
        due = timezone.now() + dt.timedelta(seconds=3)
        Timer.objects.filter(execution_id__in=ids).update(due_at=due)
        deadline = time.monotonic() + 300
        while WorkflowExecution.objects.filter(status=Status.COMPLETED).count() < made:
            workers.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError("W4: the due executions did not all complete in 300 s")
            time.sleep(0.1)
        rss_after = proc_rss_mb(pid)
    if WorkflowExecution.objects.filter(status=Status.SLEEPING).count() != total - made:
        raise RuntimeError("W4: an execution other than the due ones woke up")
    # Fired: the scheduler recorded the sleep step completed at its firing time.
    fired = [
        (finished - due).total_seconds() * 1000
        for finished in StepResult.objects.filter(
            execution_id__in=ids, step_id=template_timer.step_id
        ).values_list("finished_at", flat=True)
    ]
    # Resumed: the workflow's next step ran (its result is the wall-clock time it ran at).
    resumed = [
        (e.decoded_result - due.timestamp()) * 1000 for e in engine_made.only("id", "result")
    ]
    if len(fired) != made or len(resumed) != made:
        raise RuntimeError("W4: a due execution lacks its recorded sleep or its result")
    emit(
        value=percentile(fired, 0.99),
        p50_ms=percentile(fired, 0.5),
        p99_ms=percentile(fired, 0.99),
        resumed_p50_ms=percentile(resumed, 0.5),
        resumed_p99_ms=percentile(resumed, 0.99),
        sleepers=total,
        due_together=made,
        rss_after_mb=rss_after,
        setup_s=setup_s,
        **idle,
    )


def copy_sleepers(template: WorkflowExecution, timer: Timer, count: int) -> None:
    """Add ``count`` copies of an engine-written sleeping execution and its timer.

    Each copy gets a new execution id (the primary key; the timer's own id is left to the
    database, and its unique key is the new execution with the same step id) and is due a
    day after the template.
    """
    exec_fields = {
        f.attname: getattr(template, f.attname) for f in WorkflowExecution._meta.concrete_fields
    }
    timer_fields = {
        f.attname: getattr(timer, f.attname)
        for f in Timer._meta.concrete_fields
        if f.attname not in ("id", "execution_id")
    }
    timer_fields["due_at"] = timer.due_at + dt.timedelta(days=1)
    for start in range(0, count, W4_COPY_BATCH):
        new_ids = [str(uuid.uuid4()) for _ in range(min(W4_COPY_BATCH, count - start))]
        with transaction.atomic():
            WorkflowExecution.objects.bulk_create(
                [WorkflowExecution(**{**exec_fields, "id": eid}) for eid in new_ids]
            )
            Timer.objects.bulk_create([Timer(execution_id=eid, **timer_fields) for eid in new_ids])


# W8: the finished and sleeping copies have ids of a fixed width (so that they sort as they
# were made); each INSERT ... SELECT adds this many, with its own timestamps.
W8_FINISHED = "w8-done-"
W8_SLEEPING = "w8-sleep-"
W8_ID_BASE = 10_000_000
W8_COPY_BATCH = 20_000
W8_DUE = 10  # timers due at once in the "timer poll, some due" measurement


def w8(finished: int) -> None:
    """W8: the claim, the timer poll and durable_status among ``finished`` finished
    executions and ``finished // 10`` sleeping ones.

    Both kinds are copies (INSERT ... SELECT, in SQL) of the rows one engine-made execution
    of each kind has: a completed ``bench_three`` (the execution, its 3 steps, its run) and a
    ``bench_sleeper`` asleep (the execution, its run, its timer). Each measurement is
    repeated and reported as p50 / p99 µs.
    """
    sleeping = finished // 10
    prepare()
    began = time.monotonic()
    run_workflow("bench_three", i=0)
    done_template = WorkflowExecution.objects.get(workflow_name="bench_three")
    until = (timezone.now() + dt.timedelta(days=1)).isoformat()
    sleeper_id = start_workflow("bench_sleeper", until=until)
    Worker(threads=1, burst=True).run()  # runs it up to its sleep
    sleeper = WorkflowExecution.objects.get(pk=sleeper_id)
    if sleeper.status != Status.SLEEPING or sleeper.timers.count() != 1:
        raise RuntimeError("W8: the template sleeper is not asleep on one timer")
    if done_template.steps.count() != 3 or done_template.run_log.count() != 1:
        raise RuntimeError("W8: the finished template lacks its 3 steps or its run")
    now = timezone.now()
    for start in range(0, finished, W8_COPY_BATCH):
        count = min(W8_COPY_BATCH, finished - start)
        # Older batches first, a second apart per batch, all before the templates.
        at = now - dt.timedelta(seconds=finished // W8_COPY_BATCH + 10 - start // W8_COPY_BATCH)
        copy_execution(done_template, W8_FINISHED, start, count, at)
    for start in range(0, sleeping, W8_COPY_BATCH):
        count = min(W8_COPY_BATCH, sleeping - start)
        at = now - dt.timedelta(seconds=sleeping // W8_COPY_BATCH + 10 - start // W8_COPY_BATCH)
        copy_execution(sleeper, W8_SLEEPING, start, count, at)
    fill_s = time.monotonic() - began
    counts = {
        "finished": WorkflowExecution.objects.filter(status=Status.COMPLETED).count(),
        "sleeping": WorkflowExecution.objects.filter(status=Status.SLEEPING).count(),
        "steps": StepResult.objects.count(),
        "runs": WorkflowRun.objects.count(),
        "timers": Timer.objects.count(),
    }
    expected = {
        "finished": finished + 1,
        "sleeping": sleeping + 1,
        "steps": 3 * (finished + 1),
        "runs": finished + sleeping + 2,
        "timers": sleeping + 1,
    }
    if counts != expected:
        raise RuntimeError(f"W8: the tables hold {counts}, not {expected}")
    analyzed = _analyze()
    setup_s = time.monotonic() - began
    measures = w8_measure(sleeper, sleeping)
    if WorkflowExecution.objects.filter(status=Status.SLEEPING).count() != sleeping + 1:
        raise RuntimeError("W8: the measurements changed the number of sleeping executions")
    emit(
        value=measures["claim, one runnable"]["p50"],
        finished=finished,
        sleeping=sleeping,
        fill_s=fill_s,
        setup_s=setup_s,
        analyzed=analyzed,
        measures=measures,
    )


def _analyze() -> str:
    """On PostgreSQL, VACUUM ANALYZE the tables as autovacuum would after such a fill.

    SQLite has no such daemon and Django Durable runs no ANALYZE: its tables stay without
    statistics, as a user's would.
    """
    if connection.vendor != "postgresql":
        return "no"
    models = apps.get_app_config("django_durable").get_models()
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
    return "VACUUM ANALYZE"


def copy_execution(
    template: WorkflowExecution, prefix: str, start: int, count: int, at: dt.datetime
) -> None:
    """Copy an execution's rows ``count`` times in SQL: the execution, its steps, its runs
    and its timers, each copy with the id ``prefix`` + (``W8_ID_BASE`` + n) for n from
    ``start``; the copies are created (and started, and for a finished one ended) at ``at``.
    """
    adapt = connection.ops.adapt_datetimefield_value
    shift = {"created_at": at, "started_at": at, "updated_at": at}
    if template.finished_at is not None:
        shift["finished_at"] = at + (template.finished_at - template.started_at)
    first = W8_ID_BASE + start
    # A series of numbers in portable SQL (PostgreSQL, SQLite, MySQL 8): a recursive CTE.
    series = (
        f"WITH RECURSIVE w8_n(n) AS (SELECT {first} UNION ALL "
        f"SELECT n + 1 FROM w8_n WHERE n < {first + count - 1}) "
    )
    new_id = f"'{prefix}' || CAST(w8_n.n AS VARCHAR(20))"
    with transaction.atomic():
        for model, key, values in (
            (WorkflowExecution, "id", shift),
            (StepResult, "execution_id", {}),
            (WorkflowRun, "execution_id", {}),
            (Timer, "execution_id", {}),
        ):
            columns, exprs, params = [], [], []
            for field in model._meta.concrete_fields:
                if field.column == "id" and key != "id":
                    continue  # an auto id: the database's
                columns.append(connection.ops.quote_name(field.column))
                if field.column == key:
                    exprs.append(new_id)
                elif field.column in values:
                    exprs.append("%s")
                    params.append(adapt(values[field.column]))
                else:
                    exprs.append(f"t.{connection.ops.quote_name(field.column)}")
            table = connection.ops.quote_name(model._meta.db_table)
            sql = (
                f"INSERT INTO {table} ({', '.join(columns)}) {series}"
                f"SELECT {', '.join(exprs)} FROM {table} t CROSS JOIN w8_n "
                f"WHERE t.{connection.ops.quote_name(key)} = %s"
            )
            with connection.cursor() as cursor:
                cursor.execute(sql, [*params, template.pk])


def w8_measure(sleeper: WorkflowExecution, sleeping: int) -> dict:
    """Time each operation many times; p50 and p99 in µs, by name.

    ``sleeper`` is the engine-made sleeping execution the sleeping copies were made from.
    """
    owner = "w8-bench"
    lease = 60.0
    free = 4  # a worker of 4 idle threads asks for up to 4
    batch = int(durable_settings.DURABLE_TIMER_BATCH_SIZE)
    samples: dict[str, list[float]] = {}

    def timed(name, fn, *args, **kwargs):
        started = time.perf_counter()
        out = fn(*args, **kwargs)
        samples.setdefault(name, []).append((time.perf_counter() - started) * 1e6)
        return out

    def status(*argv):
        call_command("durable_status", *argv, stdout=io.StringIO())

    for _ in range(20):  # warm-up: connection, caches, prepared statements
        store.claim(owner, free, lease, frozenset(), None)
        store.fire_due_timers(batch)
        store.next_timer_due()
        status()
    # The claim, as the worker calls it (store.claim(id, free threads, lease, skip, queues)).
    for _ in range(300):
        eid = timed("start_workflow", start_workflow, "bench_three", i=1)
        claimed = timed("claim, one runnable", store.claim, owner, free, lease, frozenset(), None)
        if [c.lease.execution_id for c in claimed] != [eid]:
            raise RuntimeError(f"W8: the claim took {claimed}, not {eid}")
        WorkflowExecution.objects.filter(pk=eid).delete()
        if timed("claim, none runnable", store.claim, owner, free, lease, frozenset(), None):
            raise RuntimeError("W8: a claim found something runnable")
    # The worker's timer scheduler: fire what is due, then ask when the next one is.
    for _ in range(300):
        started = time.perf_counter()
        fired = store.fire_due_timers(batch)
        store.next_timer_due()
        samples.setdefault("timer poll, none due", []).append((time.perf_counter() - started) * 1e6)
        if fired:
            raise RuntimeError("W8: a timer fired that was not due")
    for rep in range(min(100, sleeping // W8_DUE)):
        start = rep * W8_DUE
        ids = [f"{W8_SLEEPING}{W8_ID_BASE + start + k}" for k in range(W8_DUE)]
        Timer.objects.filter(execution_id__in=ids).update(
            due_at=timezone.now() - dt.timedelta(seconds=1)
        )
        started = time.perf_counter()
        fired = store.fire_due_timers(batch)
        store.next_timer_due()
        samples.setdefault(f"timer poll, {W8_DUE} due", []).append(
            (time.perf_counter() - started) * 1e6
        )
        if fired != W8_DUE:
            raise RuntimeError(f"W8: {fired} timers fired, not {W8_DUE}")
        # Back to sleep: the woken copies are replaced by fresh ones with the same ids.
        WorkflowExecution.objects.filter(pk__in=ids).delete()
        copy_execution(sleeper, W8_SLEEPING, start, W8_DUE, sleeper.created_at)
    # durable_status: its default list (the 50 newest), its filters, one execution in full.
    views = {
        "durable_status": (),
        "durable_status --status RUNNING": ("--status", "RUNNING"),
        "durable_status --status SLEEPING": ("--status", "SLEEPING"),
        "durable_status --status FAILED": ("--status", "FAILED"),
        "durable_status --workflow bench_three": ("--workflow", "bench_three"),
        # Both filters, few rows matching both: 0 of the 1,000,000 completed executions are
        # bench_sleeper's, 0 of the 100,000 sleeping ones bench_three's.
        "durable_status --workflow bench_sleeper --status COMPLETED": (
            "--workflow",
            "bench_sleeper",
            "--status",
            "COMPLETED",
        ),
        "durable_status --workflow bench_three --status SLEEPING": (
            "--workflow",
            "bench_three",
            "--status",
            "SLEEPING",
        ),
        "durable_status ID": (f"{W8_FINISHED}{W8_ID_BASE}",),
    }
    for _ in range(100):
        for name, argv in views.items():
            timed(name, status, *argv)
    for _ in range(30):
        timed("run_workflow (3 steps)", run_workflow, "bench_three", i=2)
    return {
        name: {
            "p50": percentile(values, 0.5),
            "p99": percentile(values, 0.99),
            "n": len(values),
        }
        for name, values in samples.items()
    }


def main() -> None:
    case, args = sys.argv[1], [int(a) for a in sys.argv[2:]]
    cases = {
        "w1": w1,
        "w2": w2,
        "w3": w3,
        "w3-crash": w3_crash,
        "w4": w4,
        "w5": w5,
        "w6": w6,
        "w7": w7,
        "w8": w8,
    }
    cases[case](*args)


if __name__ == "__main__":
    main()
