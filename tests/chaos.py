"""Chaos runner: real workers killed at random while a mixed workload runs; then checks.

    python -m tests.chaos                       # SQLite, PostgreSQL, MySQL in turn (scripts/chaos)
    python -m tests.chaos --db postgres --executions 300 --seed 7

Each database gets a database of its own, dropped and created again, then migrated: a SQLite
file under /tmp, and the databases ``chaos`` on PostgreSQL and MySQL (CHAOS_SQLITE_PATH,
CHAOS_PG_URL and CHAOS_MYSQL_URL change them). ``tests/acceptance/test_chaos.py`` runs a short
variant on the test database through :func:`run_chaos`.

Workload: executions of ``chaos_mix`` (tests/testapp/durable_chaos.py) with random plans of
plain steps, atomic steps that write a ledger row, sleeps of 0-3 s, signal waits answered at a
random moment, progress published with ``ctx.set_event`` (the last value must be readable at
the end), steps that fail once and then succeed under a retry policy, steps that fail once
for good until the runner retries their execution (``retry_workflow``), and workflows that
fail on purpose. Faults: a random worker is killed (SIGKILL, or SIGTERM for a graceful stop)
every 0.5-3 s and a new one started; on PostgreSQL the server is restarted once and worker
connections are terminated; on MySQL worker connections are killed; on SQLite another process
holds the write lock for a few seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

ROOT = Path(__file__).resolve().parent.parent
MANAGE = ROOT / "tests" / "manage.py"
DATABASES = ("sqlite", "postgres", "mysql")
DEFAULT_URLS = {
    "sqlite": "sqlite:///"
    + os.environ.get(
        "CHAOS_SQLITE_PATH", str(Path(tempfile.gettempdir()) / "durable-chaos.sqlite3")
    ),
    "postgres": os.environ.get("CHAOS_PG_URL", "postgres://postgres@127.0.0.1:5432/chaos"),
    "mysql": os.environ.get("CHAOS_MYSQL_URL", "mysql://root@127.0.0.1:3306/chaos"),
}
FAILURE_TYPE = "tests.testapp.durable_chaos.ChaosFailure"


@dataclass
class ChaosConfig:
    executions: int = 1000
    workers: int = 3
    threads: int = 4
    seed: int = 1
    duration_limit: float = 900.0
    kill_every: tuple[float, float] = (0.5, 3.0)
    graceful_share: float = 0.25  # of the stops: SIGTERM instead of SIGKILL
    restart_server: bool = False  # PostgreSQL: restart the server once, mid-run
    terminate_connections: bool = True  # PostgreSQL/MySQL: kill the workers' connections
    sqlite_lock_seconds: float = 3.0  # SQLite: hold the write lock this long, now and then
    signal_within: float = 8.0  # signals are sent at a random moment in this many seconds
    worker_env: dict = field(
        default_factory=lambda: {
            "DURABLE_LEASE_SECONDS": "3",
            "DURABLE_HEARTBEAT_SECONDS": "0.5",
            "DURABLE_POLL_SECONDS": "0.2",
            "DURABLE_TIMER_POLL_SECONDS": "0.2",
            "DURABLE_SHUTDOWN_GRACE_SECONDS": "5",
        }
    )


@dataclass
class ChaosReport:
    database: str
    executions: int = 0
    tasks: int = 0  # django.tasks tasks enqueued beside the executions
    steps: int = 0
    kills: int = 0
    graceful_stops: int = 0
    db_restarts: int = 0
    connections_terminated: int = 0
    write_locks: int = 0
    retries: int = 0
    wall_time: float = 0.0
    lost: int = 0
    duplicated_completed_steps: int = 0
    rerun_in_flight_steps: int = 0
    overlaps: int = 0
    stuck: int = 0
    worker_errors: int = 0
    problems: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, text: str) -> None:
        if len(self.problems) < 200:
            self.problems.append(text)
        elif len(self.problems) == 200:
            self.problems.append("… (more problems left out)")


# --- the workload -------------------------------------------------------------------------


def make_plan(rng: random.Random) -> list:
    plan = []
    for k in range(rng.randint(2, 7)):
        kinds = ["step", "atomic", "sleep", "signal", "flaky", "broken", "event", "children"]
        kinds.append("fanout")
        kind = rng.choices(kinds, [4, 2, 2, 1, 1, 0.5, 1, 0.7, 0.3])[0]
        if kind == "step":
            plan.append(["step", f"s{k}", round(rng.uniform(0.0, 0.05), 3)])
        elif kind == "atomic":
            plan.append(["atomic", f"a{k}", k + 1])
        elif kind == "sleep":
            plan.append(["sleep", 0 if rng.random() < 0.2 else round(rng.uniform(0.1, 3.0), 2)])
        elif kind == "signal":
            plan.append(["signal", f"go{k}"])
        elif kind == "broken":
            plan.append(["broken", f"b{k}"])
        elif kind == "event":
            plan.append(["event", k])
        elif kind == "children":
            plan.append(["children", f"c{k}", rng.randint(1, 3)])
        elif kind == "fanout":
            plan.append(["fanout", rng.randint(2, 6)])
        else:
            # 0.2 s is retried in the worker thread, 1.5 s on a timer (the execution sleeps).
            plan.append(["flaky", f"f{k}", rng.choice([0.2, 1.5])])
    if rng.random() < 0.1:
        plan.append(["fail"])
    return plan


def signal_payload(index: int, k: int) -> dict:
    return {"execution": index, "item": k}


def expected_outcome(index: int, plan: list) -> tuple[str, list | None]:
    results = []
    for k, item in enumerate(plan):
        kind = item[0]
        if kind == "fail":
            return "FAILED", None
        if kind in ("step", "flaky", "broken"):
            results.append(item[1] if kind == "step" else f"{item[1]}-ok")
        elif kind == "atomic":
            results.append(item[2])
        elif kind == "signal":
            results.append(signal_payload(index, k))
        elif kind == "children":
            results.append([f"{item[1]}-{j}" for j in range(item[2])])
        elif kind == "fanout":
            results.append([2 * j for j in range(item[1])])
        else:
            results.append(None)
    return "COMPLETED", results


# --- database chores ------------------------------------------------------------------------


def with_retry(operation, *args, seconds: float = 120.0, **kwargs):
    """Run a database operation of the runner, riding out a server restart or a kill."""
    from django.db import InterfaceError, OperationalError, connection

    deadline = time.monotonic() + seconds
    while True:
        try:
            return operation(*args, **kwargs)
        except (OperationalError, InterfaceError):
            connection.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def terminate_connections(db_name: str) -> int:
    """Kill every other connection to ``db_name`` (PostgreSQL, MySQL); return how many."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                [db_name],
            )
            return cursor.fetchone()[0]
        cursor.execute(
            "SELECT id FROM information_schema.processlist WHERE db = %s AND id <> CONNECTION_ID()",
            [db_name],
        )
        killed = 0
        for (thread_id,) in cursor.fetchall():
            try:
                cursor.execute(f"KILL CONNECTION {int(thread_id)}")
                killed += 1
            except Exception:  # noqa: BLE001 - it may have gone meanwhile
                pass
        return killed


