"""The four tables of Django Durable. Only ``store.py`` changes their rows."""

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
    WORKFLOW_TIMEOUT = "WORKFLOW_TIMEOUT", "Workflow timeout"


class WorkflowExecution(models.Model):
    """One execution of a workflow, from start to end."""

    id = models.CharField(primary_key=True, max_length=255)
    workflow_name = models.CharField(max_length=255, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    input = models.BinaryField()
    result = models.BinaryField(null=True, blank=True)
    error_type = models.CharField(max_length=255, blank=True, default="")
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
    # Failed attempts of the step now being retried, so the count survives a crash.
    retry_step_id = models.CharField(max_length=255, blank=True, default="")
    retry_attempts = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "created_at"], name="durable_exec_status_created"),
            models.Index(fields=["status", "lease_expires_at"], name="durable_exec_status_lease"),
        ]
        verbose_name = "workflow execution"

    def __str__(self) -> str:
        return f"{self.workflow_name} {self.id} ({self.status})"

    @property
    def decoded_input(self):
        return serialization.loads(self.input)

    @property
    def decoded_result(self):
        return serialization.loads(self.result)


class StepResult(models.Model):
    """The recorded outcome of one step of an execution, looked up on every later run."""

    id = models.BigAutoField(primary_key=True)
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
