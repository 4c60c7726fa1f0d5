from django.core.management.base import CommandError

from django_durable.display import one_line, table, to_json
from django_durable.exceptions import DurableError
from django_durable.inspection import (
    debug_workflow,
    inspect_step,
    inspect_workflow,
    replay_workflows,
)
from django_durable.management.base import DurableCommand


class Command(DurableCommand):
    help = (
        "Show an execution's steps, timers, signals and runs. --replay runs the current code "
        "against the record (executing no step, writing nothing) and reports what would "
        "run next or where code and record diverge; --replay --all does so for every "
        "unfinished execution, as a check before deploying new workflow code."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "execution_id", nargs="?", metavar="ID", help="the execution to inspect"
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument(
            "--replay", action="store_true", help="replay the code against the record"
        )
        parser.add_argument(
            "--all",
            action="store_true",
            dest="replay_all",
            help="with --replay and no ID: replay every unfinished execution; exit 1 if any "
            "diverges",
        )
        parser.add_argument(
            "--workflow", metavar="NAME", help="with --replay --all: only executions of NAME"
        )
        parser.add_argument("--step", metavar="STEP_ID", help="show one recorded step in full")
        parser.add_argument(
            "--debug",
            action="store_true",
            help="replay the execution under pdb, stopping in the workflow function; no step "
            "runs and nothing is written",
        )

    def handle(self, *args, execution_id, json, replay, replay_all, workflow, step, debug, **o):
        if replay_all or workflow:
            return self._replay_all(execution_id, replay, replay_all, workflow, json)
        if not execution_id:
            raise CommandError("give the ID of an execution (or --replay --all)")
        try:
            if step is not None:
                return self._show_step(inspect_step(execution_id, step), json)
            if debug:
                return self._debug(execution_id)
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

    def _replay_all(self, execution_id, replay, replay_all, workflow, json):
        if not (replay and replay_all) or execution_id:
            raise CommandError("replaying many executions takes --replay --all, without an ID")
        try:
            reports = replay_workflows(workflow)
        except DurableError as exc:
            raise CommandError(one_line(exc))
        if json:
            self.stdout.write(to_json([{"id": r.execution_id, **r.as_dict()} for r in reports]))
        for report in reports if not json else []:
            if report.diverged:
                problems = "; ".join(one_line(Exception(p)) for p in report.problems)
                self.stdout.write(f"DIVERGED  {report.execution_id}: {problems}")
            else:
                upcoming = report.next_step["step_id"] if report.next_step else report.verdict
                self.stdout.write(
                    f"ok        {report.execution_id}: {report.replayed_steps} step(s) match; "
                    f"next: {upcoming}"
                )
        diverged = sum(report.diverged for report in reports)
        if diverged:
            raise CommandError(
                f"{diverged} of {len(reports)} unfinished execution(s) diverge from the code"
            )
        if not json:
            self.stdout.write(f"{len(reports)} unfinished execution(s) replay cleanly")

    def _show_step(self, step, json):
        if json:
            self.stdout.write(to_json(step))
            return
        lines = [
            f"step:      {step['step_id']} ({step['name']})",
            f"status:    {step['status']}",
            f"arguments: {step['arguments'] or '-'}",
            f"attempts:  {step['attempts']}",
            f"started:   {step['started_at'].isoformat()}",
            f"finished:  {step['finished_at'].isoformat()}",
            f"took:      {step['duration'] * 1000:.1f}ms",
        ]
        if step["error"]:
            lines.append(f"error:     {step['error']['type']}: {step['error']['message']}")
            lines.append(step["error"]["traceback"].rstrip())
        else:
            lines.append("result:")
            lines.append(to_json(step["result"], indent=2))
        self.stdout.write("\n".join(lines))

    def _debug(self, execution_id):
        import pdb

        self.stdout.write(
            f"replaying {execution_id} under pdb: recorded results are served, no step runs, "
            "nothing is written ('c' to run on to the first unrecorded step)"
        )
        report = debug_workflow(execution_id, pdb.Pdb())
        verdict = report.verdict
        if report.next_step:
            verdict += f": {report.next_step['kind']} {report.next_step['step_id']}"
        self.stdout.write(f"replay ended: {verdict}")

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