def restart_postgres() -> None:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
        check=True,
        capture_output=True,
        timeout=120,
    )


def hold_sqlite_lock(path: str, seconds: float) -> subprocess.Popen:
    code = (
        "import sqlite3, sys, time\n"
        "db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)\n"
        "db.execute('BEGIN IMMEDIATE')\n"
        "time.sleep(float(sys.argv[2]))\n"
        "db.execute('COMMIT')\n"
    )
    return subprocess.Popen([sys.executable, "-c", code, path, str(seconds)])


# --- workers --------------------------------------------------------------------------------


class Workers:
    def __init__(self, config: ChaosConfig, db_name: str, log_dir: Path):
        self.config = config
        self.db_name = db_name
        self.log_dir = log_dir
        self.alive: list[subprocess.Popen] = []
        self.stopping: list[subprocess.Popen] = []
        self.finished: list[subprocess.Popen] = []
        self.killed_at: dict[int, float] = {}
        self.started = 0
        self.unexpected: list[str] = []
        self.restarted_at: float | None = None  # when the harness restarted the server

    def start(self) -> subprocess.Popen:
        env = dict(os.environ)
        env["DURABLE_USE_TEST_DB"] = self.db_name
        env.update(self.config.worker_env)
        env["DURABLE_CHAOS_ENDS"] = str(self.log_dir)
        self.started += 1
        log = open(self.log_dir / f"worker-{self.started:03d}.log", "wb")
        args = [sys.executable, str(MANAGE), "durable_worker", "--threads"]
        proc = subprocess.Popen(
            [*args, str(self.config.threads)], stdout=log, stderr=subprocess.STDOUT, env=env
        )
        log.close()
        proc.log_path = log.name
        self.alive.append(proc)
        return proc

    def ready(self) -> list[subprocess.Popen]:
        """Workers that have started working (a kill before that tests nothing)."""
        return [proc for proc in self.alive if self.has_started(proc)]

    def has_started(self, proc: subprocess.Popen) -> bool:
        return " started with " in Path(proc.log_path).read_text(errors="replace")

    def kill(self, proc: subprocess.Popen) -> None:
        self.alive.remove(proc)
        proc.send_signal(signal.SIGKILL)
        self.killed_at[proc.pid] = time.time()
        proc.wait(30)  # reaped at once: a zombie would still look alive to the workers
        self.finished.append(proc)

    def terminate(self, proc: subprocess.Popen) -> None:
        self.alive.remove(proc)
        proc.send_signal(signal.SIGTERM)
        self.stopping.append(proc)

    def reap(self) -> None:
        for proc in list(self.stopping):
            if proc.poll() is not None:
                self.stopping.remove(proc)
                self.finished.append(proc)
                # Before its start-up set the signal handlers, SIGTERM ends a worker outright.
                early = proc.returncode == -signal.SIGTERM and not self.has_started(proc)
                if proc.returncode != 0 and not early:
                    self.unexpected.append(f"worker {proc.pid} exited {proc.returncode} on SIGTERM")
        for proc in list(self.alive):
            if proc.poll() is not None:
                self.alive.remove(proc)
                self.finished.append(proc)
                if not self.refused_during_restart(proc):
                    self.unexpected.append(f"worker {proc.pid} died by itself ({proc.returncode})")
                self.start()

    def refused_during_restart(self, proc: subprocess.Popen) -> bool:
        """A worker started as the server went down, which exited at start-up saying so.

        That is the command's answer to an unreachable database (a supervisor starts it
        again), not a fault of the run: the harness starts another.
        """
        return (
            self.restarted_at is not None
            and time.time() - self.restarted_at < 30
            and not self.has_started(proc)
            and "cannot reach the database" in Path(proc.log_path).read_text(errors="replace")
        )

    def stop_all(self) -> None:
        for proc in list(self.alive):
            self.terminate(proc)
        deadline = time.monotonic() + 60
        while self.stopping and time.monotonic() < deadline:
            self.reap()
            time.sleep(0.1)
        for proc in list(self.stopping):
            proc.kill()
            proc.wait(10)
            self.stopping.remove(proc)
            self.finished.append(proc)
            self.unexpected.append(f"worker {proc.pid} did not stop within 60 s of SIGTERM")

    def logs(self):
        for proc in self.finished + self.alive + self.stopping:
            yield proc, Path(proc.log_path).read_text(errors="replace")


