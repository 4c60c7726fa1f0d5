"""Admin pages for support staff: executions with their steps, timers and signals.

Everything is read-only except cancel, an action that needs the change permission.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.html import format_html

from . import serialization
from .cli import to_json
from .exceptions import DurableError
from .models import Signal, StepResult, Timer, WorkflowExecution


def _decoded(data) -> str:
    try:
        return to_json(serialization.loads(data), indent=2)
    except Exception as exc:  # noqa: BLE001 - show what is stored even if it is odd
        return f"<cannot decode: {exc}>"


def _pre(text: str):
    # format_html escapes the payload: stored values are user data.
    return format_html('<pre style="white-space: pre-wrap; margin: 0">{}</pre>', text)


class ReadOnlyMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class StepResultInline(ReadOnlyMixin, admin.TabularInline):
    model = StepResult
    extra = 0
    fields = ("step_id", "name", "status", "attempts", "started_at", "finished_at", "outcome")
    readonly_fields = fields
    ordering = ("id",)
    show_change_link = True

    @admin.display(description="result / error")
    def outcome(self, obj):
        if obj.status == "FAILED":
            return _pre(f"{obj.error_type}: {obj.error_message}")
        return _pre(_decoded(obj.result))


class TimerInline(ReadOnlyMixin, admin.TabularInline):
    model = Timer
    extra = 0
    fields = ("step_id", "kind", "due_at", "created_at")
    readonly_fields = fields


class SignalInline(ReadOnlyMixin, admin.TabularInline):
    model = Signal
    extra = 0
    fields = ("name", "payload_display", "created_at", "consumed_at", "consumed_by_step_id")
    readonly_fields = fields

    @admin.display(description="payload")
    def payload_display(self, obj):
        return _pre(_decoded(obj.payload))


@admin.register(WorkflowExecution)
class WorkflowExecutionAdmin(admin.ModelAdmin):
    list_display = ("id", "workflow_name", "status", "created_at", "updated_at", "runs")
    list_filter = ("status", "workflow_name")
    search_fields = ("id",)
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    actions = ["cancel_executions"]
    inlines = [StepResultInline, TimerInline, SignalInline]
    fields = (
        "id",
        "workflow_name",
        "status",
        "input_display",
        "result_display",
        "error_type",
        "error_message",
        "error_traceback_display",
        "cancel_reason",
        "created_at",
        "started_at",
        "updated_at",
        "finished_at",
        "deadline_at",
        "runs",
        "lease_owner",
        "lease_expires_at",
        "lease_epoch",
    )
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # Viewing needs only the view permission; the cancel action asks for "change".
        return request.method in ("GET", "HEAD") and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="input")
    def input_display(self, obj):
        return _pre(_decoded(obj.input))

    @admin.display(description="result")
    def result_display(self, obj):
        return _pre(_decoded(obj.result)) if obj.result is not None else "-"

    @admin.display(description="traceback")
    def error_traceback_display(self, obj):
        return _pre(obj.error_traceback) if obj.error_traceback else "-"

    @admin.action(description="Cancel selected executions", permissions=["cancel"])
    def cancel_executions(self, request, queryset):
        from .api import cancel_workflow

        canceled, skipped = 0, []
        for execution_id in queryset.values_list("id", flat=True):
            try:
                cancel_workflow(execution_id, reason=f"canceled in the admin by {request.user}")
                canceled += 1
            except DurableError as exc:
                skipped.append(str(exc))
        if canceled:
            self.message_user(request, f"Canceled {canceled} execution(s).", messages.SUCCESS)
        for message in skipped:
            self.message_user(request, message, messages.WARNING)

    def has_cancel_permission(self, request):
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")


@admin.register(StepResult)
class StepResultAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("step_id", "execution", "name", "status", "attempts", "finished_at")
    list_filter = ("status",)
    search_fields = ("execution__id", "step_id", "name")
    list_select_related = ("execution",)
    fields = (
        "execution",
        "step_id",
        "name",
        "status",
        "attempts",
        "started_at",
        "finished_at",
        "result_display",
        "error_type",
        "error_message",
        "error_traceback",
    )
    readonly_fields = fields

    @admin.display(description="result")
    def result_display(self, obj):
        return _pre(_decoded(obj.result))


@admin.register(Timer)
class TimerAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("execution", "step_id", "kind", "due_at")
    list_filter = ("kind",)
    search_fields = ("execution__id",)


@admin.register(Signal)
class SignalAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ("execution", "name", "created_at", "consumed_at")
    search_fields = ("execution__id", "name")
    fields = (
        "execution",
        "name",
        "payload_display",
        "created_at",
        "consumed_at",
        "consumed_by_step_id",
    )
    readonly_fields = fields

    @admin.display(description="payload")
    def payload_display(self, obj):
        return _pre(_decoded(obj.payload))
