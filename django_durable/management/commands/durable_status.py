from django.core.management.base import CommandError

from django_durable import clock
from django_durable.api import get_workflow
from django_durable.display import age, one_line, table, to_json, when
from django_durable.exceptions import DurableError
from django_durable.inspection import (
    describe_now,
    list_schedules,
    list_workers,
    list_workflows,
    pending_signals,
)
from django_durable.management.base import DurableCommand
from django_durable.models import FINAL_STATUSES, Status


class Command(DurableCommand):
    help = (
        "Show workflow executions: a table of recent ones, or one in full. --workers shows "
        "the worker processes instead."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "execution_id", nargs="?", metavar="ID", help="show this execution in full"
        )
        parser.add_argument("--json", action="store_true", help="print JSON")
        parser.add_argument(
            "--status",
            choices=Status.values,
            metavar="STATUS",
            help="only executions in STATUS (" + ", ".join(Status.values) + ")",
        )
        parser.add_argument(
            "--workflow", metavar="NAME", help="only executions of the workflow NAME"
        )
        parser.add_argument(
            "--limit", type=int, default=50, metavar="N", help="show at most N (default 50)"
        )
        parser.add_argument(
            "--workers",
            action="store_true",
            help="show the worker processes: live, stopped and dead, and what each runs",
        )
        parser.add_argument(
            "--schedules",
            action="store_true",
            help="show the scheduled workflows: cron expression, next tick, latest execution",
        )

    def handle(
        self, *args, execution_id, json, status, workflow, limit, workers, schedules, **options
    ):
        if workers or schedules:
            if execution_id or (workers and schedules):
                raise CommandError("--workers and --schedules each show a list; give one alone")
            self._show_workers(json) if workers else self._show_schedules(json)
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
        now = clock.now()
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
        now = clock.now()
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

    def _show_schedules(self, json):
        found = list_schedules()
        if json:
            self.stdout.write(to_json(found))
            return
        if not found:
            self.stdout.write("no scheduled workflows (register.workflow(schedule=...))")
            return
        rows = [
            [
                s["workflow"],
                s["schedule"],
                when(s["next_tick"]),
                f"{s['latest_execution']} ({s['latest_status']})" if s["latest_execution"] else "-",
            ]
            for s in found
        ]
        self.stdout.write(table(["WORKFLOW", "SCHEDULE", "NEXT TICK", "LATEST"], rows))

    def _show_one(self, info):
        lines = [
            f"id:        {info.id}",
            f"workflow:  {info.workflow}",
            f"status:    {info.status}",
            f"now:       {describe_now([info.as_row()])[info.id]}",
            f"input:     {to_json(info.input)}",
            f"created:   {when(info.created_at)}",
            f"runs:      {info.runs}",
            f"steps:     {len(info.steps)}"
            + (f" (last: {info.steps[-1].step_id})" if info.steps else ""),
        ]
        if info.finished_at:
            lines.append(f"ended:     {when(info.finished_at)}")
        if info.status == Status.COMPLETED:
            lines.append(f"result:    {to_json(info.result)}")
        if info.error:
            message = one_line(Exception(info.error["message"]))
            lines.append(f"error:     {info.error['type']}" + (f": {message}" if message else ""))
        for signal in pending_signals(info.id):
            ended = info.status in FINAL_STATUSES
            note = " (the execution has ended: nothing will receive it)" if ended else ""
            lines.append(
                f"signal:    {signal['name']} sent {when(signal['sent_at'])}, not received{note}"
            )
        self.stdout.write("\n".join(lines))
