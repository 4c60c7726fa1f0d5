from django.core.management.base import BaseCommand, CommandError

from django_durable.api import signal_workflow
from django_durable.cli import one_line, parse_json
from django_durable.exceptions import DurableError


class Command(BaseCommand):
    help = "Send a signal to a workflow execution."

    def add_arguments(self, parser):
        parser.add_argument("execution_id", metavar="ID")
        parser.add_argument("signal", metavar="NAME")
        parser.add_argument("--input", help="the signal's payload as JSON (any JSON value)")

    def handle(self, *args, execution_id, signal, input, **options):
        payload = parse_json(input, require_object=False)
        try:
            signal_workflow(execution_id, signal, payload)
        except DurableError as exc:
            raise CommandError(one_line(exc))
        self.stdout.write(f"signal {signal!r} sent to {execution_id}")
