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
