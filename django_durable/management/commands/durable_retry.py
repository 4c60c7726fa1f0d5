from django.core.management.base import CommandError

from django_durable.display import one_line
from django_durable.exceptions import DurableError
from django_durable.management.base import DurableCommand
from django_durable.repairs import failed_workflows, retry_workflows


class Command(DurableCommand):
    help = (
        "Run failed, canceled or timed-out executions again from the step that failed or was "
        "interrupted, keeping every completed step. Prints one line per execution."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "execution_ids", nargs="*", metavar="ID", help="the executions to retry"
        )
        parser.add_argument(
            "--all-failed",
            action="store_true",
            help="retry every FAILED execution (of --workflow, if given)",
        )
        parser.add_argument(
            "--workflow", metavar="NAME", help="with --all-failed: only executions of NAME"
        )

    def handle(self, *args, execution_ids, all_failed, workflow, **options):
        if all_failed and execution_ids:
            raise CommandError("give execution IDs or --all-failed, not both")
        if workflow and not all_failed:
            raise CommandError("--workflow selects among --all-failed; give --all-failed too")
        if not all_failed and not execution_ids:
            raise CommandError("give the IDs of the executions to retry, or --all-failed")
        if all_failed:
            try:
                execution_ids = failed_workflows(workflow)
            except DurableError as exc:
                raise CommandError(one_line(exc))
            if not execution_ids:
                self.stdout.write("no failed executions to retry")
                return
        outcomes = retry_workflows(execution_ids)
        failures = 0
        for execution_id, error in outcomes.items():
            if error is None:
                self.stdout.write(f"retried {execution_id}")
            else:
                failures += 1
                self.stderr.write(one_line(error))
        if failures:
            raise CommandError(
                f"{failures} of {len(outcomes)} execution(s) could not be retried (see above)"
            )
