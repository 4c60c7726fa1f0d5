"""register.workflow(schedule=...): one execution per tick, missed ticks coalesced, time zones."""

import datetime as dt
import threading
import zoneinfo
from io import StringIO

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from django_durable.models import WorkflowExecution
from django_durable.registry import register
from django_durable.ticks import TickStarter
from tests.conftest import run_burst

pytestmark = pytest.mark.django_db(transaction=True)
UTC = dt.UTC


@pytest.fixture
def nightly():
    """A workflow scheduled at 03:00, registered for the test only."""

    @register.workflow(name="nightly_report", schedule="0 3 * * *")
    def nightly_report(ctx, day: str = ""):
        return "done"

    yield "nightly_report"
    del register.workflows["nightly_report"]


def ids():
    return sorted(WorkflowExecution.objects.values_list("id", flat=True))


def at(*parts, tz=UTC):
    return dt.datetime(*parts, tzinfo=tz)


def first_tick():
    """The schedule's first execution, for its 03:00 tick on 4 December."""
    ticks = TickStarter()
    ticks.start_due(at(2026, 12, 3, 12, 0))
    assert ticks.start_due(at(2026, 12, 4, 3, 0, 5))


def test_a_new_schedule_starts_at_its_next_tick_then_once_per_tick(nightly):
    ticks = TickStarter()
    assert ticks.start_due(at(2026, 12, 3, 12, 0)) == []  # no past tick for a new schedule
    assert ticks.start_due(at(2026, 12, 4, 2, 59)) == []
    assert ticks.start_due(at(2026, 12, 4, 3, 0, 1)) == ["nightly_report@2026-12-04T03:00:00+00:00"]
    assert ticks.start_due(at(2026, 12, 4, 3, 30)) == []  # that tick is done
    run_burst()
    assert WorkflowExecution.objects.get().status == "COMPLETED"


def test_ticks_missed_while_no_worker_ran_start_once_the_latest_only(nightly):
    first_tick()
    # Every worker was down from the 5th to the 8th, 10:00; a new one starts.
    started = TickStarter().start_due(at(2026, 12, 8, 10, 0))
    assert started == ["nightly_report@2026-12-08T03:00:00+00:00"]
    assert ids() == [
        "nightly_report@2026-12-04T03:00:00+00:00",
        "nightly_report@2026-12-08T03:00:00+00:00",
    ]


def test_many_workers_start_each_tick_exactly_once(nightly):
    first_tick()
    starters = [TickStarter() for _ in range(6)]
    for starter in starters:  # each has seen the schedule before the tick
        starter.start_due(at(2026, 12, 5, 2, 0))
    results, barrier = [], threading.Barrier(len(starters))

    def race(starter):
        barrier.wait()
        try:
            results.append(starter.start_due(at(2026, 12, 5, 3, 0, 2)))
        finally:
            connection.close()

    threads = [threading.Thread(target=race, args=(s,)) for s in starters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(len(r) for r in results) == [0, 0, 0, 0, 0, 1]
    assert WorkflowExecution.objects.filter(pk__endswith="2026-12-05T03:00:00+00:00").count() == 1


@override_settings(TIME_ZONE="Europe/Berlin")
def test_ticks_are_in_time_zone_and_daylight_saving_runs_each_night_once():
    @register.workflow(name="at_half_past_two", schedule="30 2 * * *")
    def at_half_past_two(ctx):
        return None

    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    try:
        ticks = TickStarter()
        ticks.start_due(at(2026, 3, 28, 12, 0, tz=berlin))
        # 02:30 does not exist on 29 March (clocks go 02:00 -> 03:00): it runs at 03:00.
        spring = ticks.start_due(at(2026, 3, 29, 3, 1, tz=berlin))
        assert spring == ["at_half_past_two@2026-03-29T03:00:00+02:00"]
        ticks.start_due(at(2026, 10, 24, 12, 0, tz=berlin))
        # 02:30 happens twice on 25 October (03:00 -> 02:00): it runs once.
        first = ticks.start_due(at(2026, 10, 25, 2, 31, tz=berlin))
        again = ticks.start_due(at(2026, 10, 25, 2, 31, tz=berlin).replace(fold=1))
        assert first == ["at_half_past_two@2026-10-25T02:30:00+02:00"]
        assert again == []
    finally:
        del register.workflows["at_half_past_two"]


def test_status_lists_schedules_with_their_next_tick(nightly):
    first_tick()
    out = StringIO()
    call_command("durable_status", "--schedules", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["WORKFLOW", "SCHEDULE", "NEXT", "TICK", "LATEST"]
    assert lines[1].startswith("nightly_report  0 3 * * *")
    assert "nightly_report@2026-12-04T03:00:00+00:00 (PENDING)" in lines[1]


@pytest.mark.parametrize(
    "schedule, message",
    [
        ("61 * * * *", r"'61 \* \* \* \*' is not a valid cron expression: Bad minute"),
        ("* * *", r"is not a five-field cron expression"),
        (7, r"7 is not a five-field cron expression"),
    ],
)
def test_a_bad_schedule_is_refused_at_registration(schedule, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        register.workflow(name="bad_schedule", schedule=schedule)
    assert "bad_schedule" not in register.workflows


def test_a_scheduled_workflow_must_run_without_inputs():
    with pytest.raises(ImproperlyConfigured, match=r"needs user_id: give them defaults"):

        @register.workflow(name="needs_inputs", schedule="* * * * *")
        def needs_inputs(ctx, user_id):
            return user_id

    assert "needs_inputs" not in register.workflows


def test_a_running_worker_starts_the_latest_tick_a_restart_missed(nightly):
    # The first tick two days before today's real one, whatever today is.
    noon = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)
    ticks = TickStarter()
    ticks.start_due(noon - dt.timedelta(days=3))
    (first,) = ticks.start_due(noon - dt.timedelta(days=2, hours=9, seconds=-5))
    from django_durable.worker import Worker

    worker = Worker(threads=1)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        from tests.conftest import wait_for

        wait_for(lambda: WorkflowExecution.objects.count() == 2, timeout=20, message="a tick")
        missed = WorkflowExecution.objects.exclude(pk=first)
        wait_for(
            lambda: missed.filter(status="COMPLETED").exists(),
            timeout=20,
            message="the missed tick's execution to run",
        )
    finally:
        worker.stop()
        thread.join(30)
    latest = WorkflowExecution.objects.exclude(pk=first).get()
    assert latest.pk.startswith("nightly_report@") and latest.status == "COMPLETED"
