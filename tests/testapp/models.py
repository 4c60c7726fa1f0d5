from django.db import models


class SideEffect(models.Model):
    """A row per real execution of a step body, written outside the engine's records."""

    execution_id = models.CharField(max_length=255)
    step = models.CharField(max_length=255)
    pid = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    # Written by the chaos workload (tests/chaos.py) to check that no two runs overlap:
    # the lease epoch of the run, and when the step body began and ended (time.time()).
    epoch = models.BigIntegerField(default=0)
    started = models.FloatField(null=True)
    finished = models.FloatField(null=True)


class Ledger(models.Model):
    """Written by atomic steps: must hold exactly one row per (execution, entry)."""

    execution_id = models.CharField(max_length=255)
    entry = models.CharField(max_length=255)
    amount = models.IntegerField(default=0)
