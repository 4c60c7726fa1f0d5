#!/usr/bin/env python3
"""The Django Durable demo (run it through ``scripts/demo``).

It builds a throwaway Django project in ``demo_run/`` with nothing changed but
INSTALLED_APPS, starts workflows with the management commands, SIGKILLs the worker in the
middle of its work, starts a new one, and shows that every execution finishes with each
step recorded before the crash returned from the record instead of running again.

Everything goes through ``manage.py`` commands, as a user would type them. The activities
note every call they really make in ``activity_calls.jsonl``, so the demo can count how
often each step ran. Exits non-zero if anything is not as it should be.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUN_DIR = REPO / "demo_run"
SITE = RUN_DIR / "demo_site"
CALLS_LOG = SITE / "activity_calls.jsonl"
THREADS = 4
DEADLINE_SECONDS = 100.0  # the whole demo; no wait goes past it
COMMAND_TIMEOUT = 60.0
STARTED = time.monotonic()

ACTIVITIES = """\
# shop/durable_activities.py
from django_durable.registry import register

@register.activity()
def send_email(user_id: int):
    return {"sent": True, "user_id": user_id}

@register.activity()
def compute_score(user_id: int):
    return {"score": 42}


# --- The demo's own activities. Each takes about 0.3 s, so that a SIGKILL lands in the
# middle of the work, and notes every call it really makes in activity_calls.jsonl, so that
# the demo can count how many times each step ran.
import json  # noqa: E402
import os  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

CALLS_LOG = Path(__file__).resolve().parent.parent / "activity_calls.jsonl"
_lock = threading.Lock()


def note_call(execution: str, what: str, arg):
    line = json.dumps({"execution": execution, "what": what, "arg": arg, "pid": os.getpid()})
    with _lock, open(CALLS_LOG, "a") as log:
        log.write(line + "\\n")


@register.activity()
def reserve_item(execution: str, sku: str):
    note_call(execution, "reserve_item", sku)
    time.sleep(0.3)
    return {"sku": sku, "reserved": True}


@register.activity()
def charge_card(execution: str, amount_cents: int):
    note_call(execution, "charge_card", amount_cents)
    time.sleep(0.3)
    return {"charged_cents": amount_cents}


@register.activity()
def refund_card(execution: str, amount_cents: int):
    note_call(execution, "refund_card", amount_cents)
    time.sleep(0.3)
    return {"refunded_cents": amount_cents}


@register.activity()
def ship_order(execution: str, order_id: str):
    note_call(execution, "ship_order", order_id)
    time.sleep(0.3)
    return {"carrier": "DemoPost"}
