"""Read-only lists of the other tables: steps, timers, signals, runs and workers.

Each list can be long (a million steps): none counts its whole table, and none reads a
related row per line.
"""

from __future__ import annotations

import json

from django.contrib import admin
from django.contrib.admin.utils import quote
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from ..conf import durable_settings
from ..models import Signal, StepResult, Timer, WorkerProcess, WorkflowRun
from . import payloads
from .formatting import between, duration, full_moment, outcome_badge
from .listing import CappedPaginator


class ReadOnlyAdmin(admin.ModelAdmin):
    paginator = CappedPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 100

    class Media:
        css = {"all": ["django_durable/admin.css"]}

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="execution", ordering="execution_id")
    def execution_link(self, obj):
        url = reverse(
            "admin:django_durable_workflowexecution_change", args=[quote(obj.execution_id)]
        )
        return format_html(
            '<a class="dd-id" href="{}" title="{}">{}</a>', url, obj.execution_id, obj.execution_id
        )

    def get_search_results(self, request, queryset, search_term):
        # An exact execution id uses the index every one of these tables has on it.
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(execution_id=term), False


@admin.register(StepResult)
class StepResultAdmin(ReadOnlyAdmin):
    list_display = ("step_id", "execution_link", "name", "status", "attempts", "finished_at")
    list_filter = ("status",)
    search_fields = ("execution__id",)
    search_help_text = "An execution id (exact)."
    ordering = ("-id",)
    fields = (
        "execution_link",
        "step_id",
        "name",
        "status",
        "attempts",
        "started_at",
        "finished_at",
        "took",
        "result_display",
        "error_type",
        "error_message",
        "traceback_display",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).defer("result", "error_traceback")

    def get_object(self, request, object_id, from_field=None):
        # The list defers the payload; the page of one step shows it.
        return StepResult.objects.filter(pk=object_id).first() if object_id.isdigit() else None

    @admin.display(description="took")
    def took(self, obj):
        return duration(between(obj.started_at, obj.finished_at))

    @admin.display(description="result")
    def result_display(self, obj):
        return payloads.render(obj.result)

    @admin.display(description="traceback")
    def traceback_display(self, obj):
        if not obj.error_traceback:
            return "—"
        return format_html('<pre class="dd-traceback">{}</pre>', obj.error_traceback)


@admin.register(Timer)
class TimerAdmin(ReadOnlyAdmin):
    list_display = ("execution_link", "step_id", "kind", "due_at", "created_at")
    list_filter = ("kind",)
    search_fields = ("execution__id",)
    search_help_text = "An execution id (exact)."
    ordering = ("due_at",)


@admin.register(Signal)
class SignalAdmin(ReadOnlyAdmin):
    list_display = ("execution_link", "name", "created_at", "consumed_at", "consumed_by_step_id")
    search_fields = ("execution__id",)
    search_help_text = "An execution id (exact)."
    ordering = ("-id",)
    fields = (
        "execution_link",
        "name",
        "payload_display",
        "created_at",
        "consumed_at",
        "consumed_by_step_id",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).defer("payload")

    def get_object(self, request, object_id, from_field=None):
        return Signal.objects.filter(pk=object_id).first() if object_id.isdigit() else None

    @admin.display(description="payload")
    def payload_display(self, obj):
        return payloads.render(obj.payload)


@admin.register(WorkflowRun)
class WorkflowRunAdmin(ReadOnlyAdmin):
    list_display = (
        "execution_link",
        "epoch",
        "worker",
        "started_at",
        "took",
        "outcome_column",
        "waiting_on",
    )
    list_filter = ("outcome",)
    search_fields = ("execution__id",)
    search_help_text = "An execution id (exact)."
    ordering = ("-id",)

    @admin.display(description="took")
    def took(self, obj):
        return duration(between(obj.started_at, obj.ended_at or timezone.now()))

    @admin.display(description="outcome", ordering="outcome")
    def outcome_column(self, obj):
        return outcome_badge(obj.outcome)


@admin.register(WorkerProcess)
class WorkerProcessAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "state",
        "host",
        "pid",
        "threads",
        "queues_column",
        "last_heartbeat_at",
        "running",
    )
    list_filter = (("stopped_at", admin.EmptyFieldListFilter),)
    search_fields = ("id", "host")
    ordering = ("-last_heartbeat_at",)

    def get_search_results(self, request, queryset, search_term):
        return admin.ModelAdmin.get_search_results(self, request, queryset, search_term)

    @admin.display(description="state")
    def state(self, obj):
        if obj.stopped_at is not None:
            return format_html('<span class="dd-badge dd-status-canceled">{}</span>', "stopped")
        silent = between(obj.last_heartbeat_at, timezone.now())
        if silent > float(durable_settings.DURABLE_LEASE_SECONDS):
            return format_html(
                '<span class="dd-badge dd-status-failed" title="{}">{}</span>',
                f"no heartbeat for {duration(silent)}",
                "dead",
            )
        return format_html('<span class="dd-badge dd-status-completed">{}</span>', "running")

    @admin.display(description="queues")
    def queues_column(self, obj):
        return obj.queues or "all"

    @admin.display(description="running now")
    def running(self, obj):
        try:
            steps = json.loads(obj.current_steps) if obj.current_steps else {}
        except ValueError:
            steps = {}
        if not steps or obj.stopped_at is not None:
            return "—"
        return format_html(
            '<span title="as of {}">{}</span>',
            full_moment(obj.last_heartbeat_at),
            "; ".join(f"{eid}: {step}" for eid, step in sorted(steps.items())[:5])
            + (f"; … {len(steps)} in all" if len(steps) > 5 else ""),
        )
