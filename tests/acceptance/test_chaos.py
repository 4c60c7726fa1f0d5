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
        duration_limit=45,
        signal_within=4.0,
        restart_server=False,  # the server restart is for scripts/chaos only
    )
    report = run_chaos(config, connection.settings_dict["NAME"], tmp_path / "logs")
    print(table([vars(report)]))
    assert report.ok, "\n".join(report.problems)
    assert report.kills + report.graceful_stops >= 3
    assert report.lost == report.stuck == report.duplicated_completed_steps == 0
