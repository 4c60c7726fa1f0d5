from django.core.management.base import CommandError

from django_durable.api import start_execution, wait_workflow
from django_durable.display import one_line, to_json
from django_durable.exceptions import DurableError
from django_durable.management.base import DurableCommand, parse_json


class Command(DurableCommand):
    help = "Start a workflow execution and print its id (with --wait, then its result)."

    def add_arguments(self, parser):
        parser.add_argument("name", metavar="NAME", help="the registered name of the workflow")
        parser.add_argument(
            "--input",
            metavar="JSON",
            help="the workflow's keyword arguments as a JSON object, like '{\"user_id\": 7}'",
        )
        parser.add_argument(
            "--id",
            dest="execution_id",
            metavar="ID",
            help="the execution's id (default: a new UUID); if an execution with this id "
            "exists, nothing new is started and its id is printed",
        )
        parser.add_argument(
            "--queue",
            metavar="NAME",
            help="put the execution on this queue instead of its workflow's "
            "(declared in DURABLE_QUEUES)",
        )
        parser.add_argument(
            "--priority",
            type=int,
            metavar="N",
            help="its place in the queue: lower runs first (default 0)",
        )
        parser.add_argument(
            "--wait",
            action="store_true",
            help="wait until a worker has finished the execution, then print its result as JSON",
        )
        parser.add_argument(
            "--timeout",
            type=float,
            metavar="SECONDS",
            help="with --wait: give up after SECONDS (the execution goes on)",
        )

    def handle(self, *args, name, input, execution_id, queue, priority, wait, timeout, **options):
        inputs = parse_json(input)
        try:
            started = start_execution(
                name, inputs, workflow_id=execution_id, queue=queue, priority=priority
            )
        except (DurableError, ValueError) as exc:
            raise CommandError(one_line(exc))
        execution_id = started.execution_id
        if not started.created:
            # On stderr: the id stays the last line of stdout, for scripts.
            note = f"an execution with id {execution_id!r} already exists; nothing new started"
            if started.other_inputs:
                note += " (it was started with other inputs, which it keeps)"
            self.stderr.write(note)
        self.stdout.write(execution_id)
        if not wait:
            return
        try:
            result = wait_workflow(execution_id, timeout=timeout)
        except DurableError as exc:
            raise CommandError(one_line(exc))
        self.stdout.write(to_json(result))
