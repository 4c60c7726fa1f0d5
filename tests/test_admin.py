"""The admin support staff use: lists that stay fast, a read-only execution page with its
timeline, escaped user data, and actions that need a permission, ask for confirmation, go
through the API and are written to the admin log."""

import datetime as dt
import decimal
import re
import time

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from django_durable import get_workflow, signal_workflow, start_workflow, store
from django_durable.models import RunOutcome, StepResult, WorkflowExecution, WorkflowRun
from django_durable.testing import reset_clock, run_until_idle
from tests.conftest import run_burst

pytestmark = pytest.mark.django_db(transaction=True)

CHANGELIST = "admin:django_durable_workflowexecution_changelist"


def url(name, *args):
    return reverse(f"admin:django_durable_workflowexecution_{name}", args=args)


def staff(client, *perms, superuser=False):
    user = User.objects.create_user("support", password="pw", is_staff=True, is_superuser=superuser)
    for codename in perms:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client.force_login(user)
    return user


def text(response) -> str:
    return response.content.decode()


def log_messages(execution_id, flag=CHANGE):
    return list(
        LogEntry.objects.filter(object_id=execution_id, action_flag=flag).values_list(
            "change_message", flat=True
        )
    )


# --- the list ------------------------------------------------------------------------------


def test_list_filters_by_status_workflow_and_error_type(client):
    staff(client, "view_workflowexecution")
    sleeping = start_workflow("onboard_user", user_id=1)
    failed = start_workflow("failing")
    start_workflow("add", a=1, b=2)
    run_burst()
    page = client.get(reverse(CHANGELIST), {"status__exact": "SLEEPING"})
    assert page.status_code == 200
    assert [row.pk for row in page.context["cl"].result_list] == [sleeping]
    page = client.get(reverse(CHANGELIST), {"workflow": "add"})
    assert [row.workflow_name for row in page.context["cl"].result_list] == ["add"]
    assert "ValueError" in text(client.get(reverse(CHANGELIST)))  # offered as a filter
    page = client.get(reverse(CHANGELIST), {"error_type": "builtins.ValueError"})
    assert [row.pk for row in page.context["cl"].result_list] == [failed]
    page = client.get(reverse(CHANGELIST), {"created_at__gte": "2000-01-01 00:00:00+00:00"})
    assert len(page.context["cl"].result_list) == 3
    # A workflow that failed because a step failed is found by the step's own error type.
    step_failed = start_workflow("fails_first_time")
    run_burst()
    page = client.get(reverse(CHANGELIST), {"error_type": "builtins.RuntimeError"})
    assert [row.pk for row in page.context["cl"].result_list] == [step_failed]


def test_search_finds_an_execution_by_id_workflow_or_text_inside_its_input(client):
    staff(client, "view_workflowexecution")
    order = start_workflow("add", workflow_id="order-flow-1", a="ORD-48213", b="x")
    big_number = start_workflow("add", a=9_876_543_210, b=1)
    start_workflow("add", a="ORD-11111", b="y")
    start_workflow("onboard_user", user_id=3)

    def found(term):
        page = client.get(reverse(CHANGELIST), {"q": term})
        assert page.status_code == 200
        return sorted(row.pk for row in page.context["cl"].result_list)

    assert found("ORD-48213") == [order]
    assert found("order-flow") == [order]
    assert found("9876543210") == [big_number]
    assert len(found("onboard")) == 1
    assert found("no such thing") == []


def test_list_shows_what_each_execution_waits_for_and_how_it_ended(client):
    staff(client, "view_workflowexecution")
    start_workflow("onboard_user", user_id=1)
    start_workflow("approval", timeout=600)
    start_workflow("failing")
    run_burst()
    html = text(client.get(reverse(CHANGELIST)))
    assert "sleep until" in html
    assert "signal &#x27;approve&#x27; since" in html
    assert "times out at" in html
    assert "ValueError: boom on purpose" in html
    assert "ctx.wait_signal:approve:1" in html  # the step it is on
    assert 'name="_save"' not in html


def test_a_step_in_retry_backoff_says_which_attempt_failed_and_why(client):
    staff(client, "view_workflowexecution")
    start_workflow("retrying_slowly", fail_times=1)
    run_burst()
    html = text(client.get(reverse(CHANGELIST)))
    assert re.search(r"retry of step flaky:1 at [^;]+; attempt 1 of 3 failed: \w+Error", html)


