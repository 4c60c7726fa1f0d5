"""Test settings. ``DATABASE_URL`` picks the database: SQLite (default), PostgreSQL or MySQL.

sqlite:///path/to/file.sqlite3
postgres://postgres@127.0.0.1:5432/test
mysql://root@127.0.0.1:3306/test
"""

import json
import os
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "django-durable-tests"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The admin's CSS, served by the live server of the browser tests.
STATIC_URL = "/static/"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_durable",
    "tests.testapp",
]
# Django's task framework: built in from Django 6; on 5.2 the django-tasks backport, an app.
try:
    import django.tasks  # noqa: F401
except ImportError:
    INSTALLED_APPS.append("django_tasks")
TASKS = {
    "default": {
        "BACKEND": "django_durable.tasks.DurableBackend",
        "QUEUES": ["default", "emails"],
    }
}
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]


def database_from_url(url: str) -> dict:
    parsed = urlparse(url)
    scheme = parsed.scheme.split("+")[0]
    if scheme == "sqlite":
        path = unquote(parsed.path) or str(Path(tempfile.gettempdir()) / "durable-tests.sqlite3")
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": path,
            # Worker subprocesses and threads must see the test database: keep it on disk.
            "TEST": {"NAME": os.environ.get("DURABLE_TEST_DB_NAME", path + ".test")},
        }
    engine = {
        "postgres": "django.db.backends.postgresql",
        "postgresql": "django.db.backends.postgresql",
        "mysql": "django.db.backends.mysql",
        "mariadb": "django.db.backends.mysql",
    }[scheme]
    config = {
        "ENGINE": engine,
        "NAME": unquote(parsed.path.lstrip("/")),
        "USER": unquote(parsed.username or ""),
        "PASSWORD": unquote(parsed.password or ""),
        "HOST": parsed.hostname or "",
        "PORT": str(parsed.port or ""),
    }
    if engine.endswith("mysql"):
        config["OPTIONS"] = {"charset": "utf8mb4"}
    if os.environ.get("DURABLE_TEST_DB_NAME"):
        config["TEST"] = {"NAME": os.environ["DURABLE_TEST_DB_NAME"]}
    return config


DATABASES = {"default": database_from_url(os.environ.get("DATABASE_URL", "sqlite://"))}
if os.environ.get("DURABLE_USE_TEST_DB"):
    # A worker subprocess started by a test talks to the database the test run created.
    DATABASES["default"]["NAME"] = os.environ["DURABLE_USE_TEST_DB"]

DURABLE_POLL_SECONDS = float(os.environ.get("DURABLE_POLL_SECONDS", "0.2"))
DURABLE_TIMER_POLL_SECONDS = float(os.environ.get("DURABLE_TIMER_POLL_SECONDS", "0.2"))
DURABLE_HEARTBEAT_SECONDS = float(os.environ.get("DURABLE_HEARTBEAT_SECONDS", "1"))
DURABLE_LEASE_SECONDS = float(os.environ.get("DURABLE_LEASE_SECONDS", "60"))

# Queues the test workflows use. Their limits come from DURABLE_TEST_QUEUES (JSON) in worker
# subprocesses, or from override_settings in a test; declared without limits by default.
DURABLE_QUEUES = json.loads(
    os.environ.get("DURABLE_TEST_QUEUES", '{"limited": {}, "emails": {}, "rated": {}}')
)
