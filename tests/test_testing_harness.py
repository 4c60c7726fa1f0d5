"""django_durable.testing: users' workflows run inline, in a test's transaction, on a virtual
clock; activities swapped for fakes; the pytest fixture."""

import datetime as dt
from pathlib import Path

import pytest
from django.db import connection
from django.test import TestCase, override_settings
from django.utils import timezone

from django_durable import clock, get_workflow, signal_workflow, start_workflow
from django_durable.models import Status, WorkflowExecution
from django_durable.testing import StillBusy, override_activity, reset_clock, run_until_idle


@pytest.fixture(autouse=True)
def real_time_afterwards():
    yield
    reset_clock()


@pytest.mark.django_db  # a test transaction, rolled back: no worker could see these rows
def test_a_day_long_workflow_finishes_at_once_and_ctx_now_moves_with_the_clock():
    eid = start_workflow("day_long", steps=30)
    began = timezone.now()
    assert run_until_idle() == [eid]
    assert (timezone.now() - began).total_seconds() < 60  # no real day went by
    info = get_workflow(eid)
    assert info.status == Status.COMPLETED
    assert info.result["total"] == 2 * sum(range(30))
    assert info.result["slept"] >= 86400
    assert clock.offset() > dt.timedelta(hours=23)  # the clock moved, and stays moved


def test_the_engines_clock_follows_use_tz_as_timezone_now_does():
    # The clock reads USE_TZ once; a changed setting (override_settings) must be seen.
    assert clock.now().tzinfo is dt.UTC
    with override_settings(USE_TZ=False):
        naive = clock.now()
        assert naive.tzinfo is None
        assert abs(naive - timezone.now()) < dt.timedelta(seconds=5)
    assert clock.now().tzinfo is dt.UTC


@pytest.mark.django_db
def test_signals_are_sent_between_calls_and_activities_can_be_faked():
    sent = []
    with override_activity("send_email", lambda user_id: sent.append(user_id) or "faked"):
        eid = start_workflow("welcome", user_id=7)
        run_until_idle()
        assert get_workflow(eid).status == Status.WAITING
        signal_workflow(eid, "approve", {"by": "ann"})
        assert run_until_idle() == [eid]
    assert sent == [7]
    assert get_workflow(eid).result == {"sent": "faked", "approved": {"by": "ann"}}
    # Outside the block, the real activity is back.
    other = start_workflow("welcome", user_id=8)
    run_until_idle()
    assert get_workflow(other).steps[0].result == {"sent": True, "user_id": 8}


@pytest.mark.django_db
def test_until_stops_the_clock_and_a_workflow_that_never_ends_is_reported():
    eid = start_workflow("reminds_forever")
    run_until_idle(until=dt.timedelta(minutes=10, seconds=30))
    assert WorkflowExecution.objects.get(pk=eid).status == Status.SLEEPING
    assert len(get_workflow(eid).steps) == 10  # one sleep fired per virtual minute
    with pytest.raises(StillBusy, match=r"made 50 runs and work remains"):
        run_until_idle(max_runs=50)


def test_the_durable_fixture_runs_workflows_and_resets_the_clock(pytester, monkeypatch):
    # A user's suite in a process of its own, with a test database of its own.
    name = connection.settings_dict["NAME"]
    own = str(pytester.path / "user.sqlite3") if connection.vendor == "sqlite" else name + "_user"
    monkeypatch.setenv("DURABLE_TEST_DB_NAME", own)
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parent.parent))
    pytester.makepyfile(
        """
        import pytest
        from django_durable import clock, get_workflow, start_workflow

        @pytest.mark.django_db
        def test_user_code(durable):
            eid = start_workflow("day_long", steps=4)
            assert durable.run_until_idle() == [eid]
            assert get_workflow(eid).status == "COMPLETED"
            assert clock.offset().total_seconds() > 80000

        def test_next_one_sees_real_time():
            assert not clock.offset()
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--ds", "tests.settings")
    result.assert_outcomes(passed=2)


class DjangoTestCaseUsers(TestCase):
    """The harness in a plain django.test.TestCase, as most Django projects write tests."""

    def tearDown(self):
        reset_clock()

    def test_run_until_idle_inside_the_test_transaction(self):
        eid = start_workflow("add", a=2, b=3)
        self.assertEqual(run_until_idle(), [eid])
        self.assertEqual(get_workflow(eid).result, 5)