def test_list_reads_a_fixed_number_of_queries_and_never_counts_the_whole_table(client):
    staff(client, "view_workflowexecution")

    def start_mix(n):
        for _ in range(n):
            start_workflow("onboard_user", user_id=1)
            start_workflow("approval", timeout=600)
            start_workflow("failing")
            start_workflow("add", a=1, b=2)
            start_workflow("steps", n=3)
        run_burst(threads=4)

    def queries_of_page():
        with CaptureQueriesContext(connection) as captured:
            page = client.get(reverse(CHANGELIST))
        assert page.status_code == 200
        return page, [q["sql"] for q in captured.captured_queries]

    start_mix(1)
    small_page, small = queries_of_page()
    start_mix(9)
    big_page, big = queries_of_page()
    assert len(small_page.context["cl"].result_list) == 5
    assert len(big_page.context["cl"].result_list) == 50
    assert len(small) == len(big), "\n".join(big)
    counts = [sql for sql in big if sql.upper().startswith("SELECT COUNT(*)")]
    assert all("LIMIT" in sql.upper() for sql in counts)


def test_a_long_list_says_more_than_the_cap_instead_of_counting(client, monkeypatch):
    from django_durable.admin import WorkflowExecutionAdmin
    from django_durable.admin.listing import CappedPaginator

    monkeypatch.setattr(CappedPaginator, "cap", 3)
    monkeypatch.setattr(WorkflowExecutionAdmin, "list_per_page", 2)
    staff(client, "view_workflowexecution")
    for n in range(5):
        start_workflow("add", a=n, b=1)
    html = text(client.get(reverse(CHANGELIST)))
    assert "more than 3" in html
    assert len(client.get(reverse(CHANGELIST), {"p": "2"}).context["cl"].result_list) == 2


def test_runs_leave_out_hand_backs_and_a_timeout_in_the_queue_says_never_started(client):
    staff(client, "view_workflowexecution")
    eid = start_workflow("add", a=1, b=2)
    run_burst()
    # A hand-back as a worker logs it: a claim given back before the code ran.
    now = WorkflowRun.objects.get(execution_id=eid).started_at
    WorkflowRun.objects.create(
        execution_id=eid,
        epoch=99,
        worker="w",
        started_at=now - dt.timedelta(seconds=5),
        ended_at=now - dt.timedelta(seconds=4),
        outcome=RunOutcome.HANDED_BACK,
    )
    queued = start_workflow("short_deadline")
    time.sleep(0.6)
    store.fire_due_timers(100)
    assert get_workflow(queued).status == "TIMED_OUT"
    html = text(client.get(reverse(CHANGELIST)))
    assert "never started: timed out while queued" in html
    page = text(client.get(url("change", eid)))
    assert "Runs (1 + 1 handed back)" in page
    assert "never: it timed out while queued" in text(client.get(url("change", queued)))


# --- the execution page ----------------------------------------------------------------------


def test_execution_page_shows_timeline_steps_and_events_and_escapes_user_data(client):
    staff(client, "view_workflowexecution")
    eid = start_workflow("approval")
    run_burst()
    signal_workflow(eid, "approve", "<script>alert(1)</script>")
    run_burst()
    assert get_workflow(eid).status == "COMPLETED"
    page = client.get(url("change", eid))
    html = text(page)
    assert page.status_code == 200
    assert "ctx.wait_signal:approve:1" in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'class="dd-timeline"' in html
    assert "dd-bar dd-bar-signal" in html  # the wait, drawn from when it began
    assert "dd-bar-run-waiting-signal" in html  # the run lane
    assert "signal-consumed" in html  # the events list
    assert "<form" not in html.split('id="content-main"')[1]  # read-only: no form at all


def test_execution_page_shows_published_values_escaped(client):
    staff(client, "view_workflowexecution")
    eid = start_workflow("reports_progress", total=2)
    run_burst()
    html = text(client.get(url("change", eid)))
    published = html.split('id="published"')[1].split('id="runs"')[0]
    assert "Published values (2)" in published
    assert "https://pay.example/42" in published
    assert "ctx.set_event:progress:2" in published  # the step that set the latest value
    assert "&quot;done&quot;: 2" in published


def test_execution_page_of_a_sleeper_draws_the_pending_sleep_as_an_open_bar(client):
    staff(client, "view_workflowexecution")
    eid = start_workflow("onboard_user", user_id=1)
    run_burst()
    html = text(client.get(url("change", eid)))
    assert re.search(r'dd-bar dd-bar-sleep dd-open"[^>]*title="ctx.sleep:1: sleeping', html)
    assert "until " in html  # an hour away: the bar is cut at the edge, its due time written


