"""SQLite: the engine's writers of several processes take turns through a lock file."""

import os
import threading

import pytest
from django.db import connection

from django_durable import dialect, writeturn
from django_durable.models import WorkflowExecution
from tests.conftest import manage, wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "sqlite" or not os.path.exists("/proc/locks"),
        reason="a SQLite file's write turn, seen in Linux's /proc/locks",
    ),
]


def waiting_for(path):
    """Whether a process waits for the flock of ``path`` (Linux lists waiters with '->')."""
    inode = os.stat(path).st_ino
    with open("/proc/locks") as locks:
        return any(
            "->" in line and "FLOCK" in line and line.split()[-3].endswith(f":{inode}")
            for line in locks
        )


def test_another_process_waits_for_the_turn_and_writes_as_soon_as_it_is_released():
    lock_file = os.path.realpath(connection.settings_dict["NAME"]) + writeturn.LOCK_FILE_SUFFIX
    outcome = {}

    def start_elsewhere():
        outcome["run"] = manage("durable_start", "add", "--input", '{"a": 1, "b": 2}', "--id", "T")

    dialect._sqlite_writer.acquire()  # this process's turn: the other one's start must wait
    try:
        assert os.path.exists(lock_file)
        thread = threading.Thread(target=start_elsewhere)
        thread.start()
        wait_for(lambda: waiting_for(lock_file), message="the other process to wait its turn")
        assert not WorkflowExecution.objects.filter(pk="T").exists()
    finally:
        dialect._sqlite_writer.release()
    thread.join(60)
    assert outcome["run"].returncode == 0, outcome["run"].stderr
    assert WorkflowExecution.objects.filter(pk="T").exists()
