"""Settings of the benchmark project: the test settings' database parsing, no test app."""

import os

from tests.settings import database_from_url

SECRET_KEY = "django-durable-benchmarks"
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "django_durable", "benchmarks"]
DATABASES = {
    "default": database_from_url(
        os.environ.get("DATABASE_URL", "sqlite:///tmp/durable-bench.sqlite3")
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
if os.environ.get(
    "BENCH_CONN_MAX_AGE"
):  # experiments only: scripts/bench leaves Django's default (0)
    DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ["BENCH_CONN_MAX_AGE"])
# PostgreSQL as docs/benchmarks.md recommends: psycopg may prepare a statement it has run 5
# times (psycopg's default, which DBOS gets through SQLAlchemy too; Django turns it off).
# BENCH_PREPARE_THRESHOLD=none measures Django's default instead.
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    threshold = os.environ.get("BENCH_PREPARE_THRESHOLD", "5")
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = (
        None if threshold == "none" else int(threshold)
    )
# W2 gives ours DBOS's queue polling interval there (10 ms); elsewhere Django Durable's default.
if os.environ.get("BENCH_POLL_SECONDS"):
    DURABLE_POLL_SECONDS = float(os.environ["BENCH_POLL_SECONDS"])
# W7 only: a queue with a concurrency limit. Declared only there, because a worker that
# serves every queue also claims from each limited one (one more transaction per claim).
if os.environ.get("BENCH_QUEUE_CONCURRENCY"):
    DURABLE_QUEUES = {"w7": {"concurrency": int(os.environ["BENCH_QUEUE_CONCURRENCY"])}}
