"""The tables of Django Durable. Only the ``store`` package changes their rows."""

from __future__ import annotations

from django.db import models

from . import serialization


class Status(models.TextChoices):
    PENDING = "PENDING", "Pending"
    RUNNING = "RUNNING", "Running"
    SLEEPING = "SLEEPING", "Sleeping"
    WAITING = "WAITING", "Waiting"
    COMPLETED = "COMPLETED", "Completed"
    FAILED = "FAILED", "Failed"
    CANCELED = "CANCELED", "Canceled"
    TIMED_OUT = "TIMED_OUT", "Timed out"


FINAL_STATUSES = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELED, Status.TIMED_OUT})
LIVE_STATUSES = frozenset({Status.PENDING, Status.RUNNING, Status.SLEEPING, Status.WAITING})


class StepStatus(models.TextChoices):
    COMPLETED = "COMPLETED", "Completed"
    FAILED = "FAILED", "Failed"


class TimerKind(models.TextChoices):
    SLEEP = "SLEEP", "Sleep"
    RETRY = "RETRY", "Retry backoff"
    SIGNAL_TIMEOUT = "SIGNAL_TIMEOUT", "Signal timeout"
    # ctx.wait_workflow(..., timeout=...): the wait ends with WaitTimeout.
    CHILD_TIMEOUT = "CHILD_TIMEOUT", "Wait timeout"
    WORKFLOW_TIMEOUT = "WORKFLOW_TIMEOUT", "Workflow timeout"


class WorkflowExecution(models.Model):
    """One execution of a workflow, from start to end."""

    id = models.CharField(primary_key=True, max_length=255)
    workflow_name = models.CharField(max_length=255)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    input = models.BinaryField()
    result = models.BinaryField(null=True, blank=True)
    error_type = models.CharField(max_length=255, blank=True, default="")
    # The error at the root of a failure: for a workflow that failed because a step failed
    # (error_type StepFailed), that step's own error type; otherwise error_type again.
    root_error_type = models.CharField(max_length=255, blank=True, default="", db_index=True)
    error_message = models.TextField(blank=True, default="")
    error_traceback = models.TextField(blank=True, default="")
    cancel_reason = models.TextField(blank=True, default="")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(null=True, blank=True)
    # The lease: who runs the execution now, until when, and the epoch that fences every
    # write of that run. Each claim increments the epoch.
    lease_owner = models.CharField(max_length=255, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    lease_epoch = models.PositiveBigIntegerField(default=0)
    runs = models.PositiveIntegerField(default=0)
    # Failed attempts of the step now being retried, so the count survives a crash, and the
    # last attempt's error, so that people see why it is retried (0: no limit).
    retry_step_id = models.CharField(max_length=255, blank=True, default="")
    retry_attempts = models.PositiveIntegerField(default=0)
    retry_max_attempts = models.PositiveIntegerField(default=0)
    retry_error_type = models.CharField(max_length=255, blank=True, default="")
    retry_error_message = models.TextField(blank=True, default="")
    retry_error_traceback = models.TextField(blank=True, default="")
    # Repairs: how often the execution was retried (and when last), and the execution and
    # step it was forked from. Not foreign keys: the source may be pruned before the fork.
    retries = models.PositiveIntegerField(default=0)
    retried_at = models.DateTimeField(null=True, blank=True)
    forked_from = models.CharField(max_length=255, blank=True, default="", db_index=True)
    forked_from_step = models.CharField(max_length=255, blank=True, default="")
    # Composition: the execution that started this one with ctx.start_workflow ('' for
    # none; a cancel of the parent cancels it), and the one this execution waits for while
    # WAITING in ctx.wait_workflow, which wakes it when it ends. Not foreign keys, as above.
    parent = models.CharField(max_length=255, blank=True, default="", db_index=True)
    waiting_for = models.CharField(max_length=255, blank=True, default="", db_index=True)
    # Some execution other than its parent waits for it: its end must look for waiters.
    awaited = models.BooleanField(default=False)
    # The queue the execution is claimed from, and its place in it (lower runs first).
    queue = models.CharField(max_length=100, default="default")
    priority = models.IntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "created_at"], name="durable_exec_status_created"),
            models.Index(fields=["status", "lease_expires_at"], name="durable_exec_status_lease"),
            # Prune: finished executions by status and end time, in batches.
            models.Index(fields=["status", "finished_at"], name="durable_exec_status_finished"),
            # The admin list and durable_status, newest first, without sorting the table;
            # and the same within one workflow (which also serves every lookup by name).
            models.Index(fields=["created_at", "id"], name="durable_exec_created"),
            # On PostgreSQL it also carries id, status and lease_owner (migration 0007), so that
            # listing one workflow's newest is an index-only scan the planner prefers.
            models.Index(fields=["workflow_name", "created_at"], name="durable_exec_workflow"),
            # Both filters at once (durable_status --workflow X --status S, the admin): without
            # it, either index above reads every row of the status or of the workflow when
            # few match both (0.5 s among 1,000,000 completed executions; W8). On PostgreSQL
            # migration 0005 also gives the planner statistics on the pair, without which it
            # takes the status index all the same.
            models.Index(
                fields=["workflow_name", "status", "created_at"],
                name="durable_exec_workflow_status",
            ),
            # The claim: pending executions by priority, then age, of every queue or of one;
            # the latter also counts a queue's running executions for its concurrency limit.
            models.Index(fields=["status", "priority", "created_at"], name="durable_exec_claim"),
            models.Index(
                fields=["status", "queue", "priority", "created_at"], name="durable_exec_queue"
            ),
            # A queue's rate limit counts the executions that started in its period.
            models.Index(fields=["queue", "started_at"], name="durable_exec_queue_started"),
        ]
        verbose_name = "workflow execution"
        # One per admin action, so support staff can be given some and not others.
        permissions = [
            ("cancel_workflowexecution", "Can cancel workflow executions"),
            ("retry_workflowexecution", "Can retry workflow executions"),
            ("fork_workflowexecution", "Can fork workflow executions"),
            ("signal_workflowexecution", "Can send signals to workflow executions"),
            ("start_workflowexecution", "Can start workflow executions"),
            ("prune_workflowexecution", "Can prune finished workflow executions"),
        ]

    def __str__(self) -> str:
        return f"{self.workflow_name} {self.id} ({self.status})"

    @property
    def decoded_input(self):
        return serialization.loads(self.input)

    @property
    def decoded_result(self):
        return serialization.loads(self.result)


