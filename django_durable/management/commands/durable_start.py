from django.core.management.base import BaseCommand, CommandError

from django_durable.api import start_workflow_with, wait_workflow
from django_durable.cli import one_line, parse_json, to_json
from django_durable.exceptions import DurableError


class Command(BaseCommand):
    help = "Start a workflow execution and print its id (with --wait, then its result)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="registered workflow name")
        parser.add_argument("--input", help="the workflow's keyword arguments as a JSON object")
        parser.add_argument("--id", dest="execution_id", help="the execution id (idempotent)")
        parser.add_argument("--wait", action="store_true", help="wait for a worker to finish it")
        parser.add_argument("--timeout", type=float, help="with --wait: give up after SECONDS")

    def handle(self, *args, name, input, execution_id, wait, timeout, **options):
        inputs = parse_json(input)
        try:
            execution_id = start_workflow_with(name, inputs, workflow_id=execution_id)
        except DurableError as exc:
            raise CommandError(one_line(exc))
        self.stdout.write(execution_id)
        if not wait:
            return
        try:
            result = wait_workflow(execution_id, timeout=timeout)
        except DurableError as exc:
            raise CommandError(one_line(exc))
        self.stdout.write(to_json(result))
