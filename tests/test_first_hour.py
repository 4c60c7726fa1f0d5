"""A newcomer's usual first mistakes, each met with one clear sentence (issue 13)."""

import logging
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command, get_commands, load_command_class
from django.db import connection

import django_durable
from django_durable import cancel_workflow, signal_workflow, start_workflow
from django_durable.management.base import require_migrated
from tests.conftest import MANAGE, run_burst

pytestmark = pytest.mark.django_db(transaction=True)


def call(*args):
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_a_second_start_with_the_same_id_says_so_on_stderr_and_keeps_the_id_last():
    first, err = call("durable_start", "add", "--id", "X", "--input", '{"a": 1, "b": 2}')
    assert (first.strip(), err) == ("X", "")
    again, err = call("durable_start", "add", "--id", "X", "--input", '{"b": 2, "a": 1}')
    assert again.strip().splitlines()[-1] == "X"
    assert err.strip() == "an execution with id 'X' already exists; nothing new started"
    other, err = call("durable_start", "add", "--id", "X", "--input", '{"a": 5, "b": 2}')
    assert other.strip().splitlines()[-1] == "X"
    assert "(it was started with other inputs, which it keeps)" in err


def test_commands_before_migrate_say_run_migrate_in_one_line(tmp_path):
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    env.pop("DURABLE_USE_TEST_DB", None)

    def manage(*args):
        return subprocess.run(
            [sys.executable, str(MANAGE), *args], capture_output=True, text=True, env=env
        )

    for args in (["durable_status"], ["durable_worker", "--burst"], ["durable_start", "add"]):
        result = manage(*args)
        assert result.returncode == 1, result
        assert result.stderr.strip() == (
            "CommandError: Django Durable's tables do not exist in this database yet: run "
            "`python manage.py migrate` first"
        )
    assert manage("migrate", "django_durable", "0002").returncode == 0
    behind = manage("durable_status")
    assert behind.returncode == 1
    later = sorted(
        path.stem
        for path in (Path(django_durable.__file__).parent / "migrations").glob("0*.py")
        if path.stem > "0003"
    )
    assert later[0] == "0003_run_log_workers_repairs"
    assert f"tables are not up to date ({', '.join(later)} not applied)" in behind.stderr
    assert "Traceback" not in behind.stderr


def test_a_command_against_an_unreachable_database_says_so_in_one_line():
    env = dict(os.environ, DATABASE_URL="postgres://postgres@127.0.0.1:1/nowhere")
    env.pop("DURABLE_USE_TEST_DB", None)
    result = subprocess.run(
        [sys.executable, str(MANAGE), "durable_status"], capture_output=True, text=True, env=env
    )
    assert result.returncode == 1
    assert result.stderr.startswith("CommandError: cannot reach the database: ")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="the test database may be in memory: its connection cannot be dropped and remade",
)
def test_a_command_whose_connection_dropped_before_its_first_query_tries_a_new_one():
    # As when a worker starts while the server restarts or its backend is terminated: the
    # table check must not call the database unreachable for a connection lost once.
    connection.ensure_connection()
    connection.connection.close()  # under Django: its next query meets a dead connection
    require_migrated()
    assert connection.is_usable()


def test_the_worker_logs_why_a_run_failed(caplog):
    eid = start_workflow("failing")
    with caplog.at_level(logging.DEBUG, logger="django_durable"):
        run_burst()
    failed = [r for r in caplog.records if "failed:" in r.getMessage()]
    assert failed and failed[0].levelno == logging.WARNING
    assert f"execution {eid} of failing failed: builtins.ValueError: boom on purpose" in (
        failed[0].getMessage()
    )
    assert any("Traceback" in r.getMessage() and r.levelno == logging.DEBUG for r in caplog.records)


def test_a_burst_worker_says_which_timers_it_left_due_later(caplog):
    start_workflow("sleepy", seconds=3600)
    with caplog.at_level(logging.INFO, logger="django_durable"):
        run_burst()
    assert any("1 timer(s) are due later, the next at " in r.getMessage() for r in caplog.records)


def test_status_shows_signals_nobody_received_and_a_cancel_without_a_reason():
    eid = start_workflow("sleepy", seconds=3600)
    run_burst()
    signal_workflow(eid, "approve", True)
    cancel_workflow(eid)
    out, _ = call("durable_status", eid)
    assert "error:     canceled\n" in out + "\n"
    assert "signal:    approve sent " in out
    assert "not received (the execution has ended: nothing will receive it)" in out
    assert "created:   " in out and " UTC" in out


@pytest.mark.parametrize(
    "name", sorted(n for n, app in get_commands().items() if app == "django_durable")
)
def test_every_argument_of_every_command_has_help(name):
    parser = load_command_class("django_durable", name).create_parser("manage.py", name)
    for action in parser._actions:
        assert action.help, f"{name}: {action.dest} has no help"
    assert "TIMEOUT" not in parser.format_help()  # metavars say what the value is


def test_status_points_at_executions_no_worker_of_this_code_can_run():
    from django_durable import store
    from django_durable.serialization import dumps

    eid, _ = store.create_execution("ghost", dumps({}))
    run_burst()  # hands it back
    out, _ = call("durable_status")
    line = next(line for line in out.splitlines() if line.startswith(eid))
    assert "queued, but this code has no workflow 'ghost'" in line


def test_an_unknown_workflow_points_at_installed_apps():
    with pytest.raises(CommandError, match=r"is that app in INSTALLED_APPS\?\)$"):
        call("durable_start", "onboard_usr")


def test_a_worker_id_reads_host_and_pid_first():
    import socket

    from django_durable.identity import new_owner_id, pid_of

    owner = new_owner_id()
    host, pid, _rest = owner.split(":", 2)
    assert (host, int(pid)) == (socket.gethostname().replace(":", "").replace("@", ""), os.getpid())
    assert pid_of(owner) == os.getpid()


def test_the_shipped_migrations_describe_the_models():
    # A model change without its migration would reach users as "Your models have changes
    # that are not yet reflected in a migration" on their first migrate.
    out = StringIO()
    call_command("makemigrations", "django_durable", check=True, dry_run=True, stdout=out)
    assert "No changes detected" in out.getvalue()
