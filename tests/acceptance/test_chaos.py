"""The chaos runner's short variant: ~100 executions under worker kills, on the suite's database.

The full run (1,000 executions per database, a PostgreSQL restart) is ``scripts/chaos``.
"""

import pytest
from django.db import connection

from tests.chaos import ChaosConfig, run_chaos, table

pytestmark = [pytest.mark.acceptance, pytest.mark.django_db(transaction=True)]


def test_chaos_short_run_loses_and_duplicates_nothing(tmp_path):
    sqlite = connection.vendor == "sqlite"
    config = ChaosConfig(
        executions=100,
        workers=2 if sqlite else 3,
        seed=20,
        duration_limit=60,
        signal_within=4.0,
        restart_server=False,  # the server restart is for scripts/chaos only
    )
    report = run_chaos(config, connection.settings_dict["NAME"], tmp_path / "logs")
    print(table([vars(report)]))
    assert report.ok, "\n".join(report.problems)
    assert report.kills + report.graceful_stops >= 3
    assert report.retries >= 1  # executions failed for good, retried under the kills
    assert report.lost == report.stuck == report.duplicated_completed_steps == 0


def test_the_chaos_checks_catch_a_duplicate_a_lost_row_and_a_stuck_execution(tmp_path):
    import time

    from django_durable.models import StepResult, WorkflowExecution
    from tests.testapp.models import Ledger, SideEffect

    config = ChaosConfig(
        executions=12,
        workers=1,
        seed=7,
        duration_limit=60,
        signal_within=1.0,
        restart_server=False,
        kill_every=(1000.0, 1000.0),
    )
    report = run_chaos(config, connection.settings_dict["NAME"], tmp_path / "logs")
    assert report.ok, "\n".join(report.problems)
    step = StepResult.objects.filter(status="COMPLETED", step_id__startswith="s").first()
    assert step is not None
    # A completed step whose body runs again afterwards: a duplicate.
    SideEffect.objects.create(
        execution_id=step.execution_id,
        step=step.step_id,
        pid=1,
        epoch=999,
        started=time.time() + 60,
        finished=time.time() + 61,
    )
    # An atomic step's ledger row twice: lost exactly-once.
    ledger = Ledger.objects.first()
    assert ledger is not None
    Ledger.objects.create(execution_id=ledger.execution_id, entry=ledger.entry, amount=0)
    # An execution left runnable: stuck.
    WorkflowExecution.objects.filter(pk=step.execution_id).update(status="PENDING")
    report._recheck()
    assert report.duplicated_completed_steps >= 1
    assert report.lost >= 1
    assert report.stuck == 1
