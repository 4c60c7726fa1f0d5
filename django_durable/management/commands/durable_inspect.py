from django.core.management.base import BaseCommand, CommandError

from django_durable.api import inspect_workflow
from django_durable.cli import one_line, table, to_json
from django_durable.exceptions import DurableError


class Command(BaseCommand):
    help = (
        "Show an execution's steps, timers and signals. --replay runs the current code "
        "against the record (executing no step, writing nothing) and reports what would "
        "run next or where code and record diverge."
    )

    def add_arguments(self, parser):
        parser.add_argument("execution_id", metavar="ID")
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument("--replay", action="store_true", help="replay against the record")

    def handle(self, *args, execution_id, json, replay, **options):
        try:
            report = inspect_workflow(execution_id, replay=replay)
        except DurableError as exc:
            raise CommandError(one_line(exc))
        if json:
            self.stdout.write(to_json(report))
        else:
            self._show(report)
        if replay and report["replay"]["diverged"]:
            raise CommandError(
                f"code and record of {execution_id} diverge: "
                + "; ".join(one_line(Exception(p)) for p in report["replay"]["problems"])
            )

    def _show(self, report):
        self.stdout.write(f"{report['workflow']} {report['id']}: {report['status']}")
        if report["steps"]:
            start = report["steps"][0]["started_at"]
            rows = []
            for step in report["steps"]:
                outcome = (
                    f"{step['error']['type']}: {step['error']['message']}"
                    if step["error"]
                    else to_json(step["result"])
                )
                rows.append(
                    [
                        step["step_id"],
                        step["status"],
                        str(step["attempts"]),
                        f"+{(step['started_at'] - start).total_seconds():.3f}s",
                        f"{_ms(step['finished_at'] - step['started_at']):.1f}ms",
                        _clip(outcome),
                    ]
                )
            self.stdout.write(
                table(["STEP", "STATUS", "ATTEMPTS", "STARTED", "TOOK", "RESULT / ERROR"], rows)
            )
        else:
            self.stdout.write("no steps recorded")
        for timer in report["timers"]:
            self.stdout.write(
                f"timer   {timer['kind']} {timer['step_id']} "
                f"due {timer['due_at']:%Y-%m-%d %H:%M:%S}"
            )
        for signal in report["signals"]:
            state = (
                f"consumed by {signal['consumed_by_step_id']}"
                if signal["consumed_at"]
                else "pending"
            )
            self.stdout.write(
                f"signal  {signal['name']} {_clip(to_json(signal['payload']))} ({state})"
            )
        for run in report["runs"]:
            ended = run["ended_at"]
            took = f" after {(ended - run['started_at']).total_seconds():.3f}s" if ended else ""
            detail = f": {run['detail']}" if run["detail"] else ""
            where = f" at {run['waiting_on']}" if run["waiting_on"] else ""
            self.stdout.write(
                f"run {run['run']:<3} {run['outcome']}{where}{took} by {run['worker']}"
                f"{_clip(detail, 80)}"
            )
        if report.get("error"):
            error = report["error"]
            self.stdout.write(f"error: {error['type']}: {one_line(Exception(error['message']))}")
        if "replay" in report:
            replay = report["replay"]
            verdict = replay["verdict"]
            matched = f"replay: {replay['replayed_steps']} recorded step(s) match"
            upcoming = replay["next_step"]
            if verdict == "next-step":
                self.stdout.write(f"{matched}; next would run {upcoming['step_id']}")
            elif verdict == "waiting":
                self.stdout.write(
                    f"{matched}; next it waits on {upcoming['kind']} {upcoming['step_id']}"
                )
            elif verdict in ("completed", "failed"):
                detail = f" ({replay['error']})" if replay["error"] else ""
                self.stdout.write(f"{matched}; the code {verdict}{detail}")
            else:
                self.stdout.write("replay: DIVERGED")
                for problem in replay["problems"]:
                    self.stdout.write(f"  - {problem}")


def _ms(delta) -> float:
    return delta.total_seconds() * 1000


def _clip(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