# --- the run ----------------------------------------------------------------------------------


def run_chaos(config: ChaosConfig, db_name: str, log_dir: Path, label: str = "") -> ChaosReport:
    """Run the workload under faults against the configured database and check the outcome.

    Django must be set up on that database; ``db_name`` is its NAME, given to the workers.
    """
    from django.db import connection

    from django_durable import retry_workflow, signal_workflow, start_workflow
    from django_durable.exceptions import ExecutionFinished, NotRetryable
    from django_durable.models import FINAL_STATUSES, Status, WorkflowExecution

    vendor = connection.vendor
    report = ChaosReport(database=label or vendor)
    rng = random.Random(config.seed)
    tag = f"chaos-{config.seed}-{os.getpid()}-{int(time.time())}"
    plans = [make_plan(rng) for _ in range(config.executions)]
    ids = [f"{tag}-{i:05d}" for i in range(config.executions)]
    log_dir.mkdir(parents=True, exist_ok=True)

    began = time.monotonic()
    for eid, plan in zip(ids, plans, strict=True):
        with_retry(start_workflow, "chaos_mix", workflow_id=eid, plan=plan)
    # django.tasks tasks beside the workflows: each must succeed, run by one worker at a time.
    from tests.testapp.tasks import chaos_task

    report._task_keys = {
        with_retry(chaos_task.enqueue, key, round(rng.uniform(0.0, 0.3), 3)).id: key
        for key in (f"{tag}-task-{i:04d}" for i in range(max(1, config.executions // 10)))
    }
    report.tasks = len(report._task_keys)
    signals = sorted(
        (began + rng.uniform(0.0, config.signal_within), i, k, item[1])
        for i, plan in enumerate(plans)
        for k, item in enumerate(plan)
        if item[0] == "signal"
    )
    # Executions with a step that fails for good until their execution is retried.
    broken = [
        eid for eid, plan in zip(ids, plans, strict=True) if any(i[0] == "broken" for i in plan)
    ]
    broken_set = set(broken)
    step_failed = "django_durable.exceptions.StepFailed"
    workers = Workers(config, db_name, log_dir)
    for _ in range(config.workers):
        workers.start()

    now = time.monotonic()
    next_stop = now + rng.uniform(*config.kill_every)
    next_terminate = now + rng.uniform(2.0, 6.0)
    next_lock = now + rng.uniform(1.0, 4.0)
    restart_at = None
    lock_holder = None
    final = 0
    next_count = now
    deadline = began + config.duration_limit
    progress = began
    try:
        while True:
            now = time.monotonic()
            while signals and signals[0][0] <= now:
                _, i, k, name = signals.pop(0)
                try:
                    with_retry(signal_workflow, ids[i], name, signal_payload(i, k))
                except ExecutionFinished:
                    if ids[i] not in broken_set:
                        raise
                    # Failed for good until the runner retries it: send the signal after.
                    signals.append((now + 0.5, i, k, name))
                    signals.sort()
                    break
            if now >= next_count:
                to_retry = with_retry(
                    lambda: list(
                        WorkflowExecution.objects.filter(
                            pk__in=broken, status=Status.FAILED, error_type=step_failed
                        ).values_list("id", flat=True)
                    )
                )
                for eid in to_retry:
                    try:
                        with_retry(retry_workflow, eid)
                        report.retries += 1
                    except NotRetryable:
                        pass  # retried meanwhile
                final = with_retry(
                    WorkflowExecution.objects.filter(
                        id__startswith=tag + "-", status__in=FINAL_STATUSES
                    )
                    .exclude(id__contains=".")  # children: "<parent id>.<step>.<n>"
                    .count
                ) - len(to_retry)
                next_count = now + 0.5
                if now - progress >= 10:
                    progress = now
                    print(
                        f"chaos {report.database}: {final}/{config.executions} finished, "
                        f"{report.kills} kills, {now - began:.0f} s",
                        file=sys.stderr,
                        flush=True,
                    )
                tasks_done = with_retry(
                    WorkflowExecution.objects.filter(
                        pk__in=list(report._task_keys), status__in=FINAL_STATUSES
                    ).count
                )
                if final >= config.executions and tasks_done >= report.tasks and not signals:
                    break
                if config.restart_server and vendor == "postgresql" and restart_at is None:
                    if final >= config.executions * 0.4:
                        restart_at = now
                        workers.restarted_at = time.time()
                        restart_postgres()
                        report.db_restarts += 1
                        connection.close()
            if now > deadline:
                report.problem(f"duration limit of {config.duration_limit:.0f} s reached")
                break
            workers.reap()
            ready = workers.ready() if now >= next_stop else []
            if ready:
                victim = rng.choice(ready)
                if rng.random() < config.graceful_share:
                    workers.terminate(victim)
                    report.graceful_stops += 1
                else:
                    workers.kill(victim)
                    report.kills += 1
                workers.start()
                next_stop = now + rng.uniform(*config.kill_every)
            if config.terminate_connections and vendor in ("postgresql", "mysql"):
                if now >= next_terminate:
                    report.connections_terminated += with_retry(terminate_connections, db_name)
                    next_terminate = now + rng.uniform(3.0, 8.0)
            if vendor == "sqlite" and config.sqlite_lock_seconds > 0:
                if lock_holder is not None and lock_holder.poll() is not None:
                    lock_holder = None
                if lock_holder is None and now >= next_lock:
                    lock_holder = hold_sqlite_lock(db_name, config.sqlite_lock_seconds)
                    report.write_locks += 1
                    next_lock = now + config.sqlite_lock_seconds + rng.uniform(5.0, 10.0)
            time.sleep(0.05)
    finally:
        workers.stop_all()
        if lock_holder is not None:
            lock_holder.wait(60)
    report.wall_time = round(time.monotonic() - began, 1)
    with_retry(check, report, ids, plans, workers)
    # Lets a test run the checks again on data it changed (does the checker catch it?).
    report._recheck = lambda: check(report, ids, plans, workers)
    return report


def check(report: ChaosReport, ids: list, plans: list, workers: Workers) -> None:
    from django.db.models import Count

    from django_durable.models import LIVE_STATUSES, StepResult, WorkflowExecution
    from django_durable.serialization import loads
    from tests.testapp.models import Ledger, SideEffect

    report.problems = [p for p in report.problems if p.startswith("duration limit")]
    report.executions = len(ids)
    for attr in ("lost", "stuck", "duplicated_completed_steps", "rerun_in_flight_steps"):
        setattr(report, attr, 0)
    report.overlaps = report.worker_errors = 0
    prefix = ids[0].rsplit("-", 1)[0] + "-" if ids else ""
    rows = {
        row["id"]: row
        for row in WorkflowExecution.objects.filter(id__startswith=prefix).values(
            "id", "status", "result", "error_type", "error_message"
        )
    }
    for index, (eid, plan) in enumerate(zip(ids, plans, strict=True)):
        row = rows.get(eid)
        status, result = expected_outcome(index, plan)
        if row is None:
            report.lost += 1
            report.problem(f"{eid}: missing")
        elif row["status"] in LIVE_STATUSES:
            report.stuck += 1
            report.problem(f"{eid}: left {row['status']}")
        elif row["status"] != status:
            report.lost += 1
            report.problem(
                f"{eid}: {row['status']} ({row['error_type']}: {row['error_message'][:200]}), "
                f"expected {status}"
            )
        elif status == "COMPLETED" and loads(row["result"]) != result:
            report.lost += 1
            report.problem(f"{eid}: result {loads(row['result'])!r}, expected {result!r}")
        elif status == "FAILED" and (
            row["error_type"] != FAILURE_TYPE or row["error_message"] != "planned failure"
        ):
            report.lost += 1
            report.problem(f"{eid}: failed with {row['error_type']}: {row['error_message']}")

    # Children (ids under their parent's): none left live once every parent has ended.
    parents = set(ids)
    for eid, row in rows.items():
        if eid not in parents and row["status"] in LIVE_STATUSES:
            report.stuck += 1
            report.problem(f"child {eid}: left {row['status']}")

    # django.tasks tasks: each succeeded with its key (its side effects, keyed by it, go
    # through the overlap check below with the executions').
    task_rows = WorkflowExecution.objects.filter(pk__in=list(getattr(report, "_task_keys", {})))
    for eid, status, result in task_rows.values_list("id", "status", "result"):
        key = report._task_keys[eid]
        if status in LIVE_STATUSES:
            report.stuck += 1
            report.problem(f"task {key}: left {status}")
        elif status != "COMPLETED" or loads(bytes(result)) != key:
            report.lost += 1
            report.problem(f"task {key}: {status}")

    # Published events: the last value each completed execution set is the one stored.
    from django_durable.models import EventValue

    published = dict(
        EventValue.objects.filter(execution__id__startswith=prefix, key="progress").values_list(
            "execution_id", "value"
        )
    )
    for eid, plan in zip(ids, plans, strict=True):
        values = [item[1] for item in plan if item[0] == "event"]
        row = rows.get(eid)
        if not values or row is None or row["status"] != "COMPLETED":
            continue
        stored = published.get(eid)
        if stored is None or loads(bytes(stored)) != values[-1]:
            report.lost += 1
            report.problem(f"{eid}: event 'progress' is {stored!r}, expected {values[-1]!r}")

    recorded = {
        (eid, step_id): finished.timestamp()
        for eid, step_id, finished in StepResult.objects.filter(
            execution__id__startswith=prefix
        ).values_list("execution_id", "step_id", "finished_at")
    }
    report.steps = len(recorded)

    # Bodies whose end could not be written to the database noted it in a file.
    noted = {}
    for path in workers.log_dir.glob("ends-*.txt"):
        for line in path.read_text().split("\n"):
            if line.strip():
                pk, at = line.split()
                noted[int(pk)] = float(at)
    bodies = defaultdict(list)
    by_execution = defaultdict(list)
    for pk, eid, step, pid, epoch, started, finished in SideEffect.objects.filter(
        execution_id__startswith=prefix
    ).values_list("id", "execution_id", "step", "pid", "epoch", "started", "finished"):
        body = (started, finished if finished is not None else noted.get(pk), pid, epoch, step)
        by_execution[eid].append(body)
        if not step.endswith(".fail"):
            bodies[(eid, step)].append(body)
    for (eid, step), runs in bodies.items():
        done_at = recorded.get((eid, step))
        if done_at is None:
            continue  # never completed (its execution failed, or was not that far)
        later = [run for run in runs if run[0] > done_at]
        if later:
            report.duplicated_completed_steps += len(later)
            report.problem(f"{eid} step {step}: ran {len(later)} more time(s) after completing")
        report.rerun_in_flight_steps += len(runs) - 1 - len(later)

    # Overlaps: a body of one run must end before a body of another run of that execution
    # begins; a body of a killed worker ended at the kill at the latest.
    for eid, runs in by_execution.items():
        runs.sort(key=lambda run: run[0])
        for n, (started, finished, pid, epoch, step) in enumerate(runs):
            end = finished
            if end is None:
                end = workers.killed_at.get(pid, started)
                end = end if end >= started else started
            for other in runs[n + 1 :]:
                if other[0] >= end:
                    break
                if other[3] != epoch or other[2] != pid:
                    report.overlaps += 1
                    report.problem(
                        f"{eid}: {step} (pid {pid}, epoch {epoch}) and {other[4]} (pid "
                        f"{other[2]}, epoch {other[3]}) ran at the same time"
                    )
            for other in runs[n + 1 :]:
                if other[3] < epoch or (other[3] == epoch and other[2] != pid):
                    report.overlaps += 1
                    report.problem(
                        f"{eid}: {other[4]} (pid {other[2]}, epoch {other[3]}) began after "
                        f"{step} (pid {pid}, epoch {epoch})"
                    )
                    break

    atomic = {
        (eid, item[1])
        for eid, plan in zip(ids, plans, strict=True)
        for item in plan
        if item[0] == "atomic"
    }
    counts = dict(
        (
            (eid, entry),
            c,
        )
        for eid, entry, c in Ledger.objects.filter(execution_id__startswith=prefix)
        .values("execution_id", "entry")
        .annotate(c=Count("id"))
        .values_list("execution_id", "entry", "c")
    )
    for key in sorted(atomic | set(counts)):
        if counts.get(key, 0) != 1 and (key in recorded or counts.get(key, 0) > 1):
            report.lost += 1
            report.problem(f"{key[0]} atomic step {key[1]}: {counts.get(key, 0)} ledger rows")

    for text in workers.unexpected:
        report.worker_errors += 1
        report.problem(text)
    for proc, log in workers.logs():
        if "Traceback" in log:
            report.worker_errors += 1
            at = log.index("Traceback")
            report.problem(f"worker {proc.pid} logged a traceback:\n{log[at : at + 3000]}")


# --- the command line ----------------------------------------------------------------------


def prepare_database(db: str, url: str) -> str:
    """Drop and create the chaos database, migrate it; return its NAME for the workers."""
    parsed = urlparse(url)
    name = unquote(parsed.path.lstrip("/")) if db != "sqlite" else unquote(parsed.path)
    base = Path(name).name
    if base in ("test", "bench") or base.startswith(("test_", "bench")):
        raise SystemExit(f"chaos: refusing to use the database {name!r}; it is not ours")
    if db == "sqlite":
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(name + suffix).unlink(missing_ok=True)
    elif db == "postgres":
        import psycopg

        with psycopg.connect(
            host=parsed.hostname,
            port=parsed.port or 5432,
            user=unquote(parsed.username or "postgres"),
            password=unquote(parsed.password or "") or None,
            dbname="postgres",
            autocommit=True,
        ) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                [name],
            )
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            admin.execute(f'CREATE DATABASE "{name}"')
    else:
        import MySQLdb

        admin = MySQLdb.connect(
            host=parsed.hostname,
            port=parsed.port or 3306,
            user=unquote(parsed.username or "root"),
            password=unquote(parsed.password or ""),
        )
        cursor = admin.cursor()
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        admin.close()
    subprocess.run(
        [sys.executable, str(MANAGE), "migrate", "-v", "0"],
        check=True,
        env={**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "tests.settings"},
    )
    return name


COLUMNS = [
    ("database", "database"),
    ("executions", "executions"),
    ("steps", "steps"),
    ("kills", "kills"),
    ("graceful stops", "graceful_stops"),
    ("retries", "retries"),
    ("tasks", "tasks"),
    ("database restarts", "db_restarts"),
    ("connections terminated", "connections_terminated"),
    ("write locks held", "write_locks"),
    ("wall time (s)", "wall_time"),
    ("lost", "lost"),
    ("duplicated completed steps", "duplicated_completed_steps"),
    ("re-run in-flight steps", "rerun_in_flight_steps"),
    ("overlapping runs", "overlaps"),
    ("stuck", "stuck"),
    ("worker errors", "worker_errors"),
]


def table(reports: list[dict]) -> str:
    lines = [
        "| " + " | ".join(title for title, _ in COLUMNS) + " |",
        "|" + "|".join(" --- " for _ in COLUMNS) + "|",
    ]
    for rep in reports:
        lines.append("| " + " | ".join(str(rep.get(key, "")) for _, key in COLUMNS) + " |")
    return "\n".join(lines)


def run_one(args) -> int:
    url = DEFAULT_URLS[args.db]
    name = prepare_database(args.db, url)
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    os.environ.pop("DURABLE_USE_TEST_DB", None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    workers = args.workers or (2 if args.db == "sqlite" else 3)
    config = ChaosConfig(
        executions=args.executions,
        workers=workers,
        seed=args.seed,
        duration_limit=args.duration_limit,
        restart_server=args.db == "postgres" and not args.no_restart,
    )
    log_dir = Path(args.log_dir or tempfile.mkdtemp(prefix=f"durable-chaos-{args.db}-"))
    label = {"sqlite": "SQLite", "postgres": "PostgreSQL", "mysql": "MySQL/MariaDB"}[args.db]
    report = run_chaos(config, name, log_dir, label=label)
    data = asdict(report)
    data["ok"] = report.ok
    data["log_dir"] = str(log_dir)
    if args.json:
        Path(args.json).write_text(json.dumps(data))
    else:
        print(table([data]))
    for text in report.problems:
        print(f"chaos {label}: {text}", file=sys.stderr)
    print(f"chaos {label}: worker logs in {log_dir}", file=sys.stderr)
    return 0 if report.ok else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=DATABASES, help="one database (default: all three)")
    parser.add_argument("--executions", type=int, default=1000)
    parser.add_argument("--workers", type=int, help="default 3 (PostgreSQL, MySQL), 2 (SQLite)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--duration-limit", type=float, default=900.0, help="seconds per database")
    parser.add_argument("--no-restart", action="store_true", help="do not restart PostgreSQL")
    parser.add_argument("--log-dir", help="worker logs (default: a new directory under /tmp)")
    parser.add_argument("--json", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.db:
        return run_one(args)

    reports = []
    status = 0
    for db in DATABASES:
        print(f"chaos: {db}, {args.executions} executions", file=sys.stderr, flush=True)
        out = Path(tempfile.mkstemp(prefix="durable-chaos-", suffix=".json")[1])
        cmd = [sys.executable, "-m", "tests.chaos", "--db", db, "--json", str(out)]
        cmd += ["--executions", str(args.executions), "--seed", str(args.seed)]
        cmd += ["--duration-limit", str(args.duration_limit)]
        if args.workers:
            cmd += ["--workers", str(args.workers)]
        if args.no_restart:
            cmd.append("--no-restart")
        if args.log_dir:
            cmd += ["--log-dir", str(Path(args.log_dir) / db)]
        code = subprocess.run(cmd, cwd=ROOT).returncode
        text = out.read_text()
        out.unlink()
        if code or not text:
            status = 1
        if text:
            reports.append(json.loads(text))
        else:
            reports.append({"database": db, "lost": "run failed"})
    print(table(reports))
    return status


if __name__ == "__main__":
    sys.exit(main())
