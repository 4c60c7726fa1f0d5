from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from django_durable.api import get_workflow
from django_durable.cli import age, one_line, table, to_json
from django_durable.exceptions import DurableError
from django_durable.inspection import list_workers, list_workflows
from django_durable.models import Status


class Command(BaseCommand):
    help = (
        "Show workflow executions: a table of recent ones, or one in full. --workers shows "
        "the worker processes instead."
    )

    def add_arguments(self, parser):
        parser.add_argument("execution_id", nargs="?", metavar="ID")
        parser.add_argument("--json", action="store_true", help="print JSON")
        parser.add_argument("--status", choices=Status.values, help="only executions in STATUS")
        parser.add_argument("--workflow", help="only executions of this workflow")
        parser.add_argument("--limit", type=int, default=50, help="rows to show (default 50)")
        parser.add_argument(
            "--workers",
            action="store_true",
            help="show the worker processes: live, stopped and dead, and what each runs",
        )

    def handle(self, *args, execution_id, json, status, workflow, limit, workers, **options):
        if workers:
            if execution_id:
                raise CommandError("--workers shows every worker; it takes no execution ID")
            self._show_workers(json)
            return
        if execution_id:
            try:
                info = get_workflow(execution_id)
            except DurableError as exc:
                raise CommandError(one_line(exc))
            if json:
                self.stdout.write(to_json(info.as_dict()))
                return
            self._show_one(info)
            return
        try:
            rows = list_workflows(status=status, workflow=workflow, limit=limit)
        except DurableError as exc:
            raise CommandError(one_line(exc))
        if json:
            self.stdout.write(to_json(rows))
            return
        if not rows:
            self.stdout.write("no executions")
            return
        now = timezone.now()
        self.stdout.write(
            table(
                ["ID", "WORKFLOW", "STATUS", "AGE", "NOW"],
                [
                    [
                        r["id"],
                        r["workflow"],
                        r["status"],
                        age(r["created_at"], now),
                        r["doing"],
                    ]
                    for r in rows
                ],
            )
        )

    def _show_workers(self, json):
        workers = list_workers()
        if json:
            self.stdout.write(to_json([worker.as_dict() for worker in workers]))
            return
        if not workers:
            self.stdout.write("no workers have run against this database")
            return
        now = timezone.now()
        rows = []
        for worker in workers:
            holds = ", ".join(
                f"{h['execution_id']} ({h['step'] or h['workflow']})" for h in worker.holds
            )
            rows.append(
                [
                    worker.id,
                    worker.host,
                    str(worker.pid),
                    str(worker.threads),
                    ",".join(worker.queues) or "all",
                    worker.state,
                    age(worker.last_heartbeat_at, now) + " ago",
                    holds or "-",
                ]
            )
        headers = ["WORKER", "HOST", "PID", "THREADS", "QUEUES", "STATE", "LAST SEEN", "RUNNING"]
        self.stdout.write(table(headers, rows))

    def _show_one(self, info):
        lines = [
            f"id:        {info.id}",
            f"workflow:  {info.workflow}",
            f"status:    {info.status}",
            f"input:     {to_json(info.input)}",
            f"created:   {info.created_at:%Y-%m-%d %H:%M:%S}",
            f"runs:      {info.runs}",
            f"steps:     {len(info.steps)}"
            + (f" (last: {info.steps[-1].step_id})" if info.steps else ""),
        ]
        if info.status == Status.COMPLETED:
            lines.append(f"result:    {to_json(info.result)}")
        if info.error:
            lines.append(
                f"error:     {info.error['type']}: {one_line(Exception(info.error['message']))}"
            )
        self.stdout.write("\n".join(lines))
