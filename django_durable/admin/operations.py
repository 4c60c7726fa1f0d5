"""The admin's actions on executions: cancel, retry, fork, signal, start, prune.

Each one has a permission of its own (or the broad built-in one: "change" for the actions
on an execution, "add" for starting one), asks for confirmation on a page of its own, goes
through the Python API (the admin never writes a workflow row itself), and is recorded in
Django's admin log. A refusal of the API is shown as its one-line message.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

import django_durable

from .. import repairs
from ..api import start_workflow_with
from ..conf import durable_settings
from ..display import one_line, to_json
from ..exceptions import DurableError
from ..models import LIVE_STATUSES, RunOutcome, StepResult, WorkflowExecution, WorkflowRun
from ..registry import register
from ..step_ids import WAIT_SIGNAL_PREFIX, name_of
from .forms import (
    FINISHED_ORDER,
    CancelForm,
    ForkForm,
    PruneForm,
    SignalForm,
    StartForm,
    signature_of,
)

OPERATION_TEMPLATE = "admin/django_durable/workflowexecution/operation.html"
# The broad built-in permission that also allows each operation.
BROAD_PERMISSION = {
    "cancel": "change",
    "retry": "change",
    "fork": "change",
    "signal": "change",
    "start": "add",
    "prune": "delete",
}
# A list action touches at most this many executions; more is a job for durable_retry.
MAX_SELECTED = 500


class OperationsMixin:
    """URLs, permissions, pages and list actions of the operations (for a ModelAdmin)."""

    def _allowed(self, request, operation: str) -> bool:
        label, model = self.opts.app_label, self.opts.model_name
        return request.user.has_perm(f"{label}.{operation}_{model}") or request.user.has_perm(
            f"{label}.{BROAD_PERMISSION[operation]}_{model}"
        )

    def has_cancel_permission(self, request, obj=None) -> bool:
        return self._allowed(request, "cancel")

    def has_retry_permission(self, request, obj=None) -> bool:
        return self._allowed(request, "retry")

    def has_fork_permission(self, request, obj=None) -> bool:
        return self._allowed(request, "fork")

    def has_signal_permission(self, request, obj=None) -> bool:
        return self._allowed(request, "signal")

    def has_start_permission(self, request) -> bool:
        return self._allowed(request, "start")

    def has_prune_permission(self, request) -> bool:
        return self._allowed(request, "prune")

    def operation_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        urls = [
            path("start/", wrap(self.start_view), name=f"{prefix}_start"),
            path("prune/", wrap(self.prune_view), name=f"{prefix}_prune"),
        ]
        for operation in ("cancel", "retry", "fork", "signal"):
            view = getattr(self, f"{operation}_view")
            urls.append(
                path(f"<path:object_id>/{operation}/", wrap(view), name=f"{prefix}_{operation}")
            )
        return urls

    def admin_url(self, view: str, execution_id: str) -> str:
        """The URL of one of this admin's pages of an execution ("change", "cancel", …)."""
        name = f"admin:{self.opts.app_label}_{self.opts.model_name}_{view}"
        return reverse(name, args=[quote(execution_id)])

    # --- pages on one execution --------------------------------------------------------

    def cancel_view(self, request, object_id):
        execution = self._execution_for(request, object_id, "cancel")
        form = CancelForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            reason = self._reason(request, form.cleaned_data["reason"])
            if self._call(form, django_durable.cancel_workflow, execution.pk, reason):
                self.log_change(request, execution, f"Canceled: {reason}")
                return self._done(request, execution.pk, f"Canceled execution {execution.pk}.")
        return self._page(
            request,
            form,
            execution,
            title="Cancel this execution?",
            intro=(
                "A step already running finishes, but nothing after it runs. The reason is "
                "stored on the execution." + _cascade(execution)
            ),
            submit="Yes, cancel it",
            danger=True,
        )

    def retry_view(self, request, object_id):
        execution = self._execution_for(request, object_id, "retry")
        form = _Confirm(request.POST if request.method == "POST" else None)
        if form.is_valid() and self._call(form, django_durable.retry_workflow, execution.pk):
            self.log_change(request, execution, "Retried")
            return self._done(request, execution.pk, f"Retried execution {execution.pk}.")
        done = StepResult.objects.filter(execution_id=execution.pk, status="COMPLETED").count()
        return self._page(
            request,
            form,
            execution,
            title="Retry this execution?",
            intro=(
                f"It runs again from the step that failed or was interrupted, keeping its "
                f"{done} completed step(s): those are not run again."
            ),
            submit="Yes, retry it",
        )

    def fork_view(self, request, object_id):
        execution = self._execution_for(request, object_id, "fork")
        steps = StepResult.objects.filter(execution_id=execution.pk).order_by("id")
        choices = [
            (step_id, f"{step_id} ({status.lower()})")
            for step_id, status in steps.values_list("step_id", "status")
        ]
        initial = {"from_step": request.GET.get("from_step", "")}
        data = request.POST if request.method == "POST" else None
        form = ForkForm(data, initial=initial, step_choices=choices)
        if form.is_valid():
            step = form.cleaned_data["from_step"]
            new_id = self._call(
                form,
                django_durable.fork_workflow,
                execution.pk,
                from_step=step,
                workflow_id=form.cleaned_data["workflow_id"],
            )
            if new_id:
                fork = WorkflowExecution.objects.get(pk=new_id)
                self.log_addition(request, fork, f"Forked from {execution.pk} at step {step}")
                self.log_change(request, execution, f"Forked at step {step} into {new_id}")
                return self._done(request, new_id, f"Forked {execution.pk} into {new_id}.")
        return self._page(
            request,
            form,
            execution,
            title="Fork this execution from a step",
            intro=(
                "A new execution of the same workflow with the same input starts. It keeps "
                "the steps recorded before the chosen step and runs for real from there. "
                "This execution is not changed."
            ),
            submit="Fork",
        )

    def signal_view(self, request, object_id):
        execution = self._execution_for(request, object_id, "signal")
        initial = {"name": _awaited_signal(execution)}
        form = SignalForm(request.POST if request.method == "POST" else None, initial=initial)
        if form.is_valid():
            name, payload = form.cleaned_data["name"], form.cleaned_data["payload"]
            sent = self._call(form, django_durable.signal_workflow, execution.pk, name, payload)
            if sent is not None:
                shown = one_line_json(payload)
                self.log_change(request, execution, f"Sent signal {name!r}: {shown}")
                return self._done(request, execution.pk, f"Sent signal {name!r}.")
        return self._page(
            request,
            form,
            execution,
            title="Send a signal",
            intro=(
                "The execution receives it at its next ctx.wait_signal of that name (at once "
                "if it waits for it now)."
            ),
            submit="Send",
        )

    def start_view(self, request):
        if not self.has_start_permission(request):
            raise PermissionDenied
        form = StartForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            name, wanted = form.cleaned_data["workflow"], form.cleaned_data["workflow_id"]
            if wanted and WorkflowExecution.objects.filter(pk=wanted).exists():
                form.add_error("workflow_id", f"an execution with id {wanted!r} already exists")
            else:
                inputs = form.cleaned_data["input"]
                new_id = self._call(
                    form,
                    start_workflow_with,
                    name,
                    inputs,
                    workflow_id=wanted,
                    queue=form.cleaned_data["queue"] or None,
                    priority=form.cleaned_data["priority"],
                )
                if new_id:
                    execution = WorkflowExecution.objects.get(pk=new_id)
                    self.log_addition(request, execution, f"Started workflow {name!r}")
                    return self._done(request, new_id, f"Started {name} as {new_id}.")
        workflows = [(name, signature_of(name)) for name in sorted(register.workflows)]
        return self._page(
            request,
            form,
            None,
            title="Start a workflow",
            intro="Start a new execution of a registered workflow.",
            submit="Start",
            extra={"workflows": workflows},
        )

    def prune_view(self, request):
        """Delete finished executions older than some days: count first, then confirm."""
        if not self.has_prune_permission(request):
            raise PermissionDenied
        retention = durable_settings.DURABLE_RETENTION_DAYS
        initial = {"older_than_days": 30 if retention is None else retention}
        initial["statuses"] = list(FINISHED_ORDER)
        form = PruneForm(request.POST if request.method == "POST" else None, initial=initial)
        title, intro, submit, danger = (
            "Prune finished executions",
            "Count the finished executions that ended before the chosen age; nothing is "
            "deleted until you confirm. Their steps, timers, signals and runs go with them.",
            "Count them",
            False,
        )
        if form.is_valid():
            days, statuses = form.cleaned_data["older_than_days"], form.cleaned_data["statuses"]
            key = form.preview_key()
            if form.cleaned_data["counted"] == key:
                pruned = self._call(
                    form, django_durable.prune_workflows, older_than_days=days, statuses=statuses
                )
                if pruned is not None:
                    count = 0 if pruned is True else pruned
                    _log_prune(request, self.opts, count, days, statuses)
                    self.message_user(
                        request,
                        f"Deleted {count} finished execution(s) that ended over {days:g} "
                        "day(s) ago.",
                        messages.SUCCESS,
                    )
                    return HttpResponseRedirect(
                        reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
                    )
            else:
                count = self._call(
                    form,
                    django_durable.prune_workflows,
                    older_than_days=days,
                    statuses=statuses,
                    dry_run=True,
                )
                if count is not None:
                    count = 0 if count is True else count
                    confirmed = request.POST.copy()
                    confirmed["counted"] = key
                    form = PruneForm(confirmed, initial=initial)
                    title = f"Delete {count} finished execution(s)?"
                    intro = (
                        f"{count} execution(s) that ended {', '.join(statuses)} over {days:g} "
                        "day(s) ago will be deleted with their steps, timers, signals and "
                        "runs. This cannot be undone."
                    )
                    submit, danger = f"Yes, delete {count}", True
        return self._page(
            request, form, None, title=title, intro=intro, submit=submit, danger=danger
        )

    # --- list actions ------------------------------------------------------------------

    def cancel_selected(self, request, queryset):
        """Cancel the selected executions, with one reason, after a confirmation page."""
        ids = self._selected_ids(request, queryset)
        if ids is None:
            return None
        form = CancelForm(request.POST if request.POST.get("confirm") else None)
        if form.is_valid():
            reason = self._reason(request, form.cleaned_data["reason"])
            rows = {row.pk: row for row in WorkflowExecution.objects.filter(pk__in=ids)}
            canceled = 0
            for eid in ids:
                try:
                    django_durable.cancel_workflow(eid, reason)
                except DurableError as exc:
                    self.message_user(request, one_line(exc), messages.WARNING)
                    continue
                canceled += 1
                self.log_change(request, rows[eid], f"Canceled: {reason}")
            if canceled:
                self.message_user(request, f"Canceled {canceled} execution(s).", messages.SUCCESS)
            return None
        return self._action_page(
            request, "cancel_selected", ids, form, "Cancel these executions?", "Yes, cancel them"
        )

    cancel_selected.allowed_permissions = ("cancel",)
    cancel_selected.short_description = "Cancel selected executions…"

    def retry_selected(self, request, queryset):
        """Retry the selected executions after a confirmation page."""
        ids = self._selected_ids(request, queryset)
        if ids is None:
            return None
        form = _Confirm(request.POST if request.POST.get("confirm") else None)
        if form.is_valid():
            outcome = repairs.retry_workflows(ids)
            rows = WorkflowExecution.objects.in_bulk([eid for eid, e in outcome.items() if not e])
            for eid, error in outcome.items():
                if error is not None:
                    self.message_user(request, one_line(error), messages.WARNING)
                elif eid in rows:
                    self.log_change(request, rows[eid], "Retried")
            if rows:
                self.message_user(request, f"Retried {len(rows)} execution(s).", messages.SUCCESS)
            return None
        return self._action_page(
            request, "retry_selected", ids, form, "Retry these executions?", "Yes, retry them"
        )

    retry_selected.allowed_permissions = ("retry",)
    retry_selected.short_description = "Retry selected executions…"

    # --- helpers -----------------------------------------------------------------------

    def _execution_for(self, request, object_id, operation: str) -> WorkflowExecution:
        if not getattr(self, f"has_{operation}_permission")(request):
            raise PermissionDenied
        execution = self.get_object(request, unquote(object_id))
        if execution is None:
            raise Http404(f"no workflow execution with id {unquote(object_id)!r}")
        return execution

    @staticmethod
    def _call(form, function, *args, **kwargs):
        """Call the API; on a refusal, put its one-line message on the form, return None."""
        try:
            result = function(*args, **kwargs)
        except DurableError as exc:
            form.add_error(None, one_line(exc))
            return None
        return True if result is None else result

    @staticmethod
    def _reason(request, given: str) -> str:
        who = request.user.get_username()
        return f"{given.strip()} ({who} in the admin)" if given.strip() else f"{who} in the admin"

    def _done(self, request, execution_id: str, message: str):
        self.message_user(request, message, messages.SUCCESS)
        return HttpResponseRedirect(self.admin_url("change", execution_id))

    def _page(self, request, form, execution, *, title, intro, submit, danger=False, extra=None):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "form": form,
            "execution": execution,
            "intro": intro,
            "submit_label": submit,
            "danger": danger,
            **(extra or {}),
        }
        return TemplateResponse(request, OPERATION_TEMPLATE, context)

    def _selected_ids(self, request, queryset) -> list[str] | None:
        ids = list(queryset.order_by().values_list("pk", flat=True)[: MAX_SELECTED + 1])
        if len(ids) > MAX_SELECTED:
            self.message_user(
                request,
                f"Select at most {MAX_SELECTED} executions at once (use durable_retry or "
                "durable_cancel for more).",
                messages.ERROR,
            )
            return None
        return ids

    def _action_page(self, request, action, ids, form, title, submit):
        shown = WorkflowExecution.objects.filter(pk__in=ids).only("id", "workflow_name", "status")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "form": form,
            "action": action,
            "selected": list(shown.order_by("-created_at")),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "select_across": request.POST.get("select_across", "0"),
            "submit_label": submit,
            "danger": action == "cancel_selected",
        }
        return TemplateResponse(request, OPERATION_TEMPLATE, context)


