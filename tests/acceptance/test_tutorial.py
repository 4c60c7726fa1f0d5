"""The tutorial, run as written: its files in a fresh project, its commands in order.

Every ```python block that starts with a ``# path`` comment becomes that file (the
settings block is appended to the settings that ``startproject`` made); every ``$`` line of
a ```console block runs, and must exit 0, with ``durable_worker`` started in the
background where the tutorial starts it. The tutorial's own tests (``manage.py test
accounts``) must pass at the end. So the tutorial cannot rot.
"""

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.acceptance,
    # A project of its own on SQLite, whatever the suite's database: once per run is enough.
    pytest.mark.skipif(
        os.environ.get("DATABASE_URL", "sqlite").split(":")[0] != "sqlite",
        reason="runs its own SQLite project; covered by the SQLite run",
    ),
]

TUTORIAL = Path(__file__).resolve().parents[2] / "docs" / "tutorial.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)
# Commands shown for a situation the tutorial only describes (a mail server that is down).
ILLUSTRATIONS = {"durable_inspect onboard-2"}


def blocks():
    return [(kind, text) for kind, text in BLOCK.findall(TUTORIAL.read_text())]


def test_the_tutorial_runs_as_written(tmp_path):
    # A reader's shell: none of this suite's settings or database variables.
    env = {
        key: value
        for key, value in os.environ.items()
        if key != "DJANGO_SETTINGS_MODULE" and not key.startswith(("DURABLE_", "DATABASE_"))
    }
    project = tmp_path / "site"
    project.mkdir()
    python = sys.executable
    subprocess.run([python, "-m", "django", "startproject", "mysite", str(project)], check=True)
    subprocess.run([python, "manage.py", "startapp", "accounts"], cwd=project, check=True)
    worker = None
    ran = []

    def wait_for_status(execution_id, status):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            out = run(f"python manage.py durable_status {execution_id} --json")
            if f'"status": "{status}"' in out:
                return
            time.sleep(0.2)
        pytest.fail(f"{execution_id} never became {status}; worker log:\n{log.read_text()}")

    def run(command):
        args = shlex.split(command)
        assert args[0] == "python", command
        result = subprocess.run(
            [python, *args[1:]],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
        return result.stdout

    log = tmp_path / "worker.log"
    try:
        for kind, text in blocks():
            first = text.split("\n", 1)[0]
            if kind == "python" and re.match(r"# [\w/]+\.py$", first):
                path = project / first[2:]
                if path.name == "settings.py":
                    path.write_text(path.read_text() + "\n" + text)
                else:
                    path.write_text(text)
            elif kind == "console":
                for line in text.splitlines():
                    if not line.startswith("$ "):
                        continue
                    command = line[2:]
                    if any(skip in command for skip in ILLUSTRATIONS):
                        continue
                    if command.endswith("durable_worker"):
                        worker = subprocess.Popen(
                            [python, "manage.py", "durable_worker"],
                            cwd=project,
                            stdout=log.open("wb"),
                            stderr=subprocess.STDOUT,
                            env=env,
                        )
                        continue
                    output = run(command)
                    ran.append(command)
                    # Let the worker catch up where the tutorial's next output assumes it.
                    if "durable_start onboard_user" in command:
                        wait_for_status("onboard-1", "WAITING")
                    elif "durable_signal onboard-1" in command:
                        wait_for_status("onboard-1", "SLEEPING")
                    elif "--replay" in command:
                        assert "next it waits on timer ctx.sleep:1" in output, output
    finally:
        if worker is not None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(30)
    assert worker is not None and any("manage.py test accounts" in c for c in ran), ran
    assert "Welcome!" in log.read_text()  # the console email backend printed the email
