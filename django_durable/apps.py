from django.apps import AppConfig


class DjangoDurableConfig(AppConfig):
    name = "django_durable"
    verbose_name = "Durable workflows"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created
        from django.utils.module_loading import autodiscover_modules

        from . import checks  # noqa: F401  (registers the system checks)
        from .dialect import configure_connection

        connection_created.connect(configure_connection, dispatch_uid="django_durable")
        autodiscover_modules("durable_activities", "durable_workflows")
        _register_task_workflow()


def _register_task_workflow() -> None:
    # Only in projects whose TASKS use our backend: elsewhere it would be a workflow
    # nobody starts, listed in the admin and durable_status.
    from django.conf import settings

    backends = getattr(settings, "TASKS", None) or {}
    if any(
        isinstance(options, dict)
        and options.get("BACKEND") == "django_durable.tasks.DurableBackend"
        for options in backends.values()
    ):
        from .task_runner import ensure_registered

        ensure_registered()