def test_execution_page_of_a_waiter_draws_the_open_wait_and_flags_signals_nobody_waits_for(
    client,
):
    staff(client, "view_workflowexecution")
    eid = start_workflow("approval", timeout=600)
    run_burst()
    signal_workflow(eid, "aprove", {"typo": True})  # a name the workflow never waits for
    run_burst()  # the signal woke it; it waits for "approve" again
    html = text(client.get(url("change", eid)))
    assert re.search(r'dd-bar dd-bar-signal dd-open"[^>]*title="ctx.wait_signal:approve:1', html)
    assert "times out at" in html  # the fact "Waiting for"
    assert "no ctx.wait_signal(&#x27;aprove&#x27;) so far" in html


def test_ids_that_need_quoting_in_urls_work_on_every_page(client):
    staff(client, superuser=True)
    eid = start_workflow("approval", workflow_id="tenant/42_order?x=1")
    run_burst()
    page = client.get(url("change", eid))
    assert page.status_code == 200
    for name in ("cancel", "signal", "fork"):
        assert client.get(url(name, eid)).status_code == 200, name
    assert client.post(url("signal", eid), {"name": "approve", "payload": "1"}).status_code == 302
    assert client.get(url("history", eid)).status_code == 200


def test_execution_page_tags_types_folds_long_values_and_keeps_tracebacks(client):
    staff(client, "view_workflowexecution")
    decimals = start_workflow("add", a=decimal.Decimal("1.50"), b=decimal.Decimal("2.25"))
    raw = start_workflow("add", a=b"\x00\x01", b=b"\x02")
    long = start_workflow("add", a=list(range(300)), b=[])
    failed = start_workflow("failing")
    run_burst()
    html = text(client.get(url("change", decimals)))
    assert '<span class="dd-type">Decimal</span> &quot;3.75&quot;' in html
    html = text(client.get(url("change", raw)))
    assert '<span class="dd-type">bytes · 3 B</span> &quot;AAEC&quot;' in html
    html = text(client.get(url("change", long)))
    assert "list of 300 items" in html
    assert html.count("<details") >= 2  # the input and the result are folded
    html = text(client.get(url("change", failed)))
    assert '<pre class="dd-traceback">Traceback (most recent call last):\n' in html
    assert "boom on purpose" in html


def test_execution_page_links_a_fork_to_its_source(client):
    staff(client, superuser=True)
    source = start_workflow("steps", n=3)
    run_burst()
    fork = client.post(url("fork", source), {"from_step": "s1", "workflow_id": "the-fork"})
    assert fork.status_code == 302
    html = text(client.get(url("change", "the-fork")))
    assert f'href="{url("change", source)}"' in html
    assert "at step <code>s1</code>" in html


def test_nothing_can_be_added_edited_or_deleted(client):
    staff(client, superuser=True)
    eid = start_workflow("add", a=1, b=2)
    assert client.get(url("add")).status_code == 403
    content = text(client.get(url("change", eid))).split('id="content-main"')[1]
    assert 'name="_save"' not in content and 'type="submit"' not in content
    assert client.post(url("change", eid), {"workflow_name": "other"}).status_code == 403
    assert get_workflow(eid).workflow == "add"
    assert client.get(url("delete", eid)).status_code == 403


def test_the_other_tables_have_read_only_pages(client):
    staff(client, superuser=True)
    eid = start_workflow("approval")
    run_burst()
    signal_workflow(eid, "approve", {"ok": True})
    run_burst()
    step = StepResult.objects.filter(execution_id=eid).first()
    for model in ("stepresult", "signal", "timer", "workflowrun", "workerprocess"):
        page = client.get(reverse(f"admin:django_durable_{model}_changelist"))
        assert page.status_code == 200, model
    page = client.get(reverse("admin:django_durable_stepresult_change", args=[step.pk]))
    assert page.status_code == 200
    assert "&quot;ok&quot;: true" in text(page)
    page = client.get(reverse("admin:django_durable_stepresult_changelist"), {"q": eid})
    assert page.context["cl"].result_list[0].execution_id == eid


# --- permissions -------------------------------------------------------------------------


def test_a_view_only_user_sees_no_action_and_is_refused_each_one(client):
    staff(client, "view_workflowexecution")
    eid = start_workflow("approval")
    run_burst()
    html = text(client.get(url("change", eid)))
    for tool in ("Cancel…", "Retry…", "Fork…", "Send signal…"):
        assert tool not in html
    assert "cancel_selected" not in text(client.get(reverse(CHANGELIST)))
    assert "Start a workflow" not in text(client.get(reverse(CHANGELIST)))
    for name in ("cancel", "retry", "fork", "signal"):
        assert client.get(url(name, eid)).status_code == 403, name
        assert client.post(url(name, eid), {"name": "approve"}).status_code == 403, name
    assert client.get(url("start")).status_code == 403
    data = {"action": "cancel_selected", "_selected_action": [eid], "confirm": "yes"}
    client.post(reverse(CHANGELIST), data)
    assert get_workflow(eid).status == "WAITING"
    assert not LogEntry.objects.exists()