def _log_prune(request, opts, count: int, days: float, statuses: list[str]) -> None:
    # One entry for the whole prune: the executions are gone, so it names none of them.
    from django.contrib.admin.models import DELETION, LogEntry
    from django.contrib.contenttypes.models import ContentType

    LogEntry.objects.create(
        user_id=request.user.pk,
        content_type=ContentType.objects.get_for_model(opts.model),
        object_id="",
        object_repr=f"{count} execution(s)"[:200],
        action_flag=DELETION,
        change_message=(
            f"Pruned {count} execution(s) that ended {', '.join(statuses)} over {days:g} day(s) ago"
        ),
    )


class _Confirm(forms.Form):
    """A form with no field: posting it is the confirmation."""


def _cascade(execution: WorkflowExecution) -> str:
    """What else a cancel ends: the unfinished executions this one started."""
    live = WorkflowExecution.objects.filter(parent=execution.pk, status__in=list(LIVE_STATUSES))
    count = live.count()
    if not count:
        return ""
    them = "it is" if count == 1 else "they are"
    return (
        f" It started {count} execution(s) that have not finished: {them} canceled with it, "
        "and so are the unfinished executions they started."
    )


def _awaited_signal(execution: WorkflowExecution) -> str:
    """The name of the signal the execution waits for now, if it does."""
    if execution.status not in LIVE_STATUSES:
        return ""
    run = WorkflowRun.objects.filter(execution_id=execution.pk, epoch=execution.lease_epoch).first()
    if run is None or run.outcome != RunOutcome.WAITING_SIGNAL:
        return ""
    name = name_of(run.waiting_on)
    return name[len(WAIT_SIGNAL_PREFIX) :] if name.startswith(WAIT_SIGNAL_PREFIX) else ""


def one_line_json(value, width: int = 200) -> str:
    text = to_json(value)
    return text if len(text) <= width else text[: width - 1] + "…"
