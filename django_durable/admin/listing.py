"""What the executions list needs to stay fast on a big table.

* a paginator that counts at most ``CAP`` rows, never the whole table;
* filters whose choices cost no scan (registered workflow names; error types of recent
  failures only);
* a search that also looks inside the stored inputs, on every database;
* the facts of one page (steps, the latest run, timers, the step a worker runs now) loaded in a
  fixed number of queries, whatever the number of rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property

import msgpack
from django.contrib import admin
from django.core.paginator import Paginator
from django.db.models import BinaryField, Count, F, Func, IntegerField, Max, Q, Value

from ..conf import durable_settings
from ..models import (
    LIVE_STATUSES,
    Status,
    StepResult,
    Timer,
    WorkerProcess,
    WorkflowExecution,
    WorkflowRun,
)
from ..queues import DEFAULT_QUEUE
from ..registry import register


class CappedPaginator(Paginator):
    """Count at most ``cap + 1`` rows: "more than 5000" is all a person needs to know.

    A full ``COUNT(*)`` reads every row of a 100,000-execution table on every page view.
    First, up to a page and one of primary keys are read: when that is all there is (a
    search for one order, a narrow filter), they are the count and the page, and a slow
    condition (a search inside the inputs) is evaluated over the table once, not twice.
    """

    cap = 5_000
    # The primary keys of every matching row, when they fit on one page.
    few: list | None = None

    @cached_property
    def count(self) -> int:
        # Without ORDER BY: the database takes the first rows it finds, it sorts nothing.
        unordered = self.object_list.order_by()
        few = list(unordered.values_list("pk", flat=True)[: self.per_page + 1])
        if len(few) <= self.per_page:
            self.few = few
            return len(few)
        return unordered[: self.cap + 1].count()

    @property
    def capped(self) -> bool:
        return self.count > self.cap


class BytesPosition(Func):
    """Where ``needle`` starts in the bytes of ``haystack`` (1-based; 0 when absent).

    SQLite's INSTR, PostgreSQL's POSITION and MySQL's LOCATE all compare bytes when given
    bytes (a BLOB, a bytea, a LONGBLOB), so a stored input is searched as it is stored.
    """

    function = "INSTR"
    output_field = IntegerField()

    def __init__(self, haystack, needle):
        super().__init__(haystack, needle)

    def _needle_first(self, compiler, connection, **extra):
        clone = self.copy()
        clone.set_source_expressions(self.get_source_expressions()[::-1])
        return Func.as_sql(clone, compiler, connection, **extra)

    def as_postgresql(self, compiler, connection, **extra):
        return self._needle_first(
            compiler, connection, function="POSITION", arg_joiner=" IN ", **extra
        )

    def as_mysql(self, compiler, connection, **extra):
        return self._needle_first(compiler, connection, function="LOCATE", **extra)


def input_needles(term: str) -> list[bytes]:
    """The byte strings that a search term leaves in a msgpack-encoded input.

    msgpack stores a string as its UTF-8 bytes after a short header, so a substring of a
    stored string is a substring of the stored bytes. A large integer (an order number)
    is stored as a fixed-width big-endian number: its encoding is searched too. Small
    integers are not: their one to three bytes would match almost anything.
    """
    needles = [term.encode()]
    stripped = term.strip()
    if stripped.lstrip("-").isdigit() and abs(int(stripped)) >= 2**16:
        try:
            needles.append(msgpack.packb(int(stripped)))
        except OverflowError:
            pass
    return needles


def search_condition(queryset, term: str):
    """Filter ``queryset`` to executions matching ``term`` by id, workflow name or input.

    A term that is an execution's whole id finds that execution alone, through the primary
    key, without reading every row's input.
    """
    if WorkflowExecution.objects.filter(pk=term).exists():
        return queryset.filter(pk=term)
    aliases = {
        f"_input_has_{n}": BytesPosition(F("input"), Value(needle, output_field=BinaryField()))
        for n, needle in enumerate(input_needles(term))
    }
    condition = Q(pk=term) | Q(pk__startswith=term) | Q(workflow_name__icontains=term)
    for name in aliases:
        condition |= Q(**{f"{name}__gt": 0})
    return queryset.alias(**aliases).filter(condition)


class WorkflowFilter(admin.SimpleListFilter):
    """The registered workflows: known without reading the table."""

    title = "workflow"
    parameter_name = "workflow"

    def lookups(self, request, model_admin):
        # The chosen name too: executions of a workflow no longer registered stay findable.
        chosen = self.value()
        return [(name, name) for name in sorted(set(register.workflows) | {chosen} - {None})]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(workflow_name=value) if value else queryset


class QueueFilter(admin.SimpleListFilter):
    """The queues known without reading the table: ``DURABLE_QUEUES`` and the workflows'."""

    title = "queue"
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        names = {DEFAULT_QUEUE, self.value()} - {None}
        names.update(definition.queue for definition in register.workflows.values())
        raw = durable_settings.DURABLE_QUEUES
        if isinstance(raw, dict):  # a malformed setting is the system checks' to report
            names.update(name for name in raw if isinstance(name, str))
        return [(name, name) for name in sorted(names)]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(queue=value) if value else queryset


