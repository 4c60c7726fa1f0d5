"""The test harness: how long ``run_until_idle`` takes for a 30-step workflow with a one-day
sleep in the middle, as a user's test would run it (inside a transaction that is rolled back).

    python -m benchmarks.harness [REPETITIONS]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench python -m benchmarks.harness
"""

import os
import statistics
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from django_durable import get_workflow, start_workflow  # noqa: E402
from django_durable.testing import reset_clock, run_until_idle  # noqa: E402


def one_test(steps: int) -> float:
    """Milliseconds from start_workflow to the end of run_until_idle, rolled back after."""
    with transaction.atomic():
        began = time.perf_counter()
        eid = start_workflow("bench_day_long", n=steps)
        run_until_idle()
        took = (time.perf_counter() - began) * 1000
        assert get_workflow(eid).status == "COMPLETED"
        transaction.set_rollback(True)
    reset_clock()
    return took


def main() -> None:
    repetitions = int(sys.argv[1]) if len(sys.argv) > 1 else 21
    call_command("migrate", verbosity=0)
    one_test(30)  # warm-up: imports, prepared statements, caches
    times = [one_test(30) for _ in range(repetitions)]
    print(f"database: {connection.vendor}  repetitions: {repetitions}")
    print(f"{'case':<44}{'median ms':>10}{'min':>8}{'max':>8}")
    print(
        f"{'30 steps + a one-day ctx.sleep, run_until_idle':<44}"
        f"{statistics.median(times):>10.1f}{min(times):>8.1f}{max(times):>8.1f}"
    )


if __name__ == "__main__":
    main()
