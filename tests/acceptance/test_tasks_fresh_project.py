"""A fresh project with only INSTALLED_APPS and TASKS set runs @task functions through
durable_worker and survives a SIGKILL (Django 6's django.tasks, or 5.2 with the backport)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = [
    pytest.mark.acceptance,
    # A project of its own on SQLite, whatever the suite's database: once per run is enough.
    pytest.mark.skipif(
        os.environ.get("DATABASE_URL", "sqlite").split(":")[0] != "sqlite",
        reason="runs its own SQLite project; covered by the SQLite run",
    ),
]

SETTINGS = """
INSTALLED_APPS += ["django_durable", "shop"]
try:
    import django.tasks  # noqa: F401  (Django 6)
except ImportError:
    INSTALLED_APPS += ["django_tasks"]  # Django 5.2: the backport
TASKS = {"default": {"BACKEND": "django_durable.tasks.DurableBackend"}}
"""

TASKS = """
import os, time
from pathlib import Path

try:
    from django.tasks import task
except ImportError:
    from django_tasks import task


@task()
def charge(order_id, seconds):
    # One line per call, written before the work: a kill mid-task leaves it behind.
    with open(Path(__file__).with_name("calls.txt"), "a") as calls:
        calls.write(f"{order_id} {os.getpid()}\\n")
    time.sleep(seconds)
    return {"order": order_id, "charged": True}
"""

ENQUEUE = (
    "from shop.tasks import charge; "
    "print(charge.enqueue('A-1', 0.0).id); print(charge.enqueue('B-2', 4.0).id)"
)


def test_a_fresh_project_runs_tasks_through_the_worker_and_survives_a_kill(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if key != "DJANGO_SETTINGS_MODULE" and not key.startswith(("DURABLE_", "DATABASE_"))
    }
    python = sys.executable
    project = tmp_path / "site"
    project.mkdir()

    def manage(*args, check=True):
        result = subprocess.run(
            [python, "manage.py", *args],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert not check or result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
        return result.stdout

    subprocess.run(
        [python, "-m", "django", "startproject", "mysite", str(project)], env=env, check=True
    )
    manage("startapp", "shop")
    settings = project / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + SETTINGS)
    (project / "shop" / "tasks.py").write_text(TASKS)
    manage("migrate", "-v", "0")
    # The last two lines: Django 5.2's shell may first say what it imported.
    quick, slow = manage("shell", "-c", ENQUEUE).split()[-2:]
    calls = project / "shop" / "calls.txt"

    def status(execution_id):
        return json.loads(manage("durable_status", execution_id, "--json"))["status"]

    def worker():
        log = (tmp_path / f"worker-{time.monotonic()}.log").open("wb")
        return subprocess.Popen(
            [python, "manage.py", "durable_worker", "--threads", "2"],
            cwd=project,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    first = worker()
    deadline = time.monotonic() + 60
    while not (calls.exists() and "B-2" in calls.read_text() and status(quick) == "COMPLETED"):
        assert time.monotonic() < deadline, "the tasks never started"
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)  # B-2 is in the middle of its 4 seconds
    first.wait(10)
    second = worker()
    try:
        deadline = time.monotonic() + 90
        while status(slow) != "COMPLETED":
            assert time.monotonic() < deadline, "the interrupted task never completed"
            time.sleep(0.3)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)
    lines = calls.read_text().split()
    assert lines[0::2].count("A-1") == 1  # finished before the kill: never again
    assert lines[0::2].count("B-2") == 2  # interrupted: ran again on the second worker
    result = manage(
        "shell",
        "-c",
        f"from shop.tasks import charge; r = charge.get_result({slow!r}); "
        "print(r.status, r.return_value, r.attempts)",
    )
    assert result.split()[-6:] == ["SUCCESSFUL", "{'order':", "'B-2',", "'charged':", "True}", "2"]
