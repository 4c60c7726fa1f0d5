"""durable_inspect: one step in full, the pre-deploy replay of every unfinished execution,
and a replay under pdb driven through its standard input."""

import datetime as dt
import os
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from django_durable import start_workflow, step_calls
from django_durable.models import Status, StepResult, WorkflowExecution
from tests.conftest import MANAGE, manage, run_burst, status_of

pytestmark = pytest.mark.django_db(transaction=True)


def call(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_inspect_step_shows_arguments_result_attempts_and_timings():
    eid = start_workflow("steps", n=2)
    run_burst()
    out = call("durable_inspect", eid, "--step", "s1")
    assert "step:      s1 (effect)" in out
    assert f"arguments: '{eid}', 's1', 0.0" in out
    assert "attempts:  1" in out
    assert 'result:\n"s1"' in out


@pytest.mark.parametrize(
    "value",
    [
        0,
        -(10**38) + 1,
        10**38 - 1,
        10**38,  # 39 digits: the plain repr still fits
        -(10**39),  # 41 characters: cut
        10**60,
        True,
        None,
        1.5e300,
        "",
        "x" * 78,
        "x" * 79,  # its repr is 81 characters: cut
        "\n" * 40,  # short, but its repr is not
        "é" * 78,
        "x" * 500,
        [1, "two", 3.0],
    ],
)
def test_the_arguments_summary_is_reprlibs_cut_for_every_value(value):
    # The summary skips reprlib for short ints and strs; it must say what reprlib says.
    expected = step_calls._SUMMARY.repr(value)
    assert step_calls.summarize_arguments((value,), {}) == expected
    assert step_calls.summarize_arguments((), {"k": value}) == f"k={expected}"


def test_inspect_step_of_a_failed_step_prints_its_traceback():
    eid = start_workflow("fails_first_time")
    run_burst()
    out = call("durable_inspect", eid, "--step", "second")
    assert "error:     builtins.RuntimeError: fails the first time" in out
    assert "Traceback (most recent call last)" in out
    with pytest.raises(CommandError, match=r"has no recorded step 'nope'; its steps are: first"):
        call("durable_inspect", eid, "--step", "nope")


def test_replay_all_passes_unchanged_code_and_fails_an_edited_workflow():
    edited = start_workflow("evolving")
    other = start_workflow("sleepy", seconds=3600)
    done = start_workflow("add", a=1, b=2)
    run_burst()
    assert status_of(edited) == status_of(other) == Status.SLEEPING
    assert status_of(done) == Status.COMPLETED
    before = StepResult.objects.count()

    unchanged = manage("durable_inspect", "--replay", "--all")
    assert unchanged.returncode == 0, unchanged.stderr
    assert f"ok        {edited}: 1 step(s) match; next: ctx.sleep:1" in unchanged.stdout
    assert "2 unfinished execution(s) replay cleanly" in unchanged.stdout
    assert done not in unchanged.stdout  # finished executions are not replayed

    deploy = {"DURABLE_TEST_EVOLVING": "v2"}
    changed = manage("durable_inspect", "--replay", "--all", env=deploy)
    assert changed.returncode == 1
    assert f"DIVERGED  {edited}: non-determinism" in changed.stdout
    assert f"ok        {other}" in changed.stdout
    assert changed.stderr.strip().splitlines() == [
        "CommandError: 1 of 2 unfinished execution(s) diverge from the code"
    ]
    only_sleepy = manage("durable_inspect", "--replay", "--all", "--workflow", "sleepy", env=deploy)
    assert only_sleepy.returncode == 0
    assert StepResult.objects.count() == before  # a replay writes nothing


def test_replay_all_refuses_an_id_and_needs_replay():
    with pytest.raises(CommandError, match=r"takes --replay --all, without an ID"):
        call("durable_inspect", "--all")
    with pytest.raises(CommandError, match=r"takes --replay --all, without an ID"):
        call("durable_inspect", "x", "--replay", "--all")


def test_debug_replays_under_pdb_serving_recorded_results_and_writing_nothing():
    eid = start_workflow("sleepy", seconds=3600)
    run_burst()
    recorded_now = StepResult.objects.get(execution_id=eid, step_id="ctx.now:1").decoded_result
    rows_before = StepResult.objects.count()
    env = dict(os.environ, DURABLE_USE_TEST_DB=connection.settings_dict["NAME"])
    result = subprocess.run(
        [sys.executable, str(MANAGE), "durable_inspect", eid, "--debug"],
        input="n\np before.isoformat()\nc\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "(Pdb)" in result.stdout
    assert "before = ctx.now()" in result.stdout  # stopped inside the workflow function
    assert repr(recorded_now.isoformat()) in result.stdout  # the recorded value, served
    assert "replay ended: waiting: timer ctx.sleep:1" in result.stdout
    assert StepResult.objects.count() == rows_before
    assert WorkflowExecution.objects.get(pk=eid).status == Status.SLEEPING
    assert isinstance(recorded_now, dt.datetime)


@pytest.mark.skipif(
    not connection.features.supports_covering_indexes, reason="indexes carry no columns here"
)
def test_the_workflow_index_carries_what_a_listing_by_workflow_reads():
    # So that PostgreSQL lists a workflow's newest by an index-only scan of it, without
    # reading other workflows' newer rows (migration 0007; measured by W8).
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'durable_exec_workflow'")
        (definition,) = cursor.fetchone()
    assert "(workflow_name, created_at) INCLUDE (id, status, lease_owner)" in definition


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pattern indexes: PostgreSQL's")
def test_only_the_primary_key_keeps_a_pattern_index_on_postgresql():
    # Every execution written pays for each index of the table: the LIKE indexes Django adds
    # to indexed text columns are kept only where the engine asks for a prefix (migration
    # 0008; measured by W2).
    table = WorkflowExecution._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = %s AND indexdef LIKE %s",
            [table, "%varchar_pattern_ops%"],
        )
        (definition,) = [row[0] for row in cursor.fetchall()]
    assert "(id varchar_pattern_ops)" in definition