def test_each_action_has_a_permission_of_its_own(client):
    user = staff(client, "view_workflowexecution", "signal_workflowexecution")
    eid = start_workflow("approval")
    run_burst()
    html = text(client.get(url("change", eid)))
    assert "Send signal…" in html and "Cancel…" not in html
    assert client.get(url("cancel", eid)).status_code == 403
    assert client.get(url("signal", eid)).status_code == 200
    user.user_permissions.add(Permission.objects.get(codename="change_workflowexecution"))
    client.force_login(User.objects.get(pk=user.pk))  # the broad permission allows them all
    assert client.get(url("cancel", eid)).status_code == 200


# --- actions -------------------------------------------------------------------------------


def test_cancel_from_the_execution_page_asks_for_a_reason_and_is_logged(client):
    staff(client, "view_workflowexecution", "cancel_workflowexecution")
    eid = start_workflow("onboard_user", user_id=1)
    run_burst()
    page = client.get(url("cancel", eid))
    assert page.status_code == 200 and "Cancel this execution?" in text(page)
    assert get_workflow(eid).status == "SLEEPING"  # the page changed nothing
    response = client.post(url("cancel", eid), {"reason": "customer left"})
    assert response.status_code == 302
    assert get_workflow(eid).status == "CANCELED"
    assert WorkflowExecution.objects.get(pk=eid).cancel_reason == (
        "customer left (support in the admin)"
    )
    assert log_messages(eid) == ["Canceled: customer left (support in the admin)"]
    again = client.post(url("cancel", eid), {"reason": ""})
    assert again.status_code == 200
    assert "already ended (CANCELED)" in text(again)


def test_cancel_from_the_list_confirms_then_cancels_each_selected(client):
    staff(client, "view_workflowexecution", "change_workflowexecution")
    first = start_workflow("onboard_user", user_id=1)
    second = start_workflow("onboard_user", user_id=2)
    run_burst()
    data = {"action": "cancel_selected", "_selected_action": [first, second]}
    confirm = client.post(reverse(CHANGELIST), data)
    assert confirm.status_code == 200
    assert "Cancel these executions?" in text(confirm)
    assert get_workflow(first).status == "SLEEPING"
    done = client.post(reverse(CHANGELIST), {**data, "confirm": "yes", "reason": "bulk"})
    assert done.status_code == 302
    assert {get_workflow(first).status, get_workflow(second).status} == {"CANCELED"}
    assert log_messages(first) == ["Canceled: bulk (support in the admin)"]


def test_retry_one_from_its_page_and_many_from_the_list(client):
    staff(client, "view_workflowexecution", "retry_workflowexecution")
    one = start_workflow("failing")
    two = start_workflow("failing")
    done = start_workflow("add", a=1, b=2)
    run_burst()
    assert "Retry…" in text(client.get(url("change", one)))
    assert client.post(url("retry", one)).status_code == 302
    assert get_workflow(one).status == "PENDING"
    assert log_messages(one) == ["Retried"]
    data = {"action": "retry_selected", "_selected_action": [two, done]}
    assert "Retry these executions?" in text(client.post(reverse(CHANGELIST), data))
    response = client.post(reverse(CHANGELIST), {**data, "confirm": "yes"}, follow=True)
    assert get_workflow(two).status == "PENDING"
    assert "Cannot retry execution" in text(response)  # the completed one, in one line
    assert log_messages(two) == ["Retried"] and log_messages(done) == []
    refused = client.post(url("retry", done))
    assert refused.status_code == 200 and "cannot retry" in text(refused)


def test_fork_from_a_chosen_step_starts_a_new_execution(client):
    staff(client, "view_workflowexecution", "fork_workflowexecution")
    source = start_workflow("steps", n=3)
    run_burst()
    page = client.get(url("fork", source), {"from_step": "s2"})
    assert '<option value="s2" selected>' in text(page)
    response = client.post(url("fork", source), {"from_step": "s2", "workflow_id": ""})
    assert response.status_code == 302
    fork = WorkflowExecution.objects.get(forked_from=source)
    assert response["Location"] == url("change", fork.pk)
    assert log_messages(fork.pk, ADDITION) == [f"Forked from {source} at step s2"]
    assert log_messages(source) == [f"Forked at step s2 into {fork.pk}"]
    bad = client.post(url("fork", source), {"from_step": "nope"})
    assert bad.status_code == 200 and "Select a valid choice" in text(bad)


