from django.core.management.base import CommandError

from django_durable.api import signal_workflow
from django_durable.display import one_line
from django_durable.exceptions import DurableError
from django_durable.management.base import DurableCommand, parse_json


class Command(DurableCommand):
    help = "Send a signal to a workflow execution."

    def add_arguments(self, parser):
        parser.add_argument("execution_id", metavar="ID", help="the execution to signal")
        parser.add_argument(
            "signal", metavar="NAME", help="the signal's name, as in ctx.wait_signal(NAME)"
        )
        parser.add_argument(
            "--input",
            metavar="JSON",
            help="the signal's payload as JSON (any JSON value; default null)",
        )

    def handle(self, *args, execution_id, signal, input, **options):
        payload = parse_json(input, require_object=False)
        try:
            signal_workflow(execution_id, signal, payload)
        except DurableError as exc:
            raise CommandError(one_line(exc))
        self.stdout.write(f"signal {signal!r} sent to {execution_id}")