"""

WORKFLOWS = '''\
# shop/durable_workflows.py
from django_durable.registry import register

@register.workflow()
def onboard_user(ctx, user_id: int):
    ctx.run_activity("send_email", user_id)
    ctx.sleep(3600)  # timer; no worker thread is blocked
    score = ctx.run_activity("compute_score", user_id)
    return {"ok": True, "score": score["score"]}


# --- The demo's own workflows.
import time  # noqa: E402

from .durable_activities import note_call  # noqa: E402

PRICES = {"book": 1200, "mug": 800, "lamp": 3500, "pen": 150, "poster": 900}


@register.workflow()
def order(ctx, order_id: str, items: list):
    """Reserve each item, charge, cool off for 3 s, wait for approval, then ship or refund."""
    me = ctx.execution_id
    reserved = [ctx.run_activity("reserve_item", me, sku)["sku"] for sku in items]
    charge = ctx.run_activity("charge_card", me, sum(PRICES[sku] for sku in items))
    ctx.sleep(3)  # a durable timer: the execution is SLEEPING and holds no thread
    decision = ctx.wait_signal("approve", timeout=60)  # WAITING until `approve` arrives
    if not decision or not decision.get("approved"):
        ctx.run_activity("refund_card", me, charge["charged_cents"])
        return {"order_id": order_id, "outcome": "refunded", "items": reserved,
                "refunded_cents": charge["charged_cents"],
                "reason": (decision or {}).get("reason", "no approval within 60 s")}
    shipment = ctx.run_activity("ship_order", me, order_id)
    tracking = str(ctx.uuid4())[:8]  # deterministic: recorded like a step
    return {"order_id": order_id, "outcome": "shipped", "items": reserved,
            "charged_cents": charge["charged_cents"], "approved_by": decision.get("by"),
            "carrier": shipment["carrier"], "tracking": tracking}


def crunch(execution: str, day: str, part: int):
    """A plain function run as a step with ctx.step (no registration needed)."""
    note_call(execution, "crunch", part)
    time.sleep(0.3)
    return part * 100


@register.workflow()
def nightly_report(ctx, day: str, parts: int):
    total = 0
    for part in range(1, parts + 1):
        total += ctx.step(crunch, ctx.execution_id, day, part)
    return {"day": day, "rows": total}
'''

ORDERS = [
    ("o-1001", ["book", "mug"]),
    ("o-1002", ["lamp", "pen", "poster"]),
    ("o-1003", ["book", "lamp", "mug", "pen"]),
    ("o-1004", ["poster", "pen"]),
]
PRICES = {"book": 1200, "mug": 800, "lamp": 3500, "pen": 150, "poster": 900}
REJECTED = "o-1003"
REPORT_DAY, REPORT_PARTS = "2026-01-31", 6


class DemoFailed(Exception):
    pass


# --- output ---------------------------------------------------------------------------------

_section = 0


def header(title: str) -> None:
    global _section
    _section += 1
    line = f"== {_section}. {title} "
    print(f"\n{line}{'=' * max(4, 78 - len(line))}  [{elapsed():.1f}s]", flush=True)


def say(text: str = "", indent: int = 2) -> None:
    print(textwrap.indent(text, " " * indent) if text else "", flush=True)


def elapsed() -> float:
    return time.monotonic() - STARTED


def remaining(what: str) -> float:
    left = DEADLINE_SECONDS - elapsed()
    if left <= 0:
        raise DemoFailed(f"the demo's {DEADLINE_SECONDS:.0f} s deadline passed while {what}")
    return left


# --- running commands -----------------------------------------------------------------------


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DJANGO_SETTINGS_MODULE", None)  # manage.py sets its own
    env.pop("PYTHONPATH", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


ENV = environment()


def run(args: list[str], cwd: Path = SITE, *, check: bool = True, echo: bool = False) -> str:
    """Run a command to its end and return its stdout; fail with its output if it fails."""
    if echo:
        say("$ " + " ".join(_quote(a) for a in args))
    try:
        done = subprocess.run(
            args,
            cwd=cwd,
            env=ENV,
            capture_output=True,
            text=True,
            timeout=min(COMMAND_TIMEOUT, remaining(f"running {' '.join(args)}")),
        )
    except subprocess.TimeoutExpired as exc:
        why = (
            f"the demo's {DEADLINE_SECONDS:.0f} s deadline passed"
            if elapsed() >= DEADLINE_SECONDS
            else f"it took over {exc.timeout:.0f} s"
        )
        raise DemoFailed(f"command stopped ({why}): {' '.join(args)}") from None
    if check and done.returncode != 0:
        raise DemoFailed(
            f"command failed with exit status {done.returncode}: {' '.join(args)}\n"
            f"--- stdout:\n{done.stdout}--- stderr:\n{done.stderr}"
        )
    return done.stdout


def manage(*args: str, echo: bool = False) -> str:
    return run([sys.executable, "manage.py", *args], echo=echo)


def _quote(arg: str) -> str:
    return f"'{arg}'" if re.search(r"[\s{}\"]", arg) else arg


def parallel(fn, items):
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(fn, items))


class WorkerProcess:
    """``manage.py durable_worker`` in the background, its output going to a log file."""

    def __init__(self, number: int):
        self.log_path = RUN_DIR / f"worker-{number}.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "durable_worker", "--threads", str(THREADS)],
            cwd=SITE,
            env=ENV,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def check_alive(self) -> None:
        if not self.alive():
            raise DemoFailed(
                f"the worker (pid {self.pid}) exited by itself with status "
                f"{self.proc.returncode}; its log {self.log_path}:\n{self.output()}"
            )

    def kill(self) -> None:
        """SIGKILL, and reap the process so that its pid is really gone."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.close()

    def terminate(self, grace: float = 40.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.kill()
            raise DemoFailed(f"the worker did not stop within {grace:.0f} s of SIGTERM") from None
        self.log.close()
        return code

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")


# --- the steps of the demo ------------------------------------------------------------------


def build_project() -> None:
    header("A fresh Django project: demo_run/demo_site, app `shop`")
    if RUN_DIR.exists():
        shutil.rmtree(RUN_DIR)
    RUN_DIR.mkdir()
    django_admin = Path(sys.executable).parent / "django-admin"
    startproject = (
        [str(django_admin)] if django_admin.exists() else [sys.executable, "-m", "django"]
    )
    run([*startproject, "startproject", "demo_site"], cwd=RUN_DIR, echo=True)
    run([sys.executable, "manage.py", "startapp", "shop"], echo=True)

    settings = SITE / "demo_site" / "settings.py"
    before = settings.read_text()
    match = re.search(r"^INSTALLED_APPS = \[\n(.*?)^\]", before, re.S | re.M)
    if not match:
        raise DemoFailed(f"no INSTALLED_APPS list found in {settings}")
    after = before[: match.end(1)] + '    "django_durable",\n    "shop",\n' + before[match.end(1) :]
    settings.write_text(after)
    diff = difflib.unified_diff(
        before.splitlines(),
        after.splitlines(),
        "settings.py (generated)",
        "settings.py (demo)",
        n=1,
        lineterm="",
    )
    say("The only change to the generated settings.py:")
    say("\n".join(diff), indent=4)

    (SITE / "shop" / "durable_activities.py").write_text(ACTIVITIES)
    (SITE / "shop" / "durable_workflows.py").write_text(WORKFLOWS)
    say("Wrote shop/durable_activities.py and shop/durable_workflows.py: the contract's")
    say("example (send_email, compute_score, onboard_user) verbatim, plus the demo's own")
    say("`order` workflow (reserve each item, charge, ctx.sleep(3), ctx.wait_signal('approve'),")
    say("ship or refund) and `nightly_report` (six ctx.step calls of a plain function).")
    say("Every demo activity takes ~0.3 s and notes each real call in activity_calls.jsonl.")


def migrate() -> None:
    header("python manage.py migrate")
    out = manage("migrate", "--no-input", echo=True)
    applied = [line.strip() for line in out.splitlines() if "django_durable" in line]
    say("\n".join(applied) or out.strip(), indent=4)
    if not applied:
        raise DemoFailed("migrate applied no django_durable migration")


def start_executions() -> dict[str, dict]:
    """Start every execution; return {execution id: what it is}."""
    header("Start executions with durable_start (several at once)")
    plans = [
        ("order", {"order_id": order_id, "items": items}, f"order {order_id}")
        for order_id, items in ORDERS
    ]
    plans.append(
        ("nightly_report", {"day": REPORT_DAY, "parts": REPORT_PARTS}, f"report {REPORT_DAY}")
    )
    plans.append(("onboard_user", {"user_id": 7}, "onboard user 7"))

    def start(plan):
        workflow, inputs, label = plan
        out = manage("durable_start", workflow, "--input", json.dumps(inputs))
        lines = out.strip().splitlines()
        if not lines:
            raise DemoFailed(f"durable_start {workflow} printed nothing")
        return lines[-1].strip()

    ids = parallel(start, plans)
    executions = {}
    for (workflow, inputs, label), eid in zip(plans, ids, strict=True):
        say(f"$ python manage.py durable_start {workflow} --input '{json.dumps(inputs)}'")
        say(f"{eid}   <- {label}", indent=4)
        calls = {"order": len(inputs.get("items", ())) + 1, "nightly_report": inputs.get("parts")}
        executions[eid] = {
            "workflow": workflow,
            "input": inputs,
            "label": label,
            "calls_before_sleep": calls.get(workflow) or 0,
        }
    if len(set(ids)) != len(ids):
        raise DemoFailed(f"durable_start returned duplicate ids: {ids}")
    return executions


def read_calls() -> list[dict]:
    if not CALLS_LOG.exists():
        return []
    calls = []
    for line in CALLS_LOG.read_text().splitlines():
        try:
            calls.append(json.loads(line))
        except json.JSONDecodeError:
            pass  # a line being written right now
    return calls


def wait_for_mid_run(worker: WorkerProcess, executions: dict[str, dict]) -> str:
    """Wait for a good moment to kill: an execution with some steps recorded and at least two
    still to run, once the worker is busy with several executions (or after 2 s).

    Steps of one execution run one after another, so once its k-th call has begun, its
    first k-1 steps are recorded.
    """
    since = time.monotonic()
    while True:
        worker.check_alive()
        begun = Counter(call["execution"] for call in read_calls())
        tracked = {eid: e for eid, e in executions.items() if e["calls_before_sleep"]}
        half_way = [
            eid for eid, e in tracked.items() if 2 <= begun[eid] <= e["calls_before_sleep"] - 2
        ]
        busy = sum(begun.values()) >= 8 or time.monotonic() - since > 2
        if half_way and busy:
            return half_way[0]
        if all(begun[eid] > e["calls_before_sleep"] - 2 for eid, e in tracked.items()):
            raise DemoFailed(
                "missed the moment to kill the worker: every execution got past half-way "
                f"before the demo saw it (calls begun: {dict(begun)})"
            )
        remaining(f"waiting for an execution to be half-way (calls begun: {dict(begun)})")
        time.sleep(0.02)


def inspect(eid: str) -> dict:
    return json.loads(manage("durable_inspect", eid, "--json"))


def status(eid: str) -> dict:
    return json.loads(manage("durable_status", eid, "--json"))


def inspect_all(ids) -> dict[str, dict]:
    ids = list(ids)
    return dict(zip(ids, parallel(inspect, ids), strict=True))


def status_all(ids) -> dict[str, dict]:
    ids = list(ids)
    return dict(zip(ids, parallel(status, ids), strict=True))


def wait_until(ids, wanted: set[str], what: str, workers: list[WorkerProcess]) -> dict:
    """Poll ``durable_status ID --json`` until every execution is in one of ``wanted``."""
    while True:
        for worker in workers:
            worker.check_alive()
        states = status_all(ids)
        bad = {
            eid: s["status"]
            for eid, s in states.items()
            if s["status"] in ("FAILED", "CANCELED", "TIMED_OUT") and s["status"] not in wanted
        }
        if bad:
            details = "\n".join(
                f"{eid} {states[eid]['status']}: {json.dumps(states[eid].get('error'))}"
                for eid in bad
            )
            raise DemoFailed(f"while waiting for {what}, executions ended badly:\n{details}")
        if all(s["status"] in wanted for s in states.values()):
            return states
        try:
            remaining(what)
        except DemoFailed as exc:
            now = ", ".join(f"{eid[:8]}={s['status']}" for eid, s in states.items())
            raise DemoFailed(f"{exc}; statuses now: {now}") from None
        time.sleep(0.3)


def step_table(steps: list[dict], notes: dict[str, str] | None = None) -> str:
    rows = [["STEP", "STATUS", "ATTEMPTS", "RESULT"] + (["AFTER THE CRASH"] if notes else [])]
    for step in steps:
        result = (
            json.dumps(step.get("result"))
            if step.get("error") is None
            else (f"{step['error'].get('type')}: {step['error'].get('message')}")
        )
        if len(result) > 44:
            result = result[:43] + "…"
        row = [step["step_id"], step["status"], str(step.get("attempts", "")), result]
        if notes:
            row.append(notes.get(step["step_id"], ""))
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def calls_per_step(calls: list[dict]) -> dict[str, dict[str, int]]:
    """{execution: {step id: real calls}}: the n-th distinct argument of an activity is step n."""
    seen: dict[tuple[str, str], list] = defaultdict(list)
    counts: dict[str, Counter] = defaultdict(Counter)
    for call in calls:
        key = (call["execution"], call["what"])
        if call["arg"] not in seen[key]:
            seen[key].append(call["arg"])
        step_id = f"{call['what']}:{seen[key].index(call['arg']) + 1}"
        counts[call["execution"]][step_id] += 1
    return counts


def start_worker(workers: list) -> WorkerProcess:
    header("Start a worker")
    say(f"$ python manage.py durable_worker --threads {THREADS} > demo_run/worker-1.log &")
    worker = WorkerProcess(1)
    workers.append(worker)
    say(f"worker pid {worker.pid}")
    return worker


def kill_mid_run(executions: dict[str, dict], worker: WorkerProcess, workers: list):
    header("SIGKILL the worker in the middle of its work")
    half_way = wait_for_mid_run(worker, executions)
    worker.kill()
    workers.remove(worker)
    calls = read_calls()
    say(f"{executions[half_way]['label']} has steps recorded and more to run: kill -9 {worker.pid}")
    say(
        f"The worker had begun {len(calls)} activity calls; it exited with status "
        f"{worker.proc.returncode} (SIGKILL: no chance to clean up or release anything)."
    )

    header("What the database recorded at the moment of the kill")
    say("$ python manage.py durable_status")
    say(manage("durable_status").rstrip(), indent=4)
    say("RUNNING executions are still leased by the dead worker. The next worker on this host")
    say("sees that the lease owner's process is gone and takes them over at once (a worker")
    say("on another host would wait for the lease to expire: 60 s by default).")
    say("")
    say("The recorded steps, from durable_inspect ID --json:")
    snapshot = inspect_all(executions)
    partial = 0
    for eid, info in snapshot.items():
        steps = info["steps"]
        say("")
        say(f"{executions[eid]['label']} ({eid}): {info['status']}, {len(steps)} step(s) recorded")
        if steps:
            say(step_table(steps), indent=4)
        if (
            executions[eid]["workflow"] != "onboard_user"
            and info["status"] not in ("COMPLETED", "SLEEPING", "WAITING")
            and steps
        ):
            partial += 1
    recorded = {eid: {s["step_id"] for s in info["steps"]} for eid, info in snapshot.items()}
    interrupted = [
        f"{step_id} of {executions[eid]['label']}"
        for eid, steps in calls_per_step(calls).items()
        for step_id in steps
        if step_id not in recorded[eid]
    ]
    if interrupted:
        say("")
        say("Begun but not recorded when the worker died (they will run again):")
        say("\n".join(f"- {text}" for text in interrupted), indent=4)
    if partial == 0:
        raise DemoFailed(
            "the kill did not land mid-run: no execution had some but not all of its steps recorded"
        )
    return snapshot, calls


def resume(executions: dict[str, dict], workers: list) -> WorkerProcess:
    header("Restart a worker: it takes over the dead worker's executions")
    say(f"$ python manage.py durable_worker --threads {THREADS} > demo_run/worker-2.log &")
    worker = WorkerProcess(2)
    workers.append(worker)
    live = [eid for eid, e in executions.items() if e["workflow"] != "onboard_user"]
    orders = [eid for eid in live if executions[eid]["workflow"] == "order"]
    others = [eid for eid in live if eid not in orders]
    deadline = time.monotonic() + 10
    while "took back" not in worker.output() and time.monotonic() < deadline:
        worker.check_alive()
        time.sleep(0.05)
    took_back = re.search(
        r"took back (\d+) execution\(s\) of dead worker\(s\) ([^,\s]+)", worker.output()
    )
    if took_back:
        say(
            f"From its log: took back {took_back[1]} execution(s) of the dead worker "
            f"{took_back[2]} at once, without waiting for their leases to expire."
        )
    else:
        say("Its log shows no take-over yet; the dead worker's leases will expire.")
    say("Waiting until every order sits in ctx.wait_signal('approve') and the report is done…")
    wait_until(orders, {"WAITING"}, "waiting for the orders to wait for approval", [worker])
    wait_until(others, {"COMPLETED"}, "waiting for the report to complete", [worker])
    say("$ python manage.py durable_status")
    say(manage("durable_status").rstrip(), indent=4)
    say("Each order slept 3 s on a durable timer and now waits for a signal; none holds one")
    say(f"of the worker's {THREADS} threads.")
    return worker


def send_signals(executions: dict[str, dict]) -> None:
    header("Send the approve signals with durable_signal")
    for eid, e in executions.items():
        if e["workflow"] != "order":
            continue
        order_id = e["input"]["order_id"]
        payload = (
            {"approved": False, "by": "bob", "reason": "address could not be verified"}
            if order_id == REJECTED
            else {"approved": True, "by": "alice"}
        )
        e["signal"] = payload
        args = ["durable_signal", eid, "approve", "--input", json.dumps(payload)]
        say(f"$ python manage.py {' '.join(_quote(a) for a in args)}")
        say(manage(*args).strip(), indent=4)


def expected_result(e: dict, final: dict) -> dict | None:
    if e["workflow"] == "nightly_report":
        return {"day": REPORT_DAY, "rows": sum(p * 100 for p in range(1, REPORT_PARTS + 1))}
    if e["workflow"] != "order":
        return None
    order_id, items = e["input"]["order_id"], e["input"]["items"]
    total = sum(PRICES[sku] for sku in items)
    if not e["signal"]["approved"]:
        return {
            "order_id": order_id,
            "outcome": "refunded",
            "items": items,
            "refunded_cents": total,
            "reason": e["signal"]["reason"],
        }
    tracking = (final.get("result") or {}).get("tracking")
    return {
        "order_id": order_id,
        "outcome": "shipped",
        "items": items,
        "charged_cents": total,
        "approved_by": "alice",
        "carrier": "DemoPost",
        "tracking": tracking,
    }


def summarize(executions, snapshot, calls_at_kill) -> list[str]:
    header("Summary")
    problems: list[str] = []
    final = inspect_all(executions)
    statuses = status_all(executions)
    counts = calls_per_step(read_calls())
    killed_counts = calls_per_step(calls_at_kill)
    for eid, e in executions.items():
        info, st = final[eid], statuses[eid]
        before = {s["step_id"]: s for s in snapshot[eid]["steps"]}
        notes, kept, reran, fresh = {}, [], [], []
        for step in info["steps"]:
            sid = step["step_id"]
            ran = counts.get(eid, {}).get(sid)
            times = f" (ran {ran}×)" if ran else ""
            if sid in before:
                kept.append(sid)
                notes[sid] = "resumed: recorded before the kill, not re-run" + times
                if before[sid] != step:
                    problems.append(f"{e['label']}: step {sid} changed after the crash")
                if ran not in (None, 1):
                    problems.append(f"{e['label']}: recorded step {sid} ran {ran} times")
            elif killed_counts.get(eid, {}).get(sid):
                reran.append(sid)
                notes[sid] = "re-ran: the kill interrupted it before it was recorded" + times
            else:
                fresh.append(sid)
                notes[sid] = (
                    f"ran after the restart{times}" if ran else "recorded after the restart"
                )
        for sid, n in counts.get(eid, {}).items():
            if n > 1 and sid not in reran:
                problems.append(f"{e['label']}: step {sid} ran {n} times")
        say("")
        say(f"{e['label']}  [{e['workflow']}]  id {eid}")
        say(f"status:  {st['status']}", indent=4)
        say(f"result:  {json.dumps(st.get('result'))}", indent=4)
        say(
            f"steps:   {len(info['steps'])} — {len(kept)} resumed from the record, "
            f"{len(reran)} re-run (interrupted by the kill), {len(fresh)} run after the restart",
            indent=4,
        )
        if kept:
            say(f"resumed, not re-run: {', '.join(kept)}", indent=4)
        say(step_table(info["steps"], notes), indent=6)

        if e["workflow"] == "onboard_user":
            timers = info.get("timers", [])
            if st["status"] != "SLEEPING":
                problems.append(f"{e['label']}: expected SLEEPING, found {st['status']}")
            if not timers:
                problems.append(f"{e['label']}: no timer recorded for its ctx.sleep(3600)")
            else:
                due = dt.datetime.fromisoformat(timers[0]["due_at"])
                left = (due - dt.datetime.now(due.tzinfo)).total_seconds()
                say(
                    f"timer:   {timers[0]['kind']} {timers[0]['step_id']} due "
                    f"{timers[0]['due_at']} (in {left / 60:.0f} min)",
                    indent=4,
                )
                say(
                    "It is SLEEPING in ctx.sleep(3600): a due-at row in the Timer table, not a\n"
                    f"blocked thread. The worker ran every other execution with its {THREADS}\n"
                    "threads meanwhile, and will run compute_score when the timer fires.",
                    indent=4,
                )
                if not 3000 < left <= 3600:
                    problems.append(f"{e['label']}: its timer is due in {left:.0f} s, not ~1 h")
            if [s["step_id"] for s in info["steps"]] != ["send_email:1"]:
                problems.append(f"{e['label']}: steps {[s['step_id'] for s in info['steps']]}")
            continue
        if st["status"] != "COMPLETED":
            problems.append(f"{e['label']}: ended {st['status']}: {st.get('error')}")
        want = expected_result(e, st)
        if st.get("result") != want:
            problems.append(f"{e['label']}: result {st.get('result')!r}, expected {want!r}")
    return problems


def main() -> int:
    print(f"Django Durable demo, Python {sys.version.split()[0]}, in {RUN_DIR}")
    workers: list[WorkerProcess] = []
    try:
        build_project()
        migrate()
        first = start_worker(workers)
        executions = start_executions()
        snapshot, calls_at_kill = kill_mid_run(executions, first, workers)
        worker = resume(executions, workers)
        send_signals(executions)

        header("Wait for every execution to complete")
        finishing = [eid for eid, e in executions.items() if e["workflow"] != "onboard_user"]
        wait_until(finishing, {"COMPLETED"}, "waiting for every execution to complete", workers)
        say("$ python manage.py durable_status")
        say(manage("durable_status").rstrip(), indent=4)

        problems = summarize(executions, snapshot, calls_at_kill)

        header("Stop the worker with SIGTERM")
        stopping = time.monotonic()
        code = worker.terminate()
        workers.remove(worker)
        say(
            f"kill -TERM {worker.pid}: the worker exited with status {code} "
            f"after {time.monotonic() - stopping:.1f} s"
        )
        log = worker.output()
        say("Last lines of its log (demo_run/worker-2.log):")
        say("\n".join(log.strip().splitlines()[-3:]), indent=4)
        if code != 0:
            problems.append(f"the worker exited {code} after SIGTERM")
        for path in sorted(RUN_DIR.glob("worker-*.log")):
            text = path.read_text(errors="replace")
            if "Traceback" in text or "unexpected error" in text:
                problems.append(f"{path.name} shows an error:\n{text}")
        if problems:
            raise DemoFailed("\n".join(f"- {p}" for p in problems))
    except DemoFailed as exc:
        print(f"\nDEMO FAILED after {elapsed():.1f} s:\n{exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        for worker in workers:
            if worker.alive():
                worker.kill()
    print(
        f"\nDEMO PASSED in {elapsed():.1f} s: every execution resumed after the SIGKILL "
        f"without re-running a recorded step.",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
