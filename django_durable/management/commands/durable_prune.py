from django.core.management.base import CommandError

from django_durable.conf import durable_settings
from django_durable.display import one_line
from django_durable.exceptions import DurableError
from django_durable.management.base import DurableCommand
from django_durable.repairs import prune_workflows


class Command(DurableCommand):
    help = (
        "Delete finished executions (with their steps, timers, signals and runs) that ended "
        "more than DAYS ago, in short batches. Prints how many."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            metavar="DAYS",
            type=str,
            help="how many days ago an execution must have ended (default: the "
            "DURABLE_RETENTION_DAYS setting)",
        )
        parser.add_argument(
            "--status",
            action="append",
            dest="statuses",
            metavar="STATUS",
            help="only executions that ended in STATUS (COMPLETED, FAILED, CANCELED or "
            "TIMED_OUT); repeat for several; default: all four",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would be deleted; delete nothing"
        )

    def handle(self, *args, older_than, statuses, dry_run, **options):
        days = _days(older_than)
        try:
            count = prune_workflows(older_than_days=days, statuses=statuses, dry_run=dry_run)
        except DurableError as exc:
            raise CommandError(one_line(exc))
        which = "/".join(statuses) if statuses else "finished"
        verb = "would delete" if dry_run else "deleted"
        self.stdout.write(
            f"{verb} {count} {which} execution(s) that ended over {days:g} day(s) ago"
        )


def _days(text: str | None) -> float:
    if text is None:
        setting = durable_settings.DURABLE_RETENTION_DAYS
        if setting is None:
            raise CommandError(
                "give --older-than DAYS (or set DURABLE_RETENTION_DAYS in the settings)"
            )
        return float(setting)
    try:
        return float(text)
    except ValueError:
        raise CommandError(f"--older-than takes a number of days, not {text!r}") from None
