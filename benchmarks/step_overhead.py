"""W1: microseconds per recorded step of one 1,000-step workflow, beside the floor.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test python -m benchmarks.step_overhead

The floor is one committed single-row INSERT of about the same size through the same Django
connection (the physical cost of one checkpoint in this design).
"""

import os
import statistics
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from django_durable import run_workflow  # noqa: E402
from django_durable.models import StepResult, WorkflowExecution  # noqa: E402


def floor_us(n: int) -> float:
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_floor")
        cursor.execute("CREATE TABLE bench_floor (id integer primary key, data varchar(100))")
        payload = "x" * 100
        started = time.perf_counter()
        for i in range(n):
            cursor.execute("INSERT INTO bench_floor (id, data) VALUES (%s, %s)", [i, payload])
        elapsed = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_floor")
    return elapsed / n * 1e6


def durable_us(n: int) -> float:
    started = time.perf_counter()
    assert run_workflow("bench_steps", n=n) == n
    return (time.perf_counter() - started) / n * 1e6


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    call_command("migrate", verbosity=0)
    StepResult.objects.all().delete()
    WorkflowExecution.objects.all().delete()
    floors = [floor_us(n) for _ in range(repeats)]
    ours = [durable_us(n) for _ in range(repeats)]
    f, d = statistics.median(floors), statistics.median(ours)
    print(f"database: {connection.vendor}  steps: {n}  repetitions: {repeats}")
    print(f"{'case':<28}{'median µs':>12}{'min':>10}{'max':>10}{'× floor':>10}")
    print(
        f"{'floor (1-row INSERT commit)':<28}{f:>12.1f}"
        f"{min(floors):>10.1f}{max(floors):>10.1f}{1:>10.2f}"
    )
    print(
        f"{'django-durable step':<28}{d:>12.1f}{min(ours):>10.1f}{max(ours):>10.1f}{d / f:>10.2f}"
    )


if __name__ == "__main__":
    main()