def test_signal_form_sends_json_and_refuses_bad_json_in_one_line(client):
    staff(client, "view_workflowexecution", "signal_workflowexecution")
    eid = start_workflow("approval")
    run_burst()
    page = client.get(url("signal", eid))
    assert 'value="approve"' in text(page)  # the name it waits for, filled in
    bad = client.post(url("signal", eid), {"name": "approve", "payload": "{oops"})
    assert bad.status_code == 200
    assert "The payload is not valid JSON: Expecting property name enclosed in double quotes" in (
        text(bad)
    )
    assert get_workflow(eid).status == "WAITING"
    sent = client.post(url("signal", eid), {"name": "approve", "payload": '{"by": "ann"}'})
    assert sent.status_code == 302
    assert log_messages(eid) == ['Sent signal \'approve\': {"by": "ann"}']
    run_burst()
    assert get_workflow(eid).result == {"decision": {"by": "ann"}}
    ended = client.post(url("signal", eid), {"name": "approve", "payload": ""})
    assert ended.status_code == 200
    assert "cannot signal execution" in text(ended) and "already ended (COMPLETED)" in text(ended)


def test_start_form_starts_a_registered_workflow_and_refuses_bad_input(client):
    staff(client, "view_workflowexecution", "start_workflowexecution")
    page = client.get(url("start"))
    assert "onboard_user" in text(page) and "user_id: int" in text(page)
    cases = {
        '{"user_id": ': "The input is not valid JSON",
        "[1, 2]": "must be a JSON object of keyword arguments",
        '{"nobody": 1}': "wrong inputs for workflow &#x27;onboard_user&#x27;",
    }
    for given, error in cases.items():
        refused = client.post(url("start"), {"workflow": "onboard_user", "input": given})
        assert refused.status_code == 200
        assert error in text(refused), given
    assert not WorkflowExecution.objects.exists()
    response = client.post(
        url("start"), {"workflow": "onboard_user", "input": '{"user_id": 7}', "workflow_id": "u7"}
    )
    assert response.status_code == 302 and response["Location"] == url("change", "u7")
    assert get_workflow("u7").input == {"user_id": 7}
    assert log_messages("u7", ADDITION) == ["Started workflow 'onboard_user'"]
    again = client.post(url("start"), {"workflow": "add", "input": "{}", "workflow_id": "u7"})
    assert "already exists" in text(again)
    queued = {"workflow": "onboard_user", "input": '{"user_id": 8}', "workflow_id": "u8"}
    response = client.post(url("start"), {**queued, "queue": "emails", "priority": "-5"})
    assert response.status_code == 302
    row = WorkflowExecution.objects.get(pk="u8")
    assert (row.queue, row.priority) == ("emails", -5)
    unknown = client.post(url("start"), {**queued, "workflow_id": "u9", "queue": "nope"})
    assert "Select a valid choice" in text(unknown)


def test_a_running_execution_shows_the_step_its_worker_reports_as_an_open_bar():
    from django.utils import timezone

    from django_durable.admin import timeline
    from django_durable.admin.listing import RowFacts
    from django_durable.admin.waits import waiting_for

    now = timezone.now()
    at = lambda seconds: now - dt.timedelta(seconds=seconds)  # noqa: E731
    execution = WorkflowExecution(
        id="e1", workflow_name="w", status="RUNNING", created_at=at(10), started_at=at(9),
        lease_owner="worker-1", lease_epoch=1,
    )  # fmt: skip
    steps = [
        StepResult(
            execution_id="e1", step_id="load:1", name="load", status="COMPLETED",
            attempts=1, started_at=at(9), finished_at=at(8),
        )
    ]  # fmt: skip
    runs = [WorkflowRun(execution_id="e1", epoch=1, worker="worker-1", started_at=at(9))]
    drawn = timeline.build(execution, steps, runs, [], now, running_step="charge:1")
    [load, charge] = drawn.lanes
    assert (load.label, load.bars[0].kind) == ("load:1", "completed")
    assert (charge.label, charge.bars[0].kind, charge.bars[0].open) == ("charge:1", "running", True)
    assert drawn.run_lane.bars[0].open and drawn.now_at == 100.0
    for bar in [*load.bars, *charge.bars, *drawn.run_lane.bars]:
        assert 0 <= bar.left and bar.left + bar.width <= 100.001
    facts = RowFacts(running_step="charge:1", latest_run=runs[0])
    assert waiting_for(execution, facts, now) == "step charge:1 running on worker-1"


