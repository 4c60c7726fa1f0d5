"""What the management commands share: a base class that checks the tables are there,
parsing ``--input``, printing values as JSON and tables."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import pkgutil
import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone


class DurableCommand(BaseCommand):
    """A Django Durable command: it first checks that ``migrate`` has created its tables."""

    def execute(self, *args, **options):
        require_migrated()
        return super().execute(*args, **options)


def require_migrated() -> None:
    """Raise a one-line ``CommandError`` unless every Django Durable migration is applied."""
    from . import migrations

    expected = {
        module.name
        for module in pkgutil.iter_modules(migrations.__path__)
        if module.name[0].isdigit()
    }
    try:
        recorder = MigrationRecorder(connection)
        applied = (
            {name for app, name in recorder.applied_migrations() if app == "django_durable"}
            if recorder.has_table()
            else set()
        )
    except DatabaseError as exc:
        raise CommandError(f"cannot reach the database: {one_line(exc)}") from None
    missing = sorted(expected - applied)
    if not missing:
        return
    if not applied:
        raise CommandError(
            "Django Durable's tables do not exist in this database yet: run "
            "`python manage.py migrate` first"
        )
    raise CommandError(
        f"Django Durable's tables are not up to date ({', '.join(missing)} not applied): run "
        "`python manage.py migrate`"
    )


def parse_json(text: str | None, option: str = "--input", *, require_object: bool = True) -> Any:
    """Parse a JSON option; raise a one-line ``CommandError`` when it is not what we need."""
    if text is None:
        return {} if require_object else None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(f"{option} is not valid JSON: {exc.msg} at position {exc.pos}")
    except RecursionError:
        raise CommandError(f"{option} is nested too deeply to parse")
    if require_object and not isinstance(value, dict):
        raise CommandError(
            f"{option} must be a JSON object of keyword arguments, like '{{\"user_id\": 7}}', "
            f"not a JSON {type(value).__name__}"
        )
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def to_json(value: Any, *, indent: int | None = None) -> str:
    """JSON for printing: datetimes as ISO text, Decimal and UUID as strings, bytes base64."""
    return json.dumps(value, default=_json_default, indent=indent, ensure_ascii=False)


def one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def when(moment: dt.datetime | None) -> str:
    """A timestamp for people, in the project's time zone, to the second, with its zone."""
    if moment is None:
        return "-"
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    return f"{moment:%Y-%m-%d %H:%M:%S %Z}".rstrip()


def age(since: dt.datetime | None, now: dt.datetime) -> str:
    """A short human age: 42s, 7m, 3h, 2d."""
    if since is None:
        return "-"
    seconds = max(0, int((now - since).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)
