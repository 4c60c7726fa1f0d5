"""System checks: settings that would make the engine misbehave are reported at start-up."""

from __future__ import annotations

from django.conf import settings
from django.core import checks

from .conf import DEFAULTS, durable_settings

_POSITIVE = [
    "DURABLE_LEASE_SECONDS",
    "DURABLE_HEARTBEAT_SECONDS",
    "DURABLE_POLL_SECONDS",
    "DURABLE_TIMER_POLL_SECONDS",
    "DURABLE_TIMER_BATCH_SIZE",
    "DURABLE_SQLITE_BUSY_TIMEOUT_MS",
]


@checks.register()
def check_settings(app_configs=None, **kwargs):
    errors = []
    for name in _POSITIVE:
        value = getattr(durable_settings, name)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            errors.append(
                checks.Error(
                    f"{name} must be a positive number, not {value!r}",
                    hint=f"Remove it to use the default ({DEFAULTS[name]!r}).",
                    id="django_durable.E001",
                )
            )
    lease, beat = durable_settings.DURABLE_LEASE_SECONDS, durable_settings.DURABLE_HEARTBEAT_SECONDS
    if not errors and beat * 2 > lease:
        errors.append(
            checks.Error(
                f"DURABLE_HEARTBEAT_SECONDS ({beat}) must be at most half of "
                f"DURABLE_LEASE_SECONDS ({lease}), or leases expire under running workers",
                id="django_durable.E002",
            )
        )
    retention = durable_settings.DURABLE_RETENTION_DAYS
    if retention is not None and (
        not isinstance(retention, (int, float)) or isinstance(retention, bool) or retention < 0
    ):
        errors.append(
            checks.Error(
                f"DURABLE_RETENTION_DAYS must be None or a number of days >= 0, not {retention!r}",
                hint="None keeps every finished execution; 30 deletes them 30 days after they end.",
                id="django_durable.E003",
            )
        )
    return errors


@checks.register()
def check_time_zone_support(app_configs=None, **kwargs):
    if getattr(settings, "USE_TZ", True):
        return []
    return [
        checks.Warning(
            "USE_TZ is False: leases and timers are stored in local time, so a daylight "
            "saving change can expire every lease at once or delay timers by an hour",
            hint="Set USE_TZ = True (Django's default since 5.0).",
            id="django_durable.W001",
        )
    ]


@checks.register()
def check_queues(app_configs=None, **kwargs):
    from .queues import QueueSettingError, configured
    from .registry import register

    try:
        queues = configured()
    except QueueSettingError as exc:
        return [checks.Error(str(exc), id="django_durable.E004")]
    return [
        checks.Error(
            f"workflow {definition.name!r} is registered on queue {definition.queue!r}, "
            "which DURABLE_QUEUES does not declare",
            hint=f'Add "{definition.queue}": {{}} (or its limits) to DURABLE_QUEUES.',
            obj=definition.module,
            id="django_durable.E005",
        )
        for definition in register.workflows.values()
        if definition.queue not in queues
    ]