def test_prune_counts_first_then_deletes_old_finished_executions_and_logs_it(client):
    import datetime as dt

    from django_durable.models import WorkflowExecution

    staff(client, "view_workflowexecution")
    assert client.get(url("prune")).status_code == 403  # a permission of its own
    assert "Prune old executions" not in text(client.get(reverse(CHANGELIST)))
    client.logout()
    User.objects.all().delete()
    staff(client, "view_workflowexecution", "prune_workflowexecution")
    old = start_workflow("add", a=1, b=2)
    run_burst()
    live = start_workflow("approval")
    run_burst()
    assert "Prune old executions" in text(client.get(reverse(CHANGELIST)))
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=31)
    WorkflowExecution.objects.filter(pk=old).update(finished_at=long_ago)  # a month old
    choices = {"older_than_days": "30", "statuses": ["COMPLETED", "FAILED"]}
    counted = client.post(url("prune"), choices)
    assert counted.status_code == 200
    assert "Delete 1 finished execution(s)?" in text(counted)
    # The confirmation carries what was counted; deleting needs the same choices.
    assert 'name="counted" value="30|COMPLETED,FAILED"' in text(counted)
    assert WorkflowExecution.objects.filter(pk=old).exists()  # counting deletes nothing
    done = client.post(url("prune"), {**choices, "counted": "30|COMPLETED,FAILED"})
    assert done.status_code == 302
    assert list(WorkflowExecution.objects.values_list("pk", flat=True)) == [live]
    entry = LogEntry.objects.get(action_flag=DELETION)
    assert entry.change_message == (
        "Pruned 1 execution(s) that ended COMPLETED, FAILED over 30 day(s) ago"
    )
    bad = client.post(url("prune"), {"older_than_days": "-1", "statuses": ["COMPLETED"]})
    assert bad.status_code == 200 and "greater than or equal to 0" in text(bad)


# --- executions that start and wait for others, queues, schedules ---------------------------


@pytest.fixture
def real_clock():
    yield
    reset_clock()  # run_until_idle moves the engine's clock past timers


def section(html, name):
    """The HTML of one section of the execution page."""
    return html.split(f'id="{name}"')[1].split('<div class="module dd-section"')[0]


def test_execution_pages_link_parent_and_children_and_say_which_execution_is_awaited(client):
    staff(client, "view_workflowexecution")
    top = start_workflow("grandparent")
    run_burst()
    middle = WorkflowExecution.objects.get(parent=top)
    leaf = WorkflowExecution.objects.get(parent=middle.pk)
    html = text(client.get(url("change", top)))
    facts = html.split('class="dd-facts"')[1].split("</dl>")[0]
    # What it does now: it waits for its child, which is waiting too.
    assert re.search(
        rf'Waiting for</dt><dd>execution <a class="dd-mono" href="{url("change", middle.pk)}"'
        r"[^>]*>[^<]+</a>.*parent_runs_child.*Waiting</span> since ",
        facts,
    )
    children = section(html, "children")
    assert "Children (1)" in children and "1 waiting." in re.sub(r"<[^>]+>", "", children)
    assert f'href="{url("change", middle.pk)}"' in children
    assert "canceling this execution cancels it too" in children
    assert f'href="{reverse(CHANGELIST)}?parent={top}"' in children
    html = text(client.get(url("change", middle.pk)))
    facts = html.split('class="dd-facts"')[1].split("</dl>")[0]
    assert re.search(rf'Parent</dt><dd><a class="dd-mono" href="{url("change", top)}"', facts)
    assert ", waiting for this one" in facts
    assert "<dt>Queue</dt><dd>default</dd>" in facts
    assert "<dt>Priority</dt><dd>0 (lower runs first)</dd>" in facts
    steps = section(html, "steps")
    assert f'started execution <a class="dd-mono" href="{url("change", leaf.pk)}"' in steps
    assert re.search(r'dd-bar dd-bar-child dd-open"[^>]*title="ctx.wait_workflow:1: waiting', html)
    # The list says it too, with the awaited execution as a link.
    rows = text(client.get(reverse(CHANGELIST))).split("<tr>")
    [row] = [
        row
        for row in rows
        if row.startswith(f'<th class="field-execution_id"><a href="{url("change", middle.pk)}"')
    ]
    assert f'execution <a class="dd-mono" href="{url("change", leaf.pk)}"' in row
    # The child ends: the wait step says how, with the result decoded, not the envelope.
    signal_workflow(leaf.pk, "go")
    run_burst()
    assert get_workflow(top).status == "COMPLETED"
    steps = section(text(client.get(url("change", middle.pk))), "steps")
    assert re.search(
        rf'execution <a class="dd-mono" href="{url("change", leaf.pk)}"[^>]*>{leaf.pk}</a> '
        r'completed and returned<pre class="dd-payload">5</pre>',
        steps,
    )
    assert "bytes ·" not in steps and "&quot;status&quot;" not in steps
    html = text(client.get(url("change", top)))
    assert "waited for execution" in html  # the timeline's lane and bar titles
    assert "waiting for other executions" in html  # the totals above the lanes


