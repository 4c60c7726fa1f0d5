from django.core.management.base import BaseCommand, CommandError

from django_durable.api import cancel_workflow
from django_durable.cli import one_line
from django_durable.exceptions import DurableError


class Command(BaseCommand):
    help = "Cancel a workflow execution: it runs no further step."

    def add_arguments(self, parser):
        parser.add_argument("execution_id", metavar="ID")
        parser.add_argument("--reason", default="", help="why (stored on the execution)")

    def handle(self, *args, execution_id, reason, **options):
        try:
            cancel_workflow(execution_id, reason)
        except DurableError as exc:
            raise CommandError(one_line(exc))
        self.stdout.write(f"canceled {execution_id}")
