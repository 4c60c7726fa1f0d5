"""DBOS Transact 3.4.0's side of each workload; runs in its own venv (``.venv-dbos``).

    DBOS_URL=sqlite:////tmp/x.sqlite3|postgresql://... python -m benchmarks.dbos_cases CASE [args]

It imports nothing of Django or Django Durable. On SQLite the database file is put in WAL
mode before DBOS opens it (DBOS itself leaves SQLite's default rollback journal; ours uses
WAL), with SQLite's default ``synchronous`` (FULL), the same as ours. DBOS 3.4.0 calls
``unixepoch('subsec')``, which needs SQLite >= 3.42; older SQLite gets a Python
``unixepoch`` registered on every connection through SQLAlchemy's pool ``connect`` event.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.pool import Pool

# benchmarks/common.py is standard library only (nothing of Django).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import (  # noqa: E402
    emit,
    idle_window,
    max_overlap,
    percentile,
    proc_rss_mb,
    stop_process,
)

ROOT = Path(__file__).resolve().parent.parent
URL = os.environ["DBOS_URL"]


def _unixepoch(*args):
    now = time.time()
    if not args or (len(args) == 1 and args[0] == "now"):
        return int(now)
    if args in (("subsec",), ("now", "subsec")):
        return now
    raise sqlite3.OperationalError(f"unixepoch{args!r} is not supported by the benchmark shim")


@event.listens_for(Pool, "connect")
def _register_unixepoch(dbapi_connection, _record):
    if isinstance(dbapi_connection, sqlite3.Connection) and sqlite3.sqlite_version_info < (
        3,
        42,
    ):
        dbapi_connection.create_function("unixepoch", -1, _unixepoch)


from dbos import DBOS, DBOSClient  # noqa: E402

RESUMED_AT: list[float] = []
DONE_AT: dict[int, float] = {}
W4_MARGIN_S = 15.0
# DBOS starts a sleeper in 3-7 ms here, and more when this machine is slow: at 0.005 s a
# sleeper, every W4 of a run on 2026-12-04 failed before T ("too little time left").
W4_MARGIN_PER_WORKFLOW_S = 0.015


@DBOS.step()
def trivial(i):
    return i


@DBOS.step()
def last_step(i):
    DONE_AT[i] = time.time()
    return i


@DBOS.step()
def after_k():
    if os.environ.get("BENCH_CRASH_AFTER_K"):
        os.kill(os.getpid(), signal.SIGKILL)
    RESUMED_AT.append(time.perf_counter())


@DBOS.step()
def wall_clock():
    return time.time()


@DBOS.workflow()
def bench_steps(n: int):
    for i in range(n):
        trivial(i)
    return n


@DBOS.workflow()
def bench_three(i: int):
    trivial(i)
    trivial(i + 1)
    last_step(i)
    return i


@DBOS.workflow()
def bench_resume(k: int):
    for i in range(k):
        trivial(i)
    after_k()
    return k


@DBOS.workflow()
def bench_first():
    return wall_clock()


@DBOS.workflow()
def bench_fanout(n: int):
    """W6: start ``n`` children (``bench_three``) from this workflow, gather their results."""
    handles = [DBOS.start_workflow(bench_three, i) for i in range(n)]
    return sum(handle.get_result() for handle in handles)


@DBOS.step()
def timed_sleep():
    """W7: as ours, a 5 ms step returning the wall-clock times its body began and ended."""
    began = time.time()
    time.sleep(0.005)
    return [began, time.time()]


@DBOS.workflow()
def bench_queued():
    return timed_sleep()


def reset() -> None:
    """Start from an empty system database (our own file or our own PostgreSQL database)."""
    if URL.startswith("sqlite"):
        path = URL.removeprefix("sqlite:///")
        for suffix in ("", "-wal", "-shm", "-journal"):
            if os.path.exists(path + suffix):
                os.unlink(path + suffix)
        db = sqlite3.connect(path)
        db.execute("PRAGMA journal_mode = WAL")  # persistent in the file
        db.close()
    else:
        import psycopg

        with psycopg.connect(URL, autocommit=True) as db:
            db.execute("DROP SCHEMA IF EXISTS dbos CASCADE")


def launch(*, queue_polling: float | None = None):
    DBOS(config={"name": "bench", "system_database_url": URL, "log_level": "WARNING"})
    DBOS.launch()
    if queue_polling is not None:
        return DBOS.register_queue(
            "bench", worker_concurrency=4, polling_interval_sec=queue_polling
        )
    return None


def w1(n: int) -> None:
    reset()
    launch()
    try:
        bench_steps(10)
        started = time.perf_counter()
        assert bench_steps(n) == n
        emit(value=(time.perf_counter() - started) / n * 1e6)
    finally:
        DBOS.destroy()


def w2(count: int) -> None:
    """A queue with worker_concurrency 4, polled every 10 ms (DBOS's default is 1 s)."""
    reset()
    queue = launch(queue_polling=0.01)
    try:
        queue.enqueue(bench_three, -1).get_result()
        t0 = time.time()
        enqueued = {}
        handles = []
        for i in range(count):
            enqueued[i] = time.time()
            handles.append(queue.enqueue(bench_three, i))
        for handle in handles:
            handle.get_result()
        end = max(DONE_AT[i] for i in range(count))
        latencies = [(DONE_AT[i] - enqueued[i]) * 1000 for i in range(count)]
        emit(
            value=count / (end - t0),
            p50_ms=percentile(latencies, 0.5),
            p99_ms=percentile(latencies, 0.99),
        )
    finally:
        DBOS.destroy()


def w6(count: int) -> None:
    """W6: a workflow, called in this process, starts ``count`` children and awaits them.

    ``DBOS.start_workflow`` from within a workflow runs each child in a thread of DBOS's
    executor at once (there is no queue in between).
    """
    reset()
    launch()
    try:
        bench_three(-1)  # warm-up: connections, caches
        t0 = time.time()
        total = bench_fanout(count)
        elapsed = time.time() - t0
        if total != count * (count - 1) // 2:
            raise RuntimeError(f"W6: the parent returned {total!r}")
        emit(
            value=elapsed,
            children_done_s=max(DONE_AT[i] for i in range(count)) - t0,
            children=count,
        )
    finally:
        DBOS.destroy()


W7_QUEUE = "w7"


def w7_worker(limit: int) -> None:
    """A DBOS process serving the queue ``w7`` (global concurrency ``limit``, 10 ms polling)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    launch()
    DBOS.register_queue(W7_QUEUE, global_concurrency=limit, polling_interval_sec=0.01)
    print("READY", bench_queued.dbos_function_name, flush=True)
    stop.wait()
    DBOS.destroy()


def w7(count: int, processes: int, limit: int, backlog: int = 0) -> None:
    """W7: ``count`` workflows enqueued one by one from here, run by ``processes`` workers.

    Enqueued while the workers run (as W2), the time runs from the first enqueue until the
    last step's body ended (recorded in the step, as W2's DBOS case does: DBOS on SQLite
    under Python 3.11 stamps its rows to the second only). With ``backlog`` all are enqueued
    before the workers start, and the time runs from the first step body's beginning.
    """
    reset()
    if backlog:  # DBOS creates its tables at launch; a client does not
        launch()
        DBOS.destroy()
    options = {"queue_name": W7_QUEUE, "workflow_name": bench_queued.dbos_function_name}
    client = DBOSClient(system_database_url=URL, application_name="bench")
    handles = [client.enqueue(options) for _ in range(count)] if backlog else []
    logs = Path(tempfile.mkdtemp(prefix="dbos-bench-w7-"))
    workers = []
    for n in range(processes):
        with open(logs / f"worker-{n}.log", "wb") as log:
            workers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "benchmarks.dbos_cases", "w7-worker", str(limit)],
                    cwd=ROOT,
                    env=dict(os.environ, DBOS__VMID=f"bench-w7-{n}"),  # its own executor id
                    stdout=subprocess.PIPE,
                    stderr=log,
                    text=True,
                )
            )
    try:
        for worker in workers:
            if _read_line(worker, "READY").strip() != options["workflow_name"]:
                raise RuntimeError("the DBOS worker names the workflow otherwise")
        starts_s = 0.0
        if not backlog:
            for handle in [client.enqueue(options) for _ in range(2 * limit)]:
                handle.get_result(polling_interval_sec=0.01)
            t0 = time.time()
            handles = [client.enqueue(options) for _ in range(count)]
            starts_s = time.time() - t0
        spans = [tuple(h.get_result(polling_interval_sec=0.01)) for h in handles]
        client.destroy()
        ids = {handle.workflow_id for handle in handles}
        rows = [row for row in queue_rows() if row[0] in ids]
        if len(rows) != count or any(row[1] != "SUCCESS" for row in rows):
            raise RuntimeError("W7: not every workflow succeeded")
        if backlog:
            t0 = min(begin for begin, _ in spans)
        end = max(body_end for _, body_end in spans)
    finally:
        for worker in workers:
            stop_process(worker, 15)
    # DBOS logs a warning each time it finds more of the queue's workflows running than
    # its limit allows.
    over = sum(
        path.read_text(errors="replace").count("exceeds the global concurrency limit")
        for path in logs.iterdir()
    )
    shutil.rmtree(logs, ignore_errors=True)
    emit(
        value=count / (end - t0),
        max_concurrency=max_overlap(spans),
        limit=limit,
        starts_s=starts_s,
        over_limit_warnings=over,
    )


def queue_rows() -> list[tuple]:
    """(id, status) of every workflow of the queue ``w7``, read with SQL."""
    sql = "SELECT workflow_uuid, status FROM {}workflow_status WHERE queue_name = 'w7'"
    if URL.startswith("sqlite"):
        db = sqlite3.connect(URL.removeprefix("sqlite:///"))
        try:
            return db.execute(sql.format("")).fetchall()
        finally:
            db.close()
    import psycopg

    with psycopg.connect(URL) as db:
        return db.execute(sql.format("dbos.")).fetchall()


def w3(k: int) -> None:
    reset()
    env = dict(os.environ, BENCH_CRASH_AFTER_K="1")
    crash = subprocess.run(
        [sys.executable, "-m", "benchmarks.dbos_cases", "w3-crash", str(k)], cwd=ROOT, env=env
    )
    if crash.returncode != -signal.SIGKILL:
        raise RuntimeError(f"the first phase ended with {crash.returncode}, not SIGKILL")
    import dbos._recovery as recovery

    claimed_at: list[float] = []
    original = recovery._recover_workflow

    def timed_recover(*args, **kwargs):
        claimed_at.append(time.perf_counter())
        return original(*args, **kwargs)

    recovery._recover_workflow = timed_recover
    DBOS(config={"name": "bench", "system_database_url": URL, "log_level": "WARNING"})
    DBOS.launch()  # recovers this executor's pending workflow
    try:
        deadline = time.monotonic() + 600
        while not RESUMED_AT:
            if time.monotonic() > deadline:
                raise RuntimeError("step k+1 did not run")
            time.sleep(0.001)
        seconds = RESUMED_AT[0] - claimed_at[0]
        emit(value=seconds / k * 1e6, resume_ms=seconds * 1000)
    finally:
        DBOS.destroy(workflow_completion_timeout_sec=5)


def w3_crash(k: int) -> None:
    launch()
    bench_resume(k)  # its step k+1 kills this process


def w5_worker() -> None:
    """An idle DBOS worker: a queue with worker_concurrency 4 at DBOS's default 1 s polling."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    launch(queue_polling=1.0)
    print("READY", bench_first.dbos_function_name, flush=True)
    stop.wait()
    DBOS.destroy()