def test_the_list_filters_by_parent_and_by_top_level(client):
    staff(client, "view_workflowexecution")
    top = start_workflow("grandparent")
    alone = start_workflow("add", a=1, b=2)
    run_burst()
    middle = WorkflowExecution.objects.get(parent=top).pk
    leaf = WorkflowExecution.objects.get(parent=middle).pk

    def listed(**params):
        page = client.get(reverse(CHANGELIST), params)
        assert page.status_code == 200
        return sorted(row.pk for row in page.context["cl"].result_list)

    assert listed(parent=top) == [middle]
    assert listed(parent=middle) == [leaf]
    assert listed(parent="no-such-execution") == []
    assert listed(parent="~none") == sorted([top, alone])
    assert listed(parent="~any") == sorted([middle, leaf])
    html = text(client.get(reverse(CHANGELIST), {"parent": top}))
    assert f"child of {top[:23]}…" in html  # the chosen parent, shown among the filters


def test_a_fan_out_lists_its_first_children_with_counts_and_reads_a_fixed_number_of_queries(
    client, real_clock
):
    staff(client, "view_workflowexecution")

    def page_of(n):
        eid = start_workflow("fans_out", n=n, fail_every=7)
        run_until_idle()
        with CaptureQueriesContext(connection) as captured:
            page = client.get(url("change", eid))
        assert page.status_code == 200
        return eid, text(page), len(captured.captured_queries)

    eid, html, some = page_of(60)
    _, _, many = page_of(150)
    assert some == many
    children = section(html, "children")
    assert "Children (60)" in children
    assert "51 completed · 9 failed." in re.sub(r"<[^>]+>", "", children)
    assert children.count("dd-badge dd-status-") == 50
    assert "The first 50 of 60 children are shown" in children
    assert f'href="{reverse(CHANGELIST)}?parent={eid}"' in children
    steps = section(html, "steps")
    # The first 100 of 120 steps: the 60 starts and the waits of the first 40 children to end,
    # in whatever order the worker's threads finished them; some failed children are among them.
    assert re.search(r"failed: ValueError: asked to fail with \d+", steps)
    assert "completed and returned" in steps
    assert "bytes ·" not in steps
    page = client.get(reverse(CHANGELIST), {"parent": eid})
    assert len(page.context["cl"].result_list) == 50
    assert page.context["cl"].result_count == 60


# A time of day, with its date when it is not today's (an hour from 23:30 is tomorrow).
AT = r"(?:\d{4}-\d\d-\d\d )?[\d:]+"


def test_a_wait_with_a_timeout_shows_when_it_gives_up_and_then_that_it_did(client, real_clock):
    staff(client, "view_workflowexecution")
    eid = start_workflow("parent_waits_with_timeout", seconds=3600)
    run_burst()
    child = WorkflowExecution.objects.get(parent=eid).pk
    waiting = f"execution {child} since "
    list_html = text(client.get(reverse(CHANGELIST)))
    assert re.search(rf"{re.escape(waiting)}{AT}, times out at {AT} \(in 5\d m \d\d s\)", list_html)
    html = text(client.get(url("change", eid)))
    assert re.search(rf"times out at {AT} \(in 5\d m \d\d s\)", html.split("</dl>")[0])
    assert "Wait timeout" in section(html, "timers")
    run_until_idle()  # the hour passes on the virtual clock: the wait times out
    assert get_workflow(eid).result == "gave up"
    steps = section(text(client.get(url("change", eid))), "steps")
    assert re.search(
        rf'gave up waiting for execution <a class="dd-mono" href="{url("change", child)}"'
        r'[^>]*>[^<]+</a>: <span class="dd-error">the wait timed out</span>',
        steps,
    )


def test_an_execution_awaited_by_others_names_them(client):
    staff(client, "view_workflowexecution")
    awaited = start_workflow("approval")
    waiter = start_workflow("waits_on", execution_id=awaited)
    run_burst()
    facts = text(client.get(url("change", awaited))).split("</dl>")[0]
    assert f'Waited for by</dt><dd><a class="dd-mono" href="{url("change", waiter)}"' in facts
    facts = text(client.get(url("change", waiter))).split("</dl>")[0]
    assert "Parent" not in facts  # it waits for an execution it did not start
    assert f'execution <a class="dd-mono" href="{url("change", awaited)}"' in facts


