from django.core.management.base import CommandError

from django_durable.display import one_line
from django_durable.exceptions import DurableError
from django_durable.management.base import DurableCommand
from django_durable.repairs import fork_workflow


class Command(DurableCommand):
    help = (
        "Start a new execution from an existing one's record: the completed steps recorded "
        "before --from-step are kept, and it runs from that step on. Prints the new id."
    )

    def add_arguments(self, parser):
        parser.add_argument("execution_id", metavar="ID", help="the execution to fork")
        parser.add_argument(
            "--from-step",
            required=True,
            metavar="STEP_ID",
            help="the recorded step to run again, and everything after it",
        )
        parser.add_argument(
            "--id",
            dest="new_id",
            metavar="NEW_ID",
            help="the new execution's id (default: a new UUID); forking twice with the same "
            "id starts one execution",
        )

    def handle(self, *args, execution_id, from_step, new_id, **options):
        try:
            forked = fork_workflow(execution_id, from_step=from_step, workflow_id=new_id)
        except DurableError as exc:
            raise CommandError(one_line(exc))
        self.stdout.write(forked)
