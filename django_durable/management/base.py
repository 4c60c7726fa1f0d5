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
        try:
            applied = _applied_migrations()
        except DatabaseError:
            if connection.connection is None:
                raise  # it could not connect: saying so at once is the answer
            # Connected, then dropped (a terminated backend, a server restarting under us):
            # one more try on a new connection before calling the database unreachable.
            try:
                connection.close()
            except DatabaseError:
                pass  # closing a dead connection can fail too; it is let go all the same
            applied = _applied_migrations()
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


def _applied_migrations() -> set[str]:
    recorder = MigrationRecorder(connection)
    if not recorder.has_table():
        return set()
    return {name for app, name in recorder.applied_migrations() if app == "django_durable"}


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