class RowIdField(models.BigAutoField):
    """A ``BigAutoField`` that SQLite makes its plain row id, without ``AUTOINCREMENT``.

    ``AUTOINCREMENT`` keeps a counter per table in ``sqlite_sequence`` and so writes one page
    more at each insert: a fifth of a recorded step's commit. All it adds is that the id of
    the newest row, once deleted, is never given again; a new row still gets an id above
    every row there is, so rows keep their order. Elsewhere it is a ``BigAutoField``.
    """

    def db_type_suffix(self, connection):
        if connection.vendor == "sqlite":
            return None
        return super().db_type_suffix(connection)


class StepResult(models.Model):
    """The recorded outcome of one step of an execution, looked up on every later run."""

    id = RowIdField(primary_key=True)
    # No index of its own: the unique constraint below starts with it and serves every
    # lookup by execution; a second index only cost each step insert more writes.
    execution = models.ForeignKey(
        WorkflowExecution, on_delete=models.CASCADE, related_name="steps", db_index=False
    )
    step_id = models.CharField(max_length=255)
    name = models.CharField(max_length=255)
    status = models.CharField(max_length=16, choices=StepStatus.choices)
    result = models.BinaryField(null=True, blank=True)
    error_type = models.CharField(max_length=255, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    error_traceback = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=1)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    # A short repr of the call's arguments, for people (durable_inspect --step, the admin).
    arguments = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["execution", "step_id"], name="durable_step_unique"),
        ]
        verbose_name = "step result"

    def __str__(self) -> str:
        return f"{self.step_id} ({self.status})"

    @property
    def decoded_result(self):
        return serialization.loads(self.result)