def w5(samples: int) -> None:
    import random

    reset()
    worker = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.dbos_cases", "w5-worker"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = worker.stdout.readline().split()
        if not line or line[0] != "READY":
            raise RuntimeError("the DBOS worker did not start")
        client = DBOSClient(system_database_url=URL, application_name="bench")
        options = {"queue_name": "bench", "workflow_name": line[1]}
        ran_at = client.enqueue(options).get_result()
        rng = random.Random(5)
        latencies = []
        for _ in range(samples):
            time.sleep(max(0.0, ran_at + rng.uniform(0.7, 1.7) - time.time()))  # as ours
            t0 = time.time()
            ran_at = client.enqueue(options).get_result(polling_interval_sec=0.01)
            latencies.append((ran_at - t0) * 1000)
        client.destroy()
        emit(
            value=percentile(latencies, 0.5),
            p50_ms=percentile(latencies, 0.5),
            p99_ms=percentile(latencies, 0.99),
        )
    finally:
        stop_process(worker, 15)


@DBOS.workflow()
def bench_sleeper(until: float):
    """W4: a durable sleep until the epoch time ``until``, then when the next step ran."""
    DBOS.sleep(until - time.time())
    return wall_clock()


def count_recorded_sleeps() -> int:
    """Workflows whose sleep DBOS has recorded (so their thread sleeps), read with SQL."""
    sql = "SELECT count(*) FROM {}operation_outputs WHERE function_name = 'DBOS.sleep'"
    if URL.startswith("sqlite"):
        db = sqlite3.connect(URL.removeprefix("sqlite:///"))
        try:
            return db.execute(sql.format("")).fetchone()[0]
        finally:
            db.close()
    import psycopg

    with psycopg.connect(URL) as db:
        return db.execute(sql.format("dbos.")).fetchone()[0]