def test_cancel_page_says_the_unfinished_children_are_canceled_too(client):
    staff(client, "view_workflowexecution", "cancel_workflowexecution")
    top = start_workflow("grandparent")
    run_burst()
    page = text(client.get(url("cancel", top)))
    assert "It started 1 execution(s) that have not finished: it is canceled with it" in page
    assert client.post(url("cancel", top), {"reason": "test"}).status_code == 302
    statuses = set(WorkflowExecution.objects.values_list("status", flat=True))
    assert statuses == {"CANCELED"}


def test_the_list_filters_by_queue_and_shows_queue_and_priority(client):
    staff(client, "view_workflowexecution")
    mail = start_workflow("add", a=1, b=2, queue="emails", priority=5)
    start_workflow("add", a=3, b=4)
    page = client.get(reverse(CHANGELIST), {"queue": "emails"})
    assert [row.pk for row in page.context["cl"].result_list] == [mail]
    html = text(page)
    assert '<a href="?queue=limited">limited</a>' in html  # DURABLE_QUEUES, not a table scan
    assert 'title="queue emails">emails</span>' in html  # beside the workflow's name
    facts = text(client.get(url("change", mail))).split("</dl>")[0]
    assert "<dt>Queue</dt><dd>emails</dd>" in facts
    assert "<dt>Priority</dt><dd>5 (lower runs first)</dd>" in facts


def test_the_list_reads_as_many_queries_for_5_or_50_parents_children_and_queues(client):
    staff(client, "view_workflowexecution")

    def start_mix(n):
        for _ in range(n):
            start_workflow("parent_runs_child", a=1, b=2, wait="go")  # two rows: both wait
            start_workflow("parent_waits_with_timeout", seconds=600)  # two rows
            start_workflow("add", a=1, b=2, queue="emails", priority=3)
        run_burst(threads=4)

    def queries_of_page():
        with CaptureQueriesContext(connection) as captured:
            page = client.get(reverse(CHANGELIST))
        assert page.status_code == 200
        return page, [q["sql"] for q in captured.captured_queries]

    start_mix(1)
    small_page, small = queries_of_page()
    start_mix(9)
    big_page, big = queries_of_page()
    assert len(small_page.context["cl"].result_list) == 5
    assert len(big_page.context["cl"].result_list) == 50
    assert len(small) == len(big), "\n".join(big)
    assert text(big_page).count(", times out at") == 20  # 10 rows: the text and its title


@pytest.fixture
def nightly():
    """A workflow scheduled at 03:00, registered for the test only."""
    from django_durable.registry import register

    @register.workflow(name="nightly_report", schedule="0 3 * * *", queue="emails")
    def nightly_report(ctx):
        return "done"

    yield "nightly_report"
    del register.workflows["nightly_report"]


def test_the_schedules_page_shows_cron_time_zone_last_execution_and_next_tick(client, nightly):
    from django_durable import schedules
    from django_durable.ticks import TickStarter

    staff(client, "view_workflowexecution")
    schedules_url = url("schedules")
    assert f'href="{schedules_url}"' in text(client.get(reverse(CHANGELIST)))
    html = text(client.get(schedules_url))
    assert "none yet: the first starts at the first tick" in html
    now = dt.datetime.now(dt.UTC)
    ticks = TickStarter()
    ticks.start_due(now - dt.timedelta(days=2))  # a worker sees the schedule...
    [started] = ticks.start_due(now - dt.timedelta(days=1))  # ...and starts its next tick
    page = client.get(schedules_url)
    assert page.status_code == 200
    html = text(page)
    row = html.split('id="schedules"')[1]
    assert '<a href="/admin/django_durable/workflowexecution/?workflow=nightly_report"' in row
    assert "<code>0 3 * * *</code>" in row and "At 03:00 every day" in row
    assert "<td>UTC</td>" in row
    assert '<td class="dd-mono">emails</td>' in row
    assert f'href="{url("change", quote(started))}">{started}</a>' in row
    latest = schedules.latest_tick("0 3 * * *", now)
    assert f"{latest:%Y-%m-%d %H:%M} UTC" in row
    assert started != schedules.execution_id(nightly, latest)  # the last tick has none
    assert "none for the last tick (yet): is a worker running?" in row
    assert f"<strong>{schedules.next_tick('0 3 * * *', now):%Y-%m-%d %H:%M} UTC</strong>" in row


def test_the_schedules_page_needs_the_view_permission_and_is_linked_only_with_schedules(client):
    staff(client)
    assert client.get(url("schedules")).status_code == 403
    client.logout()
    User.objects.all().delete()
    staff(client, "view_workflowexecution")
    assert url("schedules") not in text(client.get(reverse(CHANGELIST)))
    assert "No scheduled workflow" in text(client.get(url("schedules")))
