from django.core.management.base import CommandError

from django_durable.api import cancel_workflow
from django_durable.display import one_line
from django_durable.exceptions import DurableError
from django_durable.management.base import DurableCommand


class Command(DurableCommand):
    help = "Cancel a workflow execution: it runs no further step."

    def add_arguments(self, parser):
        parser.add_argument("execution_id", metavar="ID", help="the execution to cancel")
        parser.add_argument(
            "--reason",
            default="",
            metavar="TEXT",
            help="why it was canceled (stored on the execution, shown by durable_status)",
        )

    def handle(self, *args, execution_id, reason, **options):
        try:
            cancel_workflow(execution_id, reason)
        except DurableError as exc:
            raise CommandError(one_line(exc))
        self.stdout.write(f"canceled {execution_id}")
