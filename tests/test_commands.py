"""The management commands: output formats and one-line errors for every user mistake."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from django_durable import get_workflow, start_workflow
from django_durable.models import Signal, WorkflowExecution
from tests.conftest import manage, run_burst

pytestmark = pytest.mark.django_db(transaction=True)


def call(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_start_prints_the_id_as_the_last_line_and_id_makes_it_idempotent():
    out = call("durable_start", "onboard_user", "--input", '{"user_id": 7}')
    execution_id = out.strip().splitlines()[-1]
    assert WorkflowExecution.objects.get(pk=execution_id).workflow_name == "onboard_user"
    assert call("durable_start", "add", "--input", '{"a": 1, "b": 2}', "--id", "X").strip() == "X"
    assert call("durable_start", "add", "--input", '{"a": 1, "b": 2}', "--id", "X").strip() == "X"
    assert WorkflowExecution.objects.filter(pk="X").count() == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["durable_start", "nope"], "unknown workflow 'nope'"),
        (["durable_start", "add", "--input", "{bad"], "--input is not valid JSON"),
        (["durable_start", "add", "--input", "[1, 2]"], "must be a JSON object"),
        (["durable_start", "add", "--input", '{"a": 1}'], "wrong inputs for workflow 'add'"),
        (["durable_signal", "missing", "go"], "no workflow execution with id 'missing'"),
        (["durable_signal", "missing", "go", "--input", "{"], "--input is not valid JSON"),
        (["durable_status", "missing"], "no workflow execution with id 'missing'"),
        (["durable_cancel", "missing"], "no workflow execution with id 'missing'"),
        (["durable_inspect", "missing"], "no workflow execution with id 'missing'"),
        (["durable_worker", "--threads", "0"], "--threads must be at least 1"),
    ],
)
def test_user_mistakes_are_one_line_command_errors_and_write_nothing(args, message):
    with pytest.raises(CommandError, match=message) as info:
        call(*args)
    assert "\n" not in str(info.value)
    assert WorkflowExecution.objects.count() == 0
    assert Signal.objects.count() == 0


def test_a_mistake_exits_non_zero_with_one_line_and_no_traceback():
    result = manage("durable_start", "add", "--input", "not json")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert "--input is not valid JSON" in result.stderr


def test_start_wait_prints_the_result_as_json_once_a_worker_finished_it(workers):
    workers.start(threads=2)
    result = manage(
        "durable_start",
        "onboard_user",
        "--input",
        '{"user_id": 1}',
        "--id",
        "w1",
        "--wait",
        "--timeout",
        "3",
    )
    # onboard_user sleeps an hour: --wait times out with one line.
    assert result.returncode != 0 and "did not finish within 3 s" in result.stderr
    result = manage("durable_start", "add", "--input", '{"a": 2, "b": 3}', "--wait")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert json.loads(lines[-1]) == 5
    assert WorkflowExecution.objects.filter(pk=lines[0]).exists()


def test_signal_status_cancel_and_inspect():
    eid = start_workflow("approval")
    run_burst()
    assert "signal 'approve' sent" in call("durable_signal", eid, "approve", "--input", '"yes"')
    run_burst()
    data = json.loads(call("durable_status", eid, "--json"))
    assert {"id", "workflow", "status", "input", "result", "error"} <= set(data)
    assert data["status"] == "COMPLETED" and data["result"] == {"decision": "yes"}

    other = start_workflow("onboard_user", user_id=3)
    run_burst()
    table = call("durable_status")
    # NOW says what each execution is doing, not the last step it finished.
    line = next(line for line in table.splitlines() if line.startswith(other))
    assert table.splitlines()[0].split()[-1] == "NOW"
    assert "ctx.sleep until " in line and "send_email" not in line
    assert "SLEEPING" in call("durable_status", other)
    inspected = json.loads(call("durable_inspect", other, "--json"))
    assert [s["step_id"] for s in inspected["steps"]] == ["send_email:1"]
    assert inspected["timers"][0]["kind"] == "SLEEP"
    assert "send_email:1" in call("durable_inspect", other)
    assert "canceled" in call("durable_cancel", other, "--reason", "test")
    assert get_workflow(other).status == "CANCELED"
    with pytest.raises(CommandError, match="already ended"):
        call("durable_cancel", other)


def test_inspect_replay_reports_the_next_step_and_writes_nothing():
    eid = start_workflow("onboard_user", user_id=3)
    run_burst()
    before = list(WorkflowExecution.objects.values_list("status", "updated_at"))
    report = json.loads(call("durable_inspect", eid, "--json", "--replay"))["replay"]
    assert report["verdict"] == "waiting"
    assert report["next_step"]["step_id"] == "ctx.sleep:1"
    assert list(WorkflowExecution.objects.values_list("status", "updated_at")) == before


def test_inspect_replay_fails_when_code_and_record_diverge():
    eid = start_workflow("explicit_ids", variant="same")
    run_burst()
    assert get_workflow(eid).status == "COMPLETED"
    # Rewrite the record as if an older version of the code had run: the step under
    # "shared" was another function.
    from django_durable.models import StepResult

    StepResult.objects.filter(execution_id=eid, step_id="shared").update(name="old_first")
    with pytest.raises(CommandError, match="diverge"):
        call("durable_inspect", eid, "--replay")
    StepResult.objects.filter(execution_id=eid, step_id="shared").update(name="first")
    StepResult.objects.create(
        execution_id=eid,
        step_id="removed:1",
        name="removed",
        status="COMPLETED",
        started_at=WorkflowExecution.objects.get().created_at,
        finished_at=WorkflowExecution.objects.get().created_at,
    )
    with pytest.raises(CommandError, match="no longer reaches: removed:1"):
        call("durable_inspect", eid, "--replay")


def test_replay_of_a_finished_execution_that_would_run_an_unrecorded_step_diverges():
    eid = start_workflow("steps", n=2)
    run_burst()
    from django_durable.models import StepResult

    StepResult.objects.filter(execution_id=eid, step_id="s1").delete()
    with pytest.raises(CommandError, match="would now run step 's1'"):
        call("durable_inspect", eid, "--replay")


def test_an_input_named_like_an_api_keyword_reaches_the_workflow():
    from django_durable.registry import register

    @register.workflow(name="takes_workflow_id")
    def takes_workflow_id(ctx, workflow_id: int):
        return workflow_id

    try:
        out = call("durable_start", "takes_workflow_id", "--input", '{"workflow_id": 5}')
        execution_id = out.strip().splitlines()[-1]
        run_burst()
        assert get_workflow(execution_id).result == 5
    finally:
        register.workflows.pop("takes_workflow_id")