class ParentFilter(admin.SimpleListFilter):
    """Executions started by one execution (``?parent=<id>``), by any, or by none.

    Each choice reads the index on ``parent``. The execution page links to the first.
    """

    title = "parent execution"
    parameter_name = "parent"
    NONE = "~none"
    ANY = "~any"

    def lookups(self, request, model_admin):
        choices = [
            (self.NONE, "none (top level)"),
            (self.ANY, "any (child executions)"),
        ]
        value = self.value()
        if value and value not in (self.NONE, self.ANY):
            shown = value if len(value) <= 24 else value[:23] + "…"
            choices.append((value, f"child of {shown}"))
        return choices

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if value == self.NONE:
            return queryset.filter(parent="")
        if value == self.ANY:
            return queryset.filter(parent__gt="")
        return queryset.filter(parent=value)


class ErrorTypeFilter(admin.SimpleListFilter):
    """Root error types of the latest failures: a bounded read, not a DISTINCT over every row.

    The root type, not ``error_type``: a workflow that failed because a step failed raised
    ``StepFailed``, and what support staff look for is the step's own error (a
    ``ConnectionError``, a ``KeyError``).
    """

    title = "error type"
    parameter_name = "error_type"
    recent = 500  # per status

    def lookups(self, request, model_admin):
        # One query per status: each reads the (status, finished_at) index backwards and
        # stops after ``recent`` rows; an IN over both statuses would sort them all.
        types = {self.value()} - {None}
        for status in (Status.FAILED, Status.TIMED_OUT):
            latest = WorkflowExecution.objects.filter(status=status).order_by("-finished_at")
            types.update(latest.values_list("root_error_type", flat=True)[: self.recent])
        types = sorted(types - {""})
        return [(kind, kind.rsplit(".", 1)[-1]) for kind in types]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(root_error_type=value) if value else queryset


@dataclass
class RowFacts:
    """What one list row shows beyond its own columns."""

    steps_done: int = 0
    last_step: str = ""
    latest_run: WorkflowRun | None = None
    timers: list[Timer] = field(default_factory=list)
    running_step: str = ""


def page_facts(executions: list[WorkflowExecution]) -> dict[str, RowFacts]:
    """The facts of every execution on a page, in at most five queries."""
    facts = {execution.pk: RowFacts() for execution in executions}
    if not facts:
        return facts
    ids = list(facts)
    last_step_pks = []
    steps = StepResult.objects.filter(execution_id__in=ids).values("execution_id")
    for row in steps.annotate(done=Count("id"), last=Max("id")).order_by():
        facts[row["execution_id"]].steps_done = row["done"]
        last_step_pks.append(row["last"])
    if last_step_pks:
        for eid, step_id in StepResult.objects.filter(pk__in=last_step_pks).values_list(
            "execution_id", "step_id"
        ):
            facts[eid].last_step = step_id
    live = [e for e in executions if e.status in LIVE_STATUSES]
    if live:
        # The latest run of each live execution is the one at its lease epoch.
        latest = Q()
        for execution in live:
            latest |= Q(execution_id=execution.pk, epoch=execution.lease_epoch)
        for run in WorkflowRun.objects.filter(latest):
            facts[run.execution_id].latest_run = run
        for timer in Timer.objects.filter(execution_id__in=[e.pk for e in live]):
            facts[timer.execution_id].timers.append(timer)
    running = {e.pk: e.lease_owner for e in live if e.status == "RUNNING" and e.lease_owner}
    if running:
        workers = WorkerProcess.objects.filter(id__in=set(running.values()))
        current = {}
        for worker_id, steps_json in workers.values_list("id", "current_steps"):
            try:
                current[worker_id] = json.loads(steps_json) if steps_json else {}
            except ValueError:
                current[worker_id] = {}
        for eid, owner in running.items():
            facts[eid].running_step = current.get(owner, {}).get(eid, "")
    return facts
