import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from django_durable.models import Status, WorkflowExecution
from django_durable.worker import Worker

pytest_plugins = ["pytester"]  # a user's own suite, run in a subprocess (the fixture test)

MANAGE = Path(__file__).resolve().parent / "manage.py"
FINAL = {Status.COMPLETED, Status.FAILED, Status.CANCELED, Status.TIMED_OUT}


def wait_for(condition, timeout=30.0, interval=0.05, message="condition"):
    """Poll ``condition`` until it is truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


def start_and_time_first_step():
    """Start an ``add`` execution; return its id and the seconds until its step was recorded."""
    from django_durable import start_workflow
    from django_durable.models import StepResult

    started = time.monotonic()
    eid = start_workflow("add", a=1, b=2)
    wait_for(
        lambda: StepResult.objects.filter(execution_id=eid).exists(),
        timeout=10,
        interval=0.01,
        message="the first step",
    )
    return eid, time.monotonic() - started


def status_of(execution_id):
    return WorkflowExecution.objects.values_list("status", flat=True).get(pk=execution_id)


def run_burst(threads=2):
    """Run an in-process worker until nothing is runnable and no timer is due."""
    worker = Worker(threads=threads, burst=True)
    worker.run()
    return worker


def start_worker_thread(threads=2):
    """An in-process burst worker running in a thread of its own; join the thread to wait."""
    import threading

    from django.db import connection

    worker = Worker(threads=threads, burst=True)

    def work():
        try:
            worker.run()
        finally:
            connection.close()

    thread = threading.Thread(target=work)
    thread.start()
    return worker, thread


@pytest.fixture
def burst():
    return run_burst


class WorkerProcesses:
    """Real ``manage.py durable_worker`` subprocesses against the test database."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.procs = []

    def start(self, threads=4, burst=False, env=None):
        environ = dict(os.environ)
        environ["DURABLE_USE_TEST_DB"] = connection.settings_dict["NAME"]
        environ.update(env or {})
        log = open(self.tmp_path / f"worker-{len(self.procs)}.log", "wb")
        args = [sys.executable, str(MANAGE), "durable_worker", "--threads", str(threads)]
        if burst:
            args.append("--burst")
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=environ)
        proc.log_path = log.name
        self.procs.append(proc)
        return proc

    def kill(self, proc):
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def log(self, proc):
        return Path(proc.log_path).read_text(errors="replace")

    def stop_all(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@pytest.fixture
def workers(tmp_path):
    processes = WorkerProcesses(tmp_path)
    yield processes
    processes.stop_all()


def manage(*args, env=None, timeout=60):
    """Run ``tests/manage.py`` as a subprocess against the test database."""
    environ = dict(os.environ)
    environ["DURABLE_USE_TEST_DB"] = connection.settings_dict["NAME"]
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, str(MANAGE), *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=timeout,
    )