class Timer(models.Model):
    """A due-at row: the scheduler wakes the execution when ``due_at`` has passed."""

    id = models.BigAutoField(primary_key=True)
    execution = models.ForeignKey(  # indexed by the unique constraint, as StepResult's
        WorkflowExecution, on_delete=models.CASCADE, related_name="timers", db_index=False
    )
    step_id = models.CharField(max_length=255)
    kind = models.CharField(max_length=16, choices=TimerKind.choices)
    due_at = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["due_at"]
        constraints = [
            models.UniqueConstraint(fields=["execution", "step_id"], name="durable_timer_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.step_id} due {self.due_at:%Y-%m-%d %H:%M:%S}"


class Signal(models.Model):
    """A message to an execution; consumed, oldest first, by ``ctx.wait_signal(name)``."""

    id = models.BigAutoField(primary_key=True)
    execution = models.ForeignKey(  # indexed by durable_signal_pending, which starts with it
        WorkflowExecution, on_delete=models.CASCADE, related_name="signals", db_index=False
    )
    name = models.CharField(max_length=255)
    payload = models.BinaryField(null=True, blank=True)
    created_at = models.DateTimeField()
    consumed_at = models.DateTimeField(null=True, blank=True)
    consumed_by_step_id = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["execution", "name", "consumed_at"], name="durable_signal_pending"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} → {self.execution_id}"

    @property
    def decoded_payload(self):
        return serialization.loads(self.payload)


class EventValue(models.Model):
    """The latest value an execution published under a key with ``ctx.set_event``.

    Read by :func:`~django_durable.get_event` while the execution runs and after it ends
    (progress for a web page, a payment link, an intermediate result).
    """

    id = models.BigAutoField(primary_key=True)
    execution = models.ForeignKey(  # indexed by the unique constraint, as StepResult's
        WorkflowExecution, on_delete=models.CASCADE, related_name="event_values", db_index=False
    )
    key = models.CharField(max_length=255)
    value = models.BinaryField(null=True, blank=True)
    # The step that published it: a later set_event of the same key replaces the value.
    step_id = models.CharField(max_length=255)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["execution_id", "key"]
        constraints = [
            models.UniqueConstraint(fields=["execution", "key"], name="durable_event_unique"),
        ]
        verbose_name = "published event"

    def __str__(self) -> str:
        return f"{self.key} of {self.execution_id}"

    @property
    def decoded_value(self):
        return serialization.loads(self.value)


class QueueLock(models.Model):
    """One row per queue with a limit: a claim from the queue locks it first.

    Two workers counting a queue's running executions at once could both take its last
    slot; the lock makes them count one after the other. The row holds nothing else.
    """

    name = models.CharField(primary_key=True, max_length=100)

    class Meta:
        verbose_name = "queue lock"

    def __str__(self) -> str:
        return self.name


class RunOutcome(models.TextChoices):
    """How one run of an execution ended."""

    SLEEPING = "SLEEPING", "Suspended on a timer"
    RETRY_BACKOFF = "RETRY_BACKOFF", "Suspended until a step's retry"
    WAITING_SIGNAL = "WAITING_SIGNAL", "Suspended on a signal"
    WAITING_CHILD = "WAITING_CHILD", "Suspended on a child execution"
    COMPLETED = "COMPLETED", "Completed"
    FAILED = "FAILED", "Failed"
    TIMED_OUT = "TIMED_OUT", "Timed out"
    CANCELED = "CANCELED", "Canceled"
    LEASE_LOST = "LEASE_LOST", "Lease lost"
    WORKER_DIED = "WORKER_DIED", "Worker died"
    HANDED_BACK = "HANDED_BACK", "Handed back"
    # Stopped by a database error (or an error that recurs on every run) and handed back
    # with a pause: unlike a hand-back, the run had begun.
    ABORTED = "ABORTED", "Aborted by a database error"


SUSPENDED_OUTCOMES = frozenset(
    {
        RunOutcome.SLEEPING,
        RunOutcome.RETRY_BACKOFF,
        RunOutcome.WAITING_SIGNAL,
        RunOutcome.WAITING_CHILD,
    }
)


class WorkflowRun(models.Model):
    """One run of an execution: a worker called the workflow function from the top once.

    Written with the claim and with the run's last write, never per step. ``outcome`` is
    empty while the run goes on.
    """

    id = RowIdField(primary_key=True)
    execution = models.ForeignKey(  # indexed by the unique constraint, as StepResult's
        WorkflowExecution, on_delete=models.CASCADE, related_name="run_log", db_index=False
    )
    # The lease epoch the run was claimed at: the run's number, and what fences its writes.
    epoch = models.PositiveBigIntegerField()
    worker = models.CharField(max_length=255)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=RunOutcome.choices, blank=True, default="")
    # The step the run suspended on (a sleep, a signal wait, a retried step).
    waiting_on = models.CharField(max_length=255, blank=True, default="")
    detail = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["execution_id", "epoch"]
        constraints = [
            models.UniqueConstraint(fields=["execution", "epoch"], name="durable_run_unique"),
        ]
        verbose_name = "workflow run"

    def __str__(self) -> str:
        return f"run {self.epoch} of {self.execution_id} ({self.outcome or 'running'})"


class WorkerProcess(models.Model):
    """A ``durable_worker`` process: who it is, where, and when it was last heard from."""

    id = models.CharField(primary_key=True, max_length=255)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    threads = models.PositiveIntegerField()
    # The queues it serves, comma-separated; empty for all.
    queues = models.TextField(blank=True, default="")
    started_at = models.DateTimeField()
    last_heartbeat_at = models.DateTimeField(db_index=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    # What each running execution is doing now: {execution id: step id}, as of the last
    # heartbeat, in JSON.
    current_steps = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-last_heartbeat_at"]
        verbose_name = "worker"

    def __str__(self) -> str:
        return self.id