def w4_worker(count: int) -> None:
    """``count`` workflows started in this process, each sleeping in its own thread until T.

    Prints ``READY T`` once every sleep is recorded, then ``DONE [wall-clock times]`` when
    all have finished, and waits for SIGTERM.
    """
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    launch()
    # T leaves room for the starts (a few ms each), the driver's 10 s idle window and slack.
    due = time.time() + W4_MARGIN_S + W4_MARGIN_PER_WORKFLOW_S * count
    handles = [DBOS.start_workflow(bench_sleeper, due) for _ in range(count)]
    while count_recorded_sleeps() < count:
        if time.time() > due:
            raise RuntimeError("the workflows were not all asleep before they fell due")
        time.sleep(0.1)
    print("READY", due, flush=True)
    print(f"asleep {due - time.time():.1f} s before T", file=sys.stderr, flush=True)
    ran_at = [handle.get_result() for handle in handles]
    print("DONE", json.dumps(ran_at), flush=True)
    stop.wait()
    DBOS.destroy()


def w4(count: int) -> None:
    """W4: ``count`` sleeping workflows in a DBOS worker process; /proc measured from here."""
    reset()
    worker = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.dbos_cases", "w4-worker", str(count)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        due = float(_read_line(worker, "READY"))
        time.sleep(1.0)
        if due - time.time() < 12:
            raise RuntimeError("too little time left before T for the idle window")
        idle = idle_window(worker.pid, 10.0)
        ran_at = json.loads(_read_line(worker, "DONE"))
        rss_after = proc_rss_mb(worker.pid)
        resumed = [(t - due) * 1000 for t in ran_at]
        emit(
            value=percentile(resumed, 0.99),
            p50_ms=percentile(resumed, 0.5),
            p99_ms=percentile(resumed, 0.99),
            resumed_p50_ms=percentile(resumed, 0.5),
            resumed_p99_ms=percentile(resumed, 0.99),
            sleepers=count,
            due_together=count,
            rss_after_mb=rss_after,
            **idle,
        )
    finally:
        stop_process(worker, 30)


def _read_line(worker: subprocess.Popen, word: str) -> str:
    """The rest of the worker's next output line that starts with ``word``."""
    for line in worker.stdout:
        if line.startswith(word + " "):
            return line[len(word) + 1 :]
    raise RuntimeError(f"the DBOS worker exited ({worker.wait()}) before printing {word}")


def main() -> None:
    case, args = sys.argv[1], [int(a) for a in sys.argv[2:]]
    cases = {
        "w1": w1,
        "w2": w2,
        "w3": w3,
        "w3-crash": w3_crash,
        "w4": w4,
        "w4-worker": w4_worker,
        "w5": w5,
        "w5-worker": w5_worker,
        "w6": w6,
        "w7": w7,
        "w7-worker": w7_worker,
    }
    cases[case](*args)


if __name__ == "__main__":
    main()
