"""What the management commands share: a base class that checks the tables are there, and
parsing a JSON option (``--input``) with a one-line error."""

from __future__ import annotations

import json
import pkgutil
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection
from django.db.migrations.recorder import MigrationRecorder

from ..display import one_line


class DurableCommand(BaseCommand):
    """A Django Durable command: it first checks that ``migrate`` has created its tables."""

    def execute(self, *args, **options):
        require_migrated()
        return super().execute(*args, **options)


def require_migrated() -> None:
    """Raise a one-line ``CommandError`` unless every Django Durable migration is applied."""
    from .. import migrations

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
