"""The executions list, the execution page and the schedules page: read-only, with the
actions of operations."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode

from ..display import age
from ..models import LIVE_STATUSES, Status, WorkflowExecution
from ..registry import register, scheduled_workflows
from . import detail, scheduled
from .formatting import between, duration, full_moment, status_badge
from .listing import (
    CappedPaginator,
    ErrorTypeFilter,
    ParentFilter,
    QueueFilter,
    WorkflowFilter,
    page_facts,
    search_condition,
)
from .operations import OperationsMixin
from .rows import table_parts
from .waits import awaited_execution, waiting_for, waiting_for_html

DETAIL_TEMPLATE = "admin/django_durable/workflowexecution/detail.html"
SCHEDULES_TEMPLATE = "admin/django_durable/workflowexecution/schedules.html"
# The list never reads these: the payloads and tracebacks can be large.
LIST_DEFERRED = ("input", "result", "error_traceback")


class ExecutionChangeList(ChangeList):
    """Load the facts of the page's rows in a few queries once the page is known."""

    def get_queryset(self, request, exclude_parameters=None):
        return super().get_queryset(request, exclude_parameters).defer(*LIST_DEFERRED)

    def get_results(self, request):
        super().get_results(request)
        few = self.paginator.few
        if few is not None:
            # All the rows fit on this page and their keys are known: read them by key.
            self.result_list = self.queryset.filter(pk__in=few)
        rows = list(self.result_list)
        facts = page_facts(rows)
        now = timezone.now()
        for row in rows:
            row.facts = facts[row.pk]
            row.now = now
        self.result_list = rows
        self.table_header, self.table_rows = table_parts(self.model_admin, self.list_display, rows)


@admin.register(WorkflowExecution)
class WorkflowExecutionAdmin(OperationsMixin, admin.ModelAdmin):
    list_display = (
        "execution_id",
        "status_column",
        "workflow_column",
        "step_column",
        "waiting_column",
        "age_column",
        "duration_column",
    )
    list_display_links = ("execution_id",)
    list_filter = (
        "status",
        WorkflowFilter,
        QueueFilter,
        ("created_at", admin.DateFieldListFilter),
        ErrorTypeFilter,
        ParentFilter,
    )
    search_fields = ("id",)  # shows the box; get_search_results does the searching
    search_help_text = (
        "An execution id (or its beginning), a workflow name, or text inside the inputs "
        "(e.g. an order id)."
    )
    # Newest first, and no sortable column: on 100,000 rows each other order is a full sort.
    ordering = ("-created_at",)
    sortable_by = ()
    list_per_page = 50
    paginator = CappedPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = ["cancel_selected", "retry_selected"]

    class Media:
        css = {"all": ["django_durable/admin.css"]}

    # --- nothing is added, edited or deleted here: every change goes through the API ---

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        schedules = path(
            "schedules/",
            self.admin_site.admin_view(self.schedules_view),
            name=f"{self.opts.app_label}_{self.opts.model_name}_schedules",
        )
        return [schedules, *self.operation_urls(), *super().get_urls()]

    def get_changelist(self, request, **kwargs):
        return ExecutionChangeList

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        return search_condition(queryset, term), False

    def changelist_view(self, request, extra_context=None):
        extra = {
            "can_start": self.has_start_permission(request),
            "can_prune": self.has_prune_permission(request),
            "has_schedules": bool(scheduled_workflows(register)),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra)

    def schedules_view(self, request):
        """The scheduled workflows: cron, time zone, the last tick's execution, the next tick."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            **scheduled.page_context(),
            "opts": self.opts,
            "title": "Scheduled workflows",
            "subtitle": None,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, SCHEDULES_TEMPLATE, context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """Show the execution page; there is no form: nothing here is saved."""
        if request.method not in ("GET", "HEAD"):
            raise PermissionDenied
        execution = self.get_object(request, unquote(object_id))
        if execution is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_permission(request, execution):
            raise PermissionDenied
        live = execution.status in LIVE_STATUSES
        retryable = execution.status in (Status.FAILED, Status.CANCELED, Status.TIMED_OUT)
        context = {
            **self.admin_site.each_context(request),
            **detail.page_context(execution, timezone.now()),
            "opts": self.opts,
            "title": f"{execution.workflow_name} {execution.pk}",
            "subtitle": None,
            "object_id": object_id,
            "original": execution,
            "can_cancel": live and self.has_cancel_permission(request),
            "can_retry": retryable and self.has_retry_permission(request),
            "can_fork": self.has_fork_permission(request),
            "can_signal": live and self.has_signal_permission(request),
            "fork_url": self.admin_url("fork", execution.pk),
            "steps_list_url": reverse("admin:django_durable_stepresult_changelist")
            + "?"
            + urlencode({"q": execution.pk}),
            "forked_from_url": (
                self.admin_url("change", execution.forked_from) if execution.forked_from else ""
            ),
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, DETAIL_TEMPLATE, context)

    # --- the list's columns ------------------------------------------------------------

    @admin.display(description="execution")
    def execution_id(self, obj):
        return format_html('<span class="dd-id" title="{}">{}</span>', obj.pk, obj.pk)

    @admin.display(description="status")
    def status_column(self, obj):
        title = f"{obj.error_type}: {obj.error_message}" if obj.error_type else ""
        return status_badge(obj.status, title)

    @admin.display(description="workflow")
    def workflow_column(self, obj):
        name = obj.workflow_name
        title = f"{name} · queue {obj.queue} · priority {obj.priority}"
        if obj.parent:
            title += f" · started by {obj.parent}"
        workflow = format_html(
            '<span class="dd-mono dd-workflow" title="{}">{}</span>', title, name
        )
        if obj.queue == "default":
            return workflow
        return format_html(
            '{} <span class="dd-muted dd-queue" title="{}">{}</span>',
            workflow,
            f"queue {obj.queue}",
            obj.queue,
        )

    @admin.display(description="step · done")
    def step_column(self, obj):
        facts = obj.facts
        current = facts.running_step
        if not current and facts.latest_run is not None and facts.latest_run.outcome:
            current = facts.latest_run.waiting_on
        current = current or facts.last_step
        done = str(facts.steps_done)
        if not current:
            return format_html('<span class="dd-muted">{}</span>', done)
        return format_html(
            '<span class="dd-step" title="{}">{}</span> <span class="dd-muted">· {}</span>',
            f"{current} ({done} steps done)",
            current,
            done,
        )

    @admin.display(description="waiting for / outcome")
    def waiting_column(self, obj):
        text = waiting_for(obj, obj.facts, obj.now)
        if awaited_execution(obj, obj.facts):  # the execution it waits for, as a link
            return format_html(
                '<span title="{}">{}</span>', text, waiting_for_html(obj, obj.facts, obj.now)
            )
        return format_html('<span title="{}">{}</span>', text, text)

    @admin.display(description="age")
    def age_column(self, obj):
        return format_html(
            '<span title="created {}">{}</span>',
            full_moment(obj.created_at),
            age(obj.created_at, obj.now),
        )

    @admin.display(description="took")
    def duration_column(self, obj):
        if obj.started_at is None:
            return format_html('<span class="dd-muted" title="{}">—</span>', "not started")
        end = obj.finished_at or obj.now
        return format_html(
            '<span title="{}">{}</span>',
            "so far" if obj.finished_at is None else f"finished {full_moment(obj.finished_at)}",
            duration(between(obj.started_at, end)),
        )
