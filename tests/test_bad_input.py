"""Bad input, one row each: what it must raise or store, and that nothing is left half-written.

Every row of ``ROWS`` states the exact error class (or the final status and stored error type)
and a pattern its message must match. After each row the test compares the number of
``WorkflowExecution``, ``StepResult``, ``Timer`` and ``Signal`` rows with what the row says it
may add, and checks that no execution is left ``PENDING`` or ``RUNNING``: every bad input either
is refused before anything is written or ends its execution (or suspends it, where that is
the documented outcome).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from io import StringIO
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.test import override_settings

from django_durable import (
    cancel_workflow,
    fork_workflow,
    get_event,
    get_workflow,
    prune_workflows,
    retry_workflow,
    run_workflow,
    signal_workflow,
    start_workflow,
    store,
    wait_workflow,
)
from django_durable.exceptions import (
    ExecutionConflict,
    ExecutionExists,
    ExecutionFinished,
    ExecutionNotFound,
    InvalidInput,
    NotRetryable,
    PayloadTooLarge,
    SerializationError,
    StepNotRecorded,
    UnknownActivity,
    UnknownQueue,
    UnknownWorkflow,
    WaitTimeout,
    WorkflowFailed,
)
from django_durable.inspection import list_workflows
from django_durable.models import (
    RunOutcome,
    Signal,
    Status,
    StepResult,
    Timer,
    WorkflowExecution,
    WorkflowRun,
)
from django_durable.registry import Registry, register
from django_durable.serialization import dumps
from django_durable.tasks import InvalidTask, TaskResultDoesNotExist
from django_durable.testing import override_activity, run_until_idle
from tests.conftest import manage, run_burst
from tests.testapp import durable_activities, durable_workflows
from tests.testapp import tasks as testapp_tasks
from tests.testapp.models import SideEffect

pytestmark = pytest.mark.django_db(transaction=True)

MODELS = (WorkflowExecution, StepResult, Timer, Signal)
LIMIT = 1000  # a DURABLE_MAX_PAYLOAD_BYTES small enough to reach in a test
E = "django_durable.exceptions."


@dataclass
class Row:
    """One bad input.

    ``act(state)`` does the bad thing (``state`` is what ``setup()`` returned). With ``error``,
    ``act`` must raise exactly that class with a message matching ``match``. With ``status``,
    ``act`` returns an execution id that must have ended (or suspended) in that status, with
    ``error_type`` stored and its stored message matching ``match``. ``adds`` is how many rows
    of each of ``MODELS`` the row may create, counted after ``setup``.
    """

    id: str
    act: Callable[[Any], Any]
    error: type[BaseException] | None = None
    match: str = ""
    status: str | None = None
    error_type: str = ""
    adds: tuple[int, int, int, int] = (0, 0, 0, 0)
    setup: Callable[[], Any] | None = None
    check: Callable[[Any, Any], None] | None = None
    tags: set = field(default_factory=set)


def call(*args):
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def flow(name, /, **inputs):
    """An ``act`` that starts a workflow, runs a burst worker and returns the execution id."""

    def act(_state):
        eid = start_workflow(name, **inputs)
        run_burst()
        return eid

    return act


def limited(act):
    """Run ``act`` with DURABLE_MAX_PAYLOAD_BYTES lowered to ``LIMIT``."""

    def wrapped(state):
        with override_settings(DURABLE_MAX_PAYLOAD_BYTES=LIMIT):
            return act(state)

    return wrapped


def _run_task(task):
    result = task.enqueue()
    run_burst()
    return result.id


def queue_checks(setting):
    """Run the system checks with ``DURABLE_QUEUES = setting``; raise the first error."""
    from django_durable.checks import check_queues

    with override_settings(DURABLE_QUEUES=setting):
        errors = check_queues()
    if errors:
        raise ValueError(errors[0].msg)


def finished():
    """A COMPLETED execution ``done`` of ``add``."""
    eid = start_workflow("add", workflow_id="done", a=1, b=2)
    run_burst()
    assert get_workflow(eid).status == Status.COMPLETED
    return eid


def sleeping():
    """A SLEEPING execution ``nap`` of ``sleepy`` (one ``ctx.now`` step, one timer)."""
    eid = start_workflow("sleepy", workflow_id="nap", seconds=3600)
    run_burst()
    assert get_workflow(eid).status == Status.SLEEPING
    return eid


def unknown_then_deployed():
    """An execution of "ghost", run by a worker without it, then by one that has it."""
    eid, _ = store.create_execution("ghost", dumps({}))
    run_burst()
    row = WorkflowExecution.objects.get(pk=eid)
    assert (row.status, row.error_type) == (Status.PENDING, "")
    handed_back = WorkflowRun.objects.get(execution_id=eid)
    assert handed_back.outcome == RunOutcome.HANDED_BACK
    assert "has no workflow 'ghost'" in handed_back.detail
    register.workflow(name="ghost")(lambda ctx: "here now")
    try:
        run_burst()
    finally:
        del register.workflows["ghost"]
    return eid


def canceled_ghost():
    """A CANCELED execution of "ghost", a workflow this code does not have."""
    eid, _ = store.create_execution("ghost", dumps({}))
    cancel_workflow(eid)
    return eid


def stored(name, inputs_bytes):
    """An ``act`` that writes an execution row directly (as old code or a bad hand would)."""

    def act(_state):
        eid, _ = store.create_execution(name, inputs_bytes)
        run_burst()
        return eid

    return act


def ctx_row(case, error_type, match, **extra):
    return Row(
        f"ctx-{case}",
        flow("bad_ctx_call", case=case),
        status=Status.FAILED,
        error_type=error_type,
        match=match,
        adds=(1, 0, 0, 0),
        **extra,
    )


def _register_duplicate(_state):
    def add(ctx, a, b):  # same name as tests.testapp.durable_workflows.add
        return a + b

    register.workflow()(add)


def _registry_unchanged(_state, _result):
    assert register.get_workflow("add").fn.__module__ == "tests.testapp.durable_workflows"


def _two_registries(_state):
    reg = Registry()
    reg.workflow(name="dup")(durable_workflows.add)
    reg.workflow(name="dup")(durable_activities.send_email)


def _idempotent_start_same_name(state):
    return start_workflow("add", workflow_id=state, a=100, b=200)


def _input_unchanged(state, result):
    assert result == state
    assert get_workflow(state).input == {"a": 1, "b": 2}


def _worker_survives(kind):
    def act(_state):
        eid = start_workflow("interrupted_step", kind=kind)
        after = start_workflow("add", a=2, b=3)
        run_burst(threads=1)  # one thread: the second execution needs it to survive
        assert get_workflow(after).status == Status.COMPLETED
        assert get_workflow(after).result == 5
        return eid

    return act


def _step_failed_with(error_type):
    def check(_state, eid):
        step = StepResult.objects.get(execution_id=eid)
        assert step.status == "FAILED" and step.error_type == error_type

    return check


def _time_sleep(_state):
    started = time.monotonic()
    eid = flow("blocks_with_time_sleep", seconds=0.3)(None)
    assert time.monotonic() - started >= 0.3
    return eid


def _rename_lambda_between_runs(explicit):
    def act(_state):
        eid = start_workflow("renamed_lambda", explicit=explicit)
        run_burst()
        assert get_workflow(eid).status == Status.SLEEPING
        # The code changes while it sleeps: the lambda's step now has another name.
        durable_workflows.LAMBDA_STEP_NAME["name"] = "pick_v2"
        try:
            Timer.objects.filter(execution_id=eid).update(due_at=Timer.objects.get().created_at)
            run_burst()
        finally:
            durable_workflows.LAMBDA_STEP_NAME["name"] = "<lambda>"
        return eid

    return act


def _derived_rename_is_reported_by_replay(_state, eid):
    assert list(StepResult.objects.filter(execution_id=eid).values_list("step_id", flat=True)) == [
        "<lambda>:1",
        "ctx.sleep:1",
        "pick_v2:1",
    ]
    durable_workflows.LAMBDA_STEP_NAME["name"] = "pick_v2"
    try:
        with pytest.raises(CommandError, match="no longer reaches: <lambda>:1"):
            call("durable_inspect", eid, "--replay")
    finally:
        durable_workflows.LAMBDA_STEP_NAME["name"] = "<lambda>"


def _no_side_effect(_state, eid):
    assert not SideEffect.objects.filter(execution_id=eid).exists()


def _no_step_recorded(_state, eid):
    assert not StepResult.objects.filter(execution_id=eid).exists()


def _traceback_is_bounded(_state, eid):
    trace = WorkflowExecution.objects.get(pk=eid).error_traceback
    assert "RecursionError" in trace and "Previous line repeated" in trace


NESTED = "[" * 50_000 + "]" * 50_000
LONG = "x" * 256

ROWS = [
    # --- the CLI (call_command) --------------------------------------------------------------
    Row(
        "cli-start-unknown-workflow",
        lambda s: call("durable_start", "nope"),
        CommandError,
        r"^unknown workflow 'nope'",
    ),
    Row(
        "cli-start-malformed-json",
        lambda s: call("durable_start", "add", "--input", "{bad"),
        CommandError,
        r"^--input is not valid JSON: Expecting property name",
    ),
    Row(
        "cli-start-json-not-an-object",
        lambda s: call("durable_start", "add", "--input", '"a"'),
        CommandError,
        r"must be a JSON object of keyword arguments.*not a JSON str$",
    ),
    Row(
        "cli-start-json-array",
        lambda s: call("durable_start", "add", "--input", "[1, 2]"),
        CommandError,
        r"must be a JSON object.*not a JSON list$",
    ),
    Row(
        "cli-start-json-nested-too-deep",
        lambda s: call("durable_start", "add", "--input", NESTED),
        CommandError,
        r"^--input is nested too deeply",
    ),
    Row(
        "cli-start-unexpected-keyword",
        lambda s: call("durable_start", "add", "--input", '{"a": 1, "b": 2, "c": 3}'),
        CommandError,
        r"wrong inputs for workflow 'add'.*unexpected keyword argument 'c'",
    ),
    Row(
        "cli-start-missing-keyword",
        lambda s: call("durable_start", "add", "--input", '{"a": 1}'),
        CommandError,
        r"wrong inputs for workflow 'add'.*missing a required argument: 'b'",
    ),
    Row(
        "cli-start-input-named-ctx",
        lambda s: call("durable_start", "add", "--input", '{"ctx": 0, "a": 1, "b": 2}'),
        CommandError,
        r"wrong inputs for workflow 'add'.*multiple values for argument 'ctx'",
    ),
    Row(
        "cli-start-integer-too-large",
        lambda s: call("durable_start", "add", "--input", '{"a": 1' + "0" * 30 + ', "b": 1}'),
        CommandError,
        r"cannot store the input of workflow 'add': Integer value out of range",
    ),
    Row(
        "cli-start-lone-surrogate",
        lambda s: call("durable_start", "add", "--input", '{"a": "\\ud800", "b": "x"}'),
        CommandError,
        r"cannot store the input of workflow 'add'.*surrogates not allowed",
    ),
    Row(
        "cli-start-payload-too-large",
        limited(
            lambda s: call(
                "durable_start", "add", "--input", '{"a": "' + "x" * LIMIT + '", "b": ""}'
            )
        ),
        CommandError,
        r"over the DURABLE_MAX_PAYLOAD_BYTES limit of 1,000",
    ),
    Row(
        "cli-start-empty-id",
        lambda s: call("durable_start", "add", "--id", "", "--input", '{"a": 1, "b": 2}'),
        CommandError,
        r"^an execution id must be a non-empty string of at most 255 characters$",
    ),
    Row(
        "cli-start-id-over-255",
        lambda s: call("durable_start", "add", "--id", LONG, "--input", '{"a": 1, "b": 2}'),
        CommandError,
        r"^an execution id must be a non-empty string of at most 255",
    ),
    Row(
        "cli-start-id-of-another-workflow",
        lambda s: call("durable_start", "steps", "--id", s, "--input", '{"n": 1}'),
        CommandError,
        r"^execution id 'done' already belongs to workflow 'add'; choose another",
        setup=finished,
    ),
    Row(
        "cli-signal-unknown-execution",
        lambda s: call("durable_signal", "missing", "go"),
        CommandError,
        r"^no workflow execution with id 'missing'$",
    ),
    Row(
        "cli-signal-empty-name",
        lambda s: call("durable_signal", s, ""),
        CommandError,
        r"^a signal name must be a non-empty string",
        setup=sleeping,
    ),
    Row(
        "cli-signal-name-over-200",
        lambda s: call("durable_signal", s, "n" * 201),
        CommandError,
        r"^a signal name must be a non-empty string of at most 200",
        setup=sleeping,
    ),
    Row(
        "cli-signal-malformed-json",
        lambda s: call("durable_signal", s, "go", "--input", "{"),
        CommandError,
        r"^--input is not valid JSON",
        setup=sleeping,
    ),
    Row(
        "cli-signal-finished-execution",
        lambda s: call("durable_signal", s, "go"),
        CommandError,
        r"^cannot signal execution 'done': it has already ended \(COMPLETED\)$",
        setup=finished,
    ),
    Row(
        "cli-cancel-finished-execution",
        lambda s: call("durable_cancel", s),
        CommandError,
        r"^cannot cancel execution 'done': it has already ended \(COMPLETED\)$",
        setup=finished,
    ),
    Row(
        "cli-cancel-unknown-execution",
        lambda s: call("durable_cancel", "missing"),
        CommandError,
        r"^no workflow execution with id 'missing'$",
    ),
    Row(
        "cli-status-unknown-execution",
        lambda s: call("durable_status", "missing", "--json"),
        CommandError,
        r"^no workflow execution with id 'missing'$",
    ),
    Row(
        "cli-status-bad-status-filter",
        lambda s: call("durable_status", "--status", "BOGUS"),
        CommandError,
        r"argument --status: invalid choice: 'BOGUS'",
    ),
    Row(
        "cli-inspect-unknown-execution",
        lambda s: call("durable_inspect", "missing"),
        CommandError,
        r"^no workflow execution with id 'missing'$",
    ),
    Row(
        "cli-inspect-replay-of-unregistered-workflow",
        lambda s: call("durable_inspect", s, "--replay"),
        CommandError,
        r"^unknown workflow 'ghost'",
        setup=canceled_ghost,
    ),
    Row(
        "cli-worker-zero-threads",
        lambda s: call("durable_worker", "--threads", "0"),
        CommandError,
        r"^--threads must be at least 1$",
    ),
    # --- the Python API ----------------------------------------------------------------------
    Row(
        "api-start-unknown-workflow",
        lambda s: start_workflow("nope"),
        UnknownWorkflow,
        r"^unknown workflow 'nope'",
    ),
    Row(
        "api-start-wrong-keyword",
        lambda s: start_workflow("add", a=1, c=2),
        InvalidInput,
        r"wrong inputs for workflow 'add'",
    ),
    Row(
        "api-start-unserializable-input",
        lambda s: start_workflow("add", a={1}, b=2),
        SerializationError,
        r"input of workflow 'add'.*builtins\.set are not supported",
    ),
    Row(
        "api-start-payload-too-large",
        limited(lambda s: start_workflow("add", a=b"x" * LIMIT, b=0)),
        PayloadTooLarge,
        r"input of workflow 'add': it is 1,0\d\d bytes serialized, over the",
    ),
    Row(
        "api-start-id-of-another-workflow",
        lambda s: start_workflow("steps", workflow_id=s, n=1),
        ExecutionConflict,
        r"^execution id 'done' already belongs to workflow 'add'; choose another id to start "
        r"'steps'$",
        setup=finished,
    ),
    Row(
        "api-start-same-id-same-workflow-is-idempotent",
        _idempotent_start_same_name,
        setup=finished,
        check=_input_unchanged,
    ),
    Row(
        "api-start-id-over-255",
        lambda s: start_workflow("add", workflow_id=LONG, a=1, b=2),
        InvalidInput,
        r"at most 255 characters",
    ),
    Row(
        "api-start-id-blank",
        lambda s: start_workflow("add", workflow_id="  ", a=1, b=2),
        InvalidInput,
        r"non-empty string",
    ),
    Row(
        "api-start-id-not-a-string",
        lambda s: start_workflow("add", workflow_id=7, a=1, b=2),
        InvalidInput,
        r"non-empty string",
    ),
    Row(
        "api-start-id-with-nul",
        lambda s: start_workflow("add", workflow_id="a\x00b", a=1, b=2),
        InvalidInput,
        r"must not contain NUL",
    ),
    Row(
        "api-signal-finished-execution",
        lambda s: signal_workflow(s, "go", 1),
        ExecutionFinished,
        r"^cannot signal execution 'done'",
        setup=finished,
    ),
    Row(
        "api-signal-empty-name",
        lambda s: signal_workflow(s, ""),
        InvalidInput,
        r"non-empty string",
        setup=sleeping,
    ),
    Row(
        "api-signal-blank-name",
        lambda s: signal_workflow(s, "   "),
        InvalidInput,
        r"non-empty string",
        setup=sleeping,
    ),
    Row(
        "api-signal-name-over-200",
        lambda s: signal_workflow(s, "n" * 201),
        InvalidInput,
        r"at most 200 characters",
        setup=sleeping,
    ),
    Row(
        "api-signal-name-with-nul",
        lambda s: signal_workflow(s, "a\x00b"),
        InvalidInput,
        r"must not contain NUL",
        setup=sleeping,
    ),
    Row(
        "api-signal-unserializable-payload",
        lambda s: signal_workflow(s, "go", object()),
        SerializationError,
        r"payload of signal 'go'.*builtins\.object",
        setup=sleeping,
    ),
    Row(
        "api-signal-payload-too-large",
        limited(lambda s: signal_workflow(s, "go", "x" * LIMIT)),
        PayloadTooLarge,
        r"payload of signal 'go'.*DURABLE_MAX_PAYLOAD_BYTES",
        setup=sleeping,
    ),
    Row(
        "api-signal-unknown-execution",
        lambda s: signal_workflow("missing", "go"),
        ExecutionNotFound,
        r"^no workflow execution with id 'missing'$",
    ),
    Row(
        "api-cancel-finished-execution",
        lambda s: cancel_workflow(s),
        ExecutionFinished,
        r"^cannot cancel execution 'done': it has already ended \(COMPLETED\)$",
        setup=finished,
    ),
    Row(
        "api-cancel-canceled-execution",
        lambda s: cancel_workflow(s),
        ExecutionFinished,
        r"already ended \(CANCELED\)$",
        setup=lambda: (sleeping(), cancel_workflow("nap"))[0],
    ),
    Row(
        "api-cancel-unknown-execution",
        lambda s: cancel_workflow("missing"),
        ExecutionNotFound,
        r"'missing'",
    ),
    Row(
        "api-get-unknown-execution",
        lambda s: get_workflow("missing"),
        ExecutionNotFound,
        r"'missing'",
    ),
    Row(
        "api-wait-unknown-execution",
        lambda s: wait_workflow("missing", timeout=1),
        ExecutionNotFound,
        r"'missing'",
    ),
    Row(
        "api-wait-times-out",
        lambda s: wait_workflow(s, timeout=0.1),
        WaitTimeout,
        r"^execution 'nap' did not finish within 0.1 s \(it is SLEEPING\)$",
        setup=sleeping,
    ),
    Row(
        "api-run-failing-workflow",
        lambda s: run_workflow("failing"),
        WorkflowFailed,
        r"ended FAILED: builtins.ValueError: boom on purpose",
        adds=(1, 1, 0, 0),
    ),
    Row(
        "registry-duplicate-name-in-the-project-registry",
        _register_duplicate,
        ImproperlyConfigured,
        r"two workflow registrations use the name 'add': tests.testapp.durable_workflows.add "
        r"and tests.test_bad_input._register_duplicate.<locals>.add",
        check=_registry_unchanged,
    ),
    Row(
        "registry-name-over-255",
        lambda s: register.workflow(name="w" * 256),
        ImproperlyConfigured,
        r"must be a non-empty string of at most 255 characters",
    ),
    Row(
        "registry-schedule-bad-cron",
        lambda s: register.workflow(name="nightly", schedule="0 25 * * *"),
        ImproperlyConfigured,
        r"^register.workflow\(schedule=...\): '0 25 \* \* \*' is not a valid cron expression: "
        r"Bad hour$",
    ),
    Row(
        "registry-schedule-of-a-workflow-with-inputs",
        lambda s: register.workflow(name="nightly", schedule="0 3 * * *")(lambda ctx, a, b: a),
        ImproperlyConfigured,
        r"is started with no inputs at each tick, but needs a, b: give them defaults$",
    ),
    Row(
        "registry-name-with-nul",
        lambda s: register.activity(name="a\x00b"),
        ImproperlyConfigured,
        r"without NUL characters",
    ),
    Row(
        "registry-duplicate-name-in-one-registry",
        _two_registries,
        ImproperlyConfigured,
        r"'dup': tests.testapp.durable_workflows.add and "
        r"tests.testapp.durable_activities.send_email",
    ),
    # --- workflow code: bad ctx arguments (refused before anything is written) ---------------
    ctx_row("sleep_text", "builtins.TypeError", r"ctx.sleep\(\) takes seconds .* not 'soon'"),
    ctx_row("sleep_negative", "builtins.ValueError", r"positive number of seconds, not -1"),
    ctx_row("sleep_nan", "builtins.ValueError", r"ctx.sleep\(\) needs a finite number"),
    ctx_row("sleep_infinite", "builtins.ValueError", r"ctx.sleep\(\) needs a finite number"),
    ctx_row("sleep_until_naive", "builtins.ValueError", r"needs an aware datetime"),
    ctx_row("sleep_until_text", "builtins.TypeError", r"takes a datetime, not str"),
    ctx_row("wait_signal_empty", "builtins.TypeError", r"needs a signal name"),
    ctx_row("wait_signal_none", "builtins.TypeError", r"needs a signal name"),
    ctx_row("wait_signal_bad_timeout", "builtins.TypeError", r"ctx.wait_signal\(\) takes"),
    ctx_row("wait_signal_long_name", "builtins.ValueError", r"at most 255 characters"),
    ctx_row("step_not_callable", "builtins.TypeError", r"needs a callable, not 'not callable'"),
    ctx_row("step_bad_retry", "builtins.TypeError", r"takes a RetryPolicy, not dict"),
    ctx_row("step_atomic_timeout", "builtins.ValueError", r"atomic=True\) cannot take a timeout"),
    ctx_row("step_negative_timeout", "builtins.ValueError", r"positive number of seconds"),
    ctx_row("step_empty_id", "builtins.TypeError", r"step_id must be a non-empty string"),
    ctx_row("step_int_id", "builtins.TypeError", r"step_id must be a non-empty string"),
    ctx_row("step_long_id", "builtins.ValueError", r"at most 255 characters"),
    ctx_row("step_nul_id", "builtins.ValueError", r"must not contain NUL characters"),
    ctx_row("wait_signal_nul_name", "builtins.ValueError", r"must not contain NUL characters"),
    ctx_row(
        "step_wrong_args",
        E + "InvalidInput",
        r"^wrong arguments for step '_one' \(step '_one:1'\): too many positional arguments$",
    ),
    ctx_row("activity_unknown", E + "UnknownActivity", r"unknown activity 'no_such_activity'"),
    ctx_row("set_event_empty_key", "builtins.TypeError", r"^ctx.set_event\(\) needs a key"),
    ctx_row("set_event_nul_key", "builtins.ValueError", r"must not contain NUL characters"),
    ctx_row(
        "set_event_unstorable",
        E + "SerializationError",
        r"the value of event 'progress' \(step 'ctx.set_event:progress:1'\).*object",
    ),
    ctx_row(
        "activity_wrong_kwargs",
        E + "InvalidInput",
        r"^wrong arguments for activity 'send_email' \(step 'send_email:1'\): missing a required "
        r"argument: 'user_id'$",
    ),
    # --- workflow code: what steps and workflows do ------------------------------------------
    Row(
        "lambda-renamed-under-explicit-id",
        _rename_lambda_between_runs(True),
        status=Status.FAILED,
        error_type=E + "NonDeterminismError",
        match=r"step id 'pick' is recorded for '<lambda>' but the code now calls 'pick_v2'",
        adds=(1, 2, 0, 0),
    ),
    Row(
        "lambda-renamed-under-derived-id",
        _rename_lambda_between_runs(False),
        status=Status.COMPLETED,
        adds=(1, 3, 0, 0),
        check=_derived_rename_is_reported_by_replay,
    ),
    Row(
        "step-returns-a-set",
        flow("step_returns", kind="set"),
        status=Status.FAILED,
        error_type=E + "StepFailed",
        match=r"step 'produce:1' failed after 1 attempt: django_durable.exceptions."
        r"SerializationError: cannot store the result of step 'produce:1': values of type "
        r"builtins.set are not supported",
        adds=(1, 1, 0, 0),
        check=_step_failed_with(E + "SerializationError"),
    ),
    Row(
        "step-returns-an-int-too-large",
        flow("step_returns", kind="huge_int"),
        status=Status.FAILED,
        error_type=E + "StepFailed",
        match=r"Integer value out of range",
        adds=(1, 1, 0, 0),
    ),
    Row(
        "step-returns-an-object",
        flow("step_returns", kind="object"),
        status=Status.FAILED,
        error_type=E + "StepFailed",
        match=r"values of type builtins.object are not supported",
        adds=(1, 1, 0, 0),
    ),
    Row(
        "activity-returns-a-set",
        flow("calls_activity", name="a_set"),
        status=Status.FAILED,
        error_type=E + "StepFailed",
        match=r"SerializationError: cannot store the result of step 'a_set:1'.*builtins.set",
        adds=(1, 1, 0, 0),
        check=_step_failed_with(E + "SerializationError"),
    ),
    Row(
        "step-result-over-payload-limit",
        limited(flow("step_returns", kind="blob", size=LIMIT)),
        status=Status.FAILED,
        error_type=E + "StepFailed",
        match=r"PayloadTooLarge: cannot store the result of step 'produce:1'",
        adds=(1, 1, 0, 0),
        check=_step_failed_with(E + "PayloadTooLarge"),
    ),
    Row(
        "workflow-result-over-payload-limit",
        limited(flow("returns_big", size=LIMIT)),
        status=Status.FAILED,
        error_type=E + "PayloadTooLarge",
        match=r"the result of workflow 'returns_big'",
        adds=(1, 0, 0, 0),
    ),
    Row(
        "workflow-is-a-generator",
        flow("generator_flow"),
        status=Status.FAILED,
        error_type=E + "SerializationError",
        match=r"builtins.generator are not supported",
        adds=(1, 0, 0, 0),
        check=_no_step_recorded,
    ),
    # time.sleep in workflow code is not durable: it just blocks that run's thread, then the
    # run goes on; no timer row is written and the execution is never suspended.
    Row("workflow-calls-time-sleep", _time_sleep, status=Status.COMPLETED, adds=(1, 1, 0, 0)),
    Row("bare-except-swallows-sleep", flow("swallows"), status=Status.SLEEPING, adds=(1, 0, 1, 0)),
    Row(
        "bare-except-swallows-wait-then-steps",
        flow("swallows_wait"),
        status=Status.WAITING,
        adds=(1, 0, 0, 0),
        check=_no_side_effect,
    ),
    Row(
        "except-baseexception-raises-another-error",
        flow("swallows_then_raises"),
        status=Status.SLEEPING,
        adds=(1, 0, 1, 0),
    ),
    Row(
        "activity-never-returns",
        flow("never_returns_flow"),
        status=Status.FAILED,
        error_type=E + "StepFailed",
        match=r"StepTimeout: step 'never_returns:1' did not finish within 0.3 s",
        adds=(1, 1, 0, 0),
        tags={"never_returns"},
    ),
    Row(
        "step-raises-keyboard-interrupt",
        _worker_survives("keyboard"),
        status=Status.FAILED,
        error_type=E + "StepFailed",
        match=r"builtins.KeyboardInterrupt: from a step",
        adds=(2, 2, 0, 0),
        check=_step_failed_with("builtins.KeyboardInterrupt"),
    ),
    Row(
        "step-raises-system-exit",
        _worker_survives("exit"),
        status=Status.FAILED,
        error_type=E + "StepFailed",
        match=r"builtins.SystemExit: from a step",
        adds=(2, 2, 0, 0),
        check=_step_failed_with("builtins.SystemExit"),
    ),
    Row(
        "workflow-raises-system-exit",
        flow("exits_in_body"),
        status=Status.FAILED,
        error_type="builtins.SystemExit",
        match=r"^3$",
        adds=(1, 0, 0, 0),
    ),
    Row(
        "workflow-recurses-forever",
        flow("recurses"),
        status=Status.FAILED,
        error_type="builtins.RecursionError",
        match=r"maximum recursion depth exceeded",
        adds=(1, 0, 0, 0),
        check=_traceback_is_bounded,
    ),
    Row(
        "step-recurses-forever",
        flow("recurses", in_step=True),
        status=Status.FAILED,
        error_type=E + "StepFailed",
        match=r"builtins.RecursionError: maximum recursion depth",
        adds=(1, 1, 0, 0),
        check=_step_failed_with("builtins.RecursionError"),
    ),
    Row(
        "workflow-error-message-with-nul",
        flow("raises_nul"),
        status=Status.FAILED,
        error_type="builtins.ValueError",
        match=r"^a NUL \\x00 in the message$",
        adds=(1, 0, 0, 0),
    ),
    Row(
        "stored-input-no-longer-matches-the-code",
        stored("add", dumps({"a": 1})),
        status=Status.FAILED,
        error_type="builtins.TypeError",
        match=r"missing 1 required positional argument: 'b'",
        adds=(1, 0, 0, 0),
    ),
    Row(
        "stored-input-is-not-a-mapping",
        stored("add", dumps([1, 2])),
        status=Status.FAILED,
        error_type="builtins.TypeError",
        match=r"must be a mapping",
        adds=(1, 0, 0, 0),
    ),
    Row(
        "stored-input-is-not-msgpack",
        stored("add", b"\xc1"),
        status=Status.FAILED,
        error_type=r"msgpack.exceptions.",
        adds=(1, 0, 0, 0),
    ),
    Row(
        # A worker without the code (an old one during a deploy, an app missing from
        # INSTALLED_APPS) leaves the execution runnable for one that has it.
        "stored-workflow-unknown-to-the-worker",
        lambda s: unknown_then_deployed(),
        status=Status.COMPLETED,
        adds=(1, 0, 0, 0),
    ),
    # --- repairs: retry, fork, prune -------------------------------------------------------
    Row(
        "api-retry-unknown-execution",
        lambda s: retry_workflow("missing"),
        ExecutionNotFound,
        r"^no workflow execution with id 'missing'$",
    ),
    Row(
        "api-retry-live-execution",
        lambda s: retry_workflow(s),
        NotRetryable,
        r"^cannot retry execution 'nap': it is SLEEPING \(it is still live",
        setup=sleeping,
    ),
    Row(
        "api-retry-completed-execution",
        lambda s: retry_workflow(s),
        NotRetryable,
        r"it is COMPLETED \(it completed; fork it to run it again from a step\)",
        setup=finished,
    ),
    Row(
        "api-fork-unknown-execution",
        lambda s: fork_workflow("missing", from_step="sum"),
        ExecutionNotFound,
        r"^no workflow execution with id 'missing'$",
    ),
    Row(
        "api-fork-step-not-in-the-record",
        lambda s: fork_workflow(s, from_step="nope"),
        StepNotRecorded,
        r"^execution 'done' has no recorded step 'nope'; its steps are: sum$",
        setup=finished,
    ),
    Row(
        "api-fork-empty-step",
        lambda s: fork_workflow(s, from_step=""),
        InvalidInput,
        r"^from_step must be the step id of a recorded step$",
        setup=finished,
    ),
    Row(
        "api-fork-bad-new-id",
        lambda s: fork_workflow(s, from_step="sum", workflow_id="a\x00b"),
        InvalidInput,
        r"must not contain NUL",
        setup=finished,
    ),
    Row(
        "api-fork-new-id-taken",
        lambda s: fork_workflow(s, from_step="sum", workflow_id="done"),
        ExecutionExists,
        r"^execution id 'done' is already taken by another execution; choose another id",
        setup=finished,
    ),
    Row(
        "api-prune-negative-age",
        lambda s: prune_workflows(older_than_days=-3),
        InvalidInput,
        r"^the age must be 0 days or more, not -3$",
        setup=finished,
    ),
    Row(
        "api-prune-live-status",
        lambda s: prune_workflows(older_than_days=0, statuses=["SLEEPING"]),
        InvalidInput,
        r"^cannot prune SLEEPING executions: only finished ones",
        setup=sleeping,
    ),
    Row(
        "cli-retry-unknown-execution",
        lambda s: call("durable_retry", "missing"),
        CommandError,
        r"^1 of 1 execution\(s\) could not be retried",
    ),
    Row(
        "cli-retry-no-ids",
        lambda s: call("durable_retry"),
        CommandError,
        r"^give the IDs of the executions to retry, or --all-failed$",
    ),
    Row(
        "cli-retry-workflow-without-all-failed",
        lambda s: call("durable_retry", "done", "--workflow", "add"),
        CommandError,
        r"^--workflow selects among --all-failed",
        setup=finished,
    ),
    Row(
        "cli-retry-all-failed-of-unknown-workflow",
        lambda s: call("durable_retry", "--all-failed", "--workflow", "nope"),
        CommandError,
        r"^unknown workflow 'nope'",
    ),
    Row(
        "cli-fork-step-not-in-the-record",
        lambda s: call("durable_fork", s, "--from-step", "nope"),
        CommandError,
        r"^execution 'done' has no recorded step 'nope'",
        setup=finished,
    ),
    Row(
        "cli-fork-without-from-step",
        lambda s: call("durable_fork", s),
        CommandError,
        r"the following arguments are required: --from-step",
        setup=finished,
    ),
    Row(
        "cli-prune-negative-age",
        lambda s: call("durable_prune", "--older-than", "-1"),
        CommandError,
        r"^the age must be 0 days or more, not -1$",
        setup=finished,
    ),
    Row(
        "cli-prune-age-not-a-number",
        lambda s: call("durable_prune", "--older-than", "a week"),
        CommandError,
        r"^--older-than takes a number of days, not 'a week'$",
        setup=finished,
    ),
    Row(
        "cli-prune-without-an-age",
        lambda s: call("durable_prune"),
        CommandError,
        r"^give --older-than DAYS \(or set DURABLE_RETENTION_DAYS",
        setup=finished,
    ),
    Row(
        "cli-status-limit-zero",
        lambda s: call("durable_status", "--limit", "0"),
        CommandError,
        r"^the limit must be a whole number of 1 or more, not 0$",
    ),
    Row(
        "api-list-negative-limit",
        lambda s: list_workflows(limit=-5),
        InvalidInput,
        r"^the limit must be a whole number of 1 or more, not -5$",
    ),
    Row(
        "harness-override-unknown-activity",
        lambda s: override_activity("nope", print).__enter__(),
        UnknownActivity,
        r"^unknown activity 'nope'",
    ),
    Row(
        "harness-zero-max-runs",
        lambda s: run_until_idle(max_runs=0),
        InvalidInput,
        r"^max_runs must be a whole number of 1 or more, not 0$",
    ),
    Row(
        "harness-until-not-a-time",
        lambda s: run_until_idle(until="tomorrow"),
        InvalidInput,
        r"^until takes a datetime or a timedelta, not 'tomorrow'$",
    ),
    Row(
        "api-get-event-unknown-execution",
        lambda s: get_event("missing", "progress"),
        ExecutionNotFound,
        r"^no workflow execution with id 'missing'$",
    ),
    Row(
        "api-get-event-long-key",
        lambda s: get_event(s, "k" * 201),
        InvalidInput,
        r"^an event key must be a non-empty string of at most 200 characters$",
        setup=finished,
    ),
    Row(
        "api-get-event-negative-timeout",
        lambda s: get_event(s, "progress", timeout=-1),
        ValueError,
        r"^get_event\(\) needs a positive number of seconds, not -1$",
        setup=finished,
    ),
    Row(
        "api-start-unknown-queue",
        lambda s: start_workflow("add", queue="nope", a=1, b=2),
        UnknownQueue,
        r"^unknown queue 'nope': declare it in the DURABLE_QUEUES setting \(known queues: "
        r"default, emails, limited, rated\)$",
    ),
    Row(
        "api-start-priority-not-a-number",
        lambda s: start_workflow("add", priority="high", a=1, b=2),
        TypeError,
        r"^priority must be a whole number, not str$",
    ),
    Row(
        "api-start-priority-out-of-range",
        lambda s: start_workflow("add", priority=2**40, a=1, b=2),
        ValueError,
        r"^priority must be between -2147483648 and 2147483647$",
    ),
    Row(
        "cli-start-unknown-queue",
        lambda s: call("durable_start", "add", "--queue", "nope", "--input", '{"a": 1, "b": 2}'),
        CommandError,
        r"^unknown queue 'nope': declare it in the DURABLE_QUEUES setting",
    ),
    Row(
        "cli-worker-unknown-queue",
        lambda s: call("durable_worker", "--burst", "--queue", "emails", "--queue", "nope"),
        CommandError,
        r"^unknown queue 'nope'",
    ),
    Row(
        "settings-queue-concurrency-zero",
        lambda s: queue_checks({"emails": {"concurrency": 0}}),
        ValueError,
        r"^DURABLE_QUEUES\['emails'\]\['concurrency'\] must be a whole number of at least 1, "
        r"not 0 \(leave it out for no limit\)$",
    ),
    Row(
        "settings-queue-rate-limit-zero",
        lambda s: queue_checks({"emails": {"rate_limit": (0, 60)}}),
        ValueError,
        r"^DURABLE_QUEUES\['emails'\]\['rate_limit'\] must be \(COUNT, SECONDS\)",
    ),
    Row(
        "settings-queue-unknown-option",
        lambda s: queue_checks({"emails": {"concurency": 5}}),
        ValueError,
        r"^DURABLE_QUEUES\['emails'\]: unknown option 'concurency'",
    ),
    Row(
        "ctx-child-of-an-unknown-workflow",
        flow("starts_unknown_child"),
        status=Status.FAILED,
        error_type=E + "UnknownWorkflow",
        match=r"^unknown workflow 'no_such_workflow'",
        adds=(1, 0, 0, 0),
    ),
    Row(
        "ctx-waiting-on-its-own-id",
        flow("waits_on_itself"),
        status=Status.FAILED,
        error_type="builtins.ValueError",
        match=r"^execution '[-0-9a-f]+' cannot wait for itself: it would never end$",
        adds=(1, 0, 0, 0),
    ),
    Row(
        "ctx-waiting-on-an-unknown-execution",
        flow("waits_on", execution_id="missing"),
        status=Status.FAILED,
        error_type=E + "ExecutionNotFound",
        match=r"^no workflow execution with id 'missing'$",
        adds=(1, 0, 0, 0),
    ),
    Row(
        "ctx-child-with-its-parents-id",
        flow("starts_child_as_itself"),
        status=Status.FAILED,
        error_type="builtins.ValueError",
        match=r"that is this execution's own id; a child needs an id of its own$",
        adds=(1, 0, 0, 0),
    ),
    Row(
        "ctx-child-id-taken-by-another-workflow",
        flow("starts_child", child_id="done"),
        status=Status.FAILED,
        error_type=E + "ExecutionConflict",
        match=r"'done'",
        adds=(1, 0, 0, 0),
        setup=finished,
    ),
    Row(
        "ctx-child-on-an-unknown-queue",
        flow("starts_child", child_queue="nope"),
        status=Status.FAILED,
        error_type=E + "UnknownQueue",
        match=r"^unknown queue 'nope'",
        adds=(1, 0, 0, 0),
    ),
    Row(
        "ctx-fan-out-of-non-dicts",
        flow("fans_out_badly"),
        status=Status.FAILED,
        error_type="builtins.TypeError",
        match=r"^ctx.start_workflows\(\) takes an iterable of dicts of inputs, "
        r"not one holding int$",
        adds=(1, 0, 0, 0),
    ),
    Row(
        "task-arguments-not-json",
        lambda s: testapp_tasks.add.enqueue(b"\xff", 1),
        SerializationError,
        r"^cannot enqueue task 'tests.testapp.tasks.add': its arguments must be JSON values",
    ),
    Row(
        "task-queue-not-served",
        lambda s: testapp_tasks.add.using(queue_name="rated").enqueue(1, 1),
        InvalidTask,
        r"^Queue 'rated' is not valid for backend\.$",
    ),
    Row(
        "task-result-of-a-workflow-execution",
        lambda s: testapp_tasks.add.get_backend().get_result(s),
        TaskResultDoesNotExist,
        r"^done$",
        setup=finished,
    ),
    Row(
        "task-return-value-not-json",
        lambda s: _run_task(testapp_tasks.returns_a_set),
        status=Status.FAILED,
        error_type=E + "StepFailed",
        match=r"the return value of task 'tests.testapp.tasks.returns_a_set' must be a JSON value",
        adds=(1, 1, 0, 0),
    ),
    Row(
        "cli-prune-running-status",
        lambda s: call("durable_prune", "--older-than", "1", "--status", "RUNNING"),
        CommandError,
        r"^cannot prune RUNNING executions",
        setup=finished,
    ),
]


def counts():
    return tuple(model.objects.count() for model in MODELS)


@pytest.fixture
def release_never_returns():
    durable_activities.NEVER_RETURNS.clear()
    yield
    durable_activities.NEVER_RETURNS.set()


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_bad_input(row, release_never_returns):
    state = row.setup() if row.setup else None
    before = counts()
    if row.error is not None:
        with pytest.raises(row.error, match=row.match) as info:
            row.act(state)
        assert type(info.value) is row.error, f"{type(info.value)} is not {row.error}"
        if row.error is CommandError:
            assert "\n" not in str(info.value)
        result = None
    else:
        result = row.act(state)
    after = counts()
    added = tuple(a - b for a, b in zip(after, before, strict=True))
    names = [model.__name__ for model in MODELS]
    assert added == row.adds, f"rows added: {dict(zip(names, added, strict=True))}"
    if row.status is not None:
        execution = WorkflowExecution.objects.get(pk=result)
        assert execution.status == row.status, (execution.status, execution.error_message)
        if row.error_type.endswith("."):
            assert execution.error_type.startswith(row.error_type), execution.error_type
        else:
            assert execution.error_type == row.error_type, execution.error_message
        assert re_search(row.match, execution.error_message)
        if row.status != Status.COMPLETED:
            assert execution.result is None
    # Nothing half-done: no execution is left runnable or held, no timer of an ended one.
    assert not WorkflowExecution.objects.filter(
        status__in=[Status.PENDING, Status.RUNNING]
    ).exists()
    assert not Timer.objects.filter(
        execution__status__in=[Status.COMPLETED, Status.FAILED, Status.CANCELED]
    ).exists()
    if row.check:
        row.check(state, result)


def re_search(pattern, text):
    assert re.search(pattern, text), f"{pattern!r} not in {text!r}"
    return True


def test_the_table_has_at_least_25_rows():
    assert len(ROWS) >= 25
    assert len({row.id for row in ROWS}) == len(ROWS)


# --- a real process: non-zero exit, one line on stderr, no traceback ---------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["durable_start", "nope"], "unknown workflow 'nope'"),
        (["durable_start", "add", "--input", NESTED], "--input is nested too deeply"),
        (["durable_start", "add", "--id", LONG, "--input", '{"a": 1, "b": 2}'], "at most 255"),
        (["durable_signal", "done", "n" * 201], "at most 200 characters"),
        (["durable_cancel", "done"], "it has already ended (COMPLETED)"),
        (["durable_retry", "--all-failed", "--workflow", "nope"], "unknown workflow 'nope'"),
        (["durable_fork", "done", "--from-step", "nope"], "has no recorded step 'nope'"),
        (["durable_prune", "--older-than", "-1"], "the age must be 0 days or more"),
    ],
    ids=[
        "unknown-workflow",
        "nested-json",
        "id-over-255",
        "signal-name-over-200",
        "cancel-done",
        "retry-unknown-workflow",
        "fork-unknown-step",
        "prune-negative-age",
    ],
)
def test_a_real_process_exits_non_zero_with_one_line(args, message):
    finished()
    before = counts()
    result = manage(*args)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert message in result.stderr
    assert counts() == before
    assert get_workflow("done").status == Status.COMPLETED
