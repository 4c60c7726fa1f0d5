"""Run every benchmark case, each in a fresh process, and print one table of medians.

    scripts/bench [--quick] [--reps N] [--only TEXT[,TEXT...]] [--no-postgres] [--no-dbos]

See benchmarks/README.md for what each workload measures and the settings used. Runs with the
project's venv; DBOS's cases run with ``.venv-dbos/bin/python`` (its own dependencies).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS_PY = os.environ.get("BENCH_PYTHON", sys.executable)
DBOS_PY = os.environ.get("BENCH_DBOS_PYTHON", str(ROOT / ".venv-dbos" / "bin" / "python"))
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/bench")
DBOS_PG_URL = os.environ.get("BENCH_DBOS_PG_URL", "postgresql://postgres@127.0.0.1:5432/bench_dbos")
CASE_TIMEOUT = 900

# W4: sleepers, of which w4_due fall due together. DBOS holds each sleeping workflow in a
# thread of its own: it gets w4_due sleepers, all of them due together.
FULL = {
    "floor_n": 2000,
    "w1": 1000,
    "w2": 1000,
    "w3": 10_000,
    "w4": 100_000,
    "w4_due": 2000,
    "w5": 30,
    "w6": 1000,
    "w7": 2000,
    "w8": (10_000, 1_000_000),
}
QUICK = {
    "floor_n": 1000,
    "w1": 1000,
    "w2": 150,
    "w3": 1000,
    "w4": 10_000,
    "w4_due": 500,
    "w5": 3,
    "w6": 150,
    "w7": 300,
    "w8": (10_000, 100_000),
}
# W7: a queue limited to W7_LIMIT running at once, served by W7_PROCESSES worker processes
# (ours: W7_THREADS threads each, more than the limit, so that only the limit holds it).
W7_LIMIT = 8
W7_PROCESSES = 2
W7_THREADS = 8
# W8: a median cost at the big size at most this many times the small size's counts as flat.
W8_FLAT = 1.5


@dataclass
class Case:
    workload: str  # "floor", "W1", ...
    db: str  # "sqlite", "postgres"
    engine: str  # "durable", "dbos", or the floor's setting
    argv: list[str]
    unit: str
    higher_is_better: bool = False
    label: str = ""
    env: dict[str, str] = field(default_factory=dict)
    values: list[float] = field(default_factory=list)
    extras: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.workload, self.db, self.label)

    @property
    def name(self) -> str:
        return self.engine if not self.label else f"{self.engine} ({self.label})"


def build_cases(sizes: dict, postgres: bool, dbos: bool) -> list[Case]:
    dbs = ["sqlite"] + (["postgres"] if postgres else [])
    n = str(sizes["floor_n"])
    ours = [OURS_PY, "-m", "benchmarks.durable_cases"]
    peer = [DBOS_PY, "-m", "benchmarks.dbos_cases"]
    cases = [
        Case(
            "floor",
            "sqlite",
            "WAL, synchronous=FULL",
            [OURS_PY, "-m", "benchmarks.floor", "sqlite-full", n],
            "µs/commit",
        ),
        Case(
            "floor",
            "sqlite",
            "WAL, synchronous=NORMAL",
            [OURS_PY, "-m", "benchmarks.floor", "sqlite-normal", n],
            "µs/commit",
        ),
    ]
    if postgres:
        cases.append(
            Case(
                "floor",
                "postgres",
                "loopback TCP",
                [OURS_PY, "-m", "benchmarks.floor", "postgres", n],
                "µs/commit",
            )
        )
    workloads = [
        ("W1", ["w1", str(sizes["w1"])], ["w1", str(sizes["w1"])], "µs/step", False),
        ("W2", ["w2", str(sizes["w2"]), "1"], ["w2", str(sizes["w2"])], "workflows/s", True),
        ("W3", ["w3", str(sizes["w3"])], ["w3", str(sizes["w3"])], "µs/skipped step", False),
        (
            "W4",
            ["w4", str(sizes["w4"]), str(sizes["w4_due"])],
            ["w4", str(sizes["w4_due"])],
            "ms late p99",
            False,
        ),
        ("W5", ["w5", str(sizes["w5"])], ["w5", str(sizes["w5"])], "ms to 1st step p50", False),
        ("W6", ["w6", str(sizes["w6"])], ["w6", str(sizes["w6"])], "s to gather", False),
        (
            "W7",
            ["w7", str(sizes["w7"]), str(W7_PROCESSES), str(W7_THREADS)],
            ["w7", str(sizes["w7"]), str(W7_PROCESSES), str(W7_LIMIT)],
            "workflows/s",
            True,
        ),
    ]
    for workload, our_args, peer_args, unit, higher in workloads:
        # W4: our value is when the scheduler fired the timers; DBOS has no firing apart
        # from the workflow going on, so its value is when the next step ran (resumed).
        our_unit, peer_unit = (
            (f"{unit} (fired)", f"{unit} (resumed)") if workload == "W4" else (unit, unit)
        )
        # W2, W6, W7: ours polls as often as DBOS's queue does in W2 and W7 (10 ms); W6 has
        # W2's worker setup. Elsewhere the default.
        poll = {"BENCH_POLL_SECONDS": "0.01"} if workload in ("W2", "W6", "W7") else {}
        if workload == "W7":
            poll = {**poll, "BENCH_QUEUE_CONCURRENCY": str(W7_LIMIT)}
        for db in dbs:
            cases.append(Case(workload, db, "durable", ours + our_args, our_unit, higher, env=poll))
            if dbos:
                cases.append(Case(workload, db, "dbos", peer + peer_args, peer_unit, higher))
            if workload == "W1" and db == "postgres":
                cases.append(
                    Case(
                        "W1",
                        db,
                        "durable",
                        ours + our_args,
                        our_unit,
                        higher,
                        "no prepared statements: Django's default",
                        {"BENCH_PREPARE_THRESHOLD": "none"},
                    )
                )
            if workload == "W7":
                # The same, but every workflow is started before the workers: the queue alone.
                backlog = "backlog: all started before the workers"
                cases.append(
                    Case(
                        workload,
                        db,
                        "durable",
                        ours + our_args + ["1"],
                        unit,
                        higher,
                        backlog,
                        poll,
                    )
                )
                if dbos:
                    cases.append(
                        Case(workload, db, "dbos", peer + peer_args + ["1"], unit, higher, backlog)
                    )
            if workload == "W2" and db == "postgres":
                cases.append(
                    Case(
                        "W2",
                        db,
                        "durable",
                        ours + ["w2", str(sizes["w2"]), "3"],
                        unit,
                        higher,
                        "3 worker processes",
                        poll,
                    )
                )
    # W8: ours only (DBOS has no such case); one case per database and size.
    for db in dbs:
        for finished in sizes["w8"]:
            cases.append(
                Case(
                    "W8",
                    db,
                    "durable",
                    ours + ["w8", str(finished)],
                    "µs/claim p50",
                    label=f"{finished:,} finished",
                )
            )
    return cases


def run_case(case: Case) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="durable-bench-"))
    env = dict(os.environ)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    if case.db == "sqlite":
        env["DATABASE_URL"] = f"sqlite:///{tmp}/durable.sqlite3"
        env["DBOS_URL"] = f"sqlite:///{tmp}/dbos.sqlite3"
    else:
        env["DATABASE_URL"] = PG_URL
        env["DBOS_URL"] = DBOS_PG_URL
    env.update(case.env)
    try:
        proc = subprocess.Popen(
            case.argv,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group: nothing outlives a timeout
        )
        try:
            out, err = proc.communicate(timeout=CASE_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            err += f"\ntimed out after {CASE_TIMEOUT} s"
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # any straggler of the case's group
        except ProcessLookupError:
            pass
        results = [line for line in out.splitlines() if line.startswith("RESULT ")]
        if proc.returncode != 0 or not results:
            case.errors.append(f"exit {proc.returncode}: {err.strip()[-1500:]}")
            return
        result = json.loads(results[-1][len("RESULT ") :])
        case.values.append(result.pop("value"))
        case.extras.append(result)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def ensure_postgres() -> bool:
    """Create our own benchmark databases if missing; False if PostgreSQL is unreachable."""
    try:
        import psycopg
    except ImportError:
        return False
    from urllib.parse import urlparse

    for url in (PG_URL, DBOS_PG_URL):
        name = urlparse(url).path.lstrip("/")
        if name == "test" or name.startswith("test_"):
            sys.exit(f"benchmarks/run.py: refusing to use the database {name!r}; pick another")
        admin = urlparse(url)._replace(path="/postgres").geturl()
        try:
            with psycopg.connect(admin, autocommit=True, connect_timeout=5) as db:
                if not db.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
                ).fetchone():
                    db.execute(f'CREATE DATABASE "{name}"')
        except psycopg.Error as exc:
            print(
                f"benchmarks/run.py: PostgreSQL unavailable ({exc}); SQLite only", file=sys.stderr
            )
            return False
    return True


def fmt(value: float) -> str:
    if value != value:  # nan
        return "—"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(cases: list[Case]) -> str:
    floors = {
        ("sqlite", "WAL, synchronous=FULL"): None,
        ("postgres", "loopback TCP"): None,
    }
    for case in cases:
        if case.workload == "floor" and case.values and (case.db, case.engine) in floors:
            floors[(case.db, case.engine)] = statistics.median(case.values)
    floor_of = {
        "sqlite": floors[("sqlite", "WAL, synchronous=FULL")],
        "postgres": floors[("postgres", "loopback TCP")],
    }
    peers = {
        case.key: statistics.median(case.values)
        for case in cases
        if case.engine == "dbos" and case.values
    }
    w2_times = our_w2_seconds(cases)
    header = [
        "workload",
        "db",
        "engine",
        "median",
        "min–max",
        "unit",
        "vs DBOS",
        "× floor",
        "p50 / p99 ms",
    ]
    rows = [header]
    for case in cases:
        engine = case.name
        if not case.values:
            rows.append([case.workload, case.db, engine, "FAILED", "", case.unit, "", "", ""])
            continue
        med = statistics.median(case.values)
        spread = f"{fmt(min(case.values))}–{fmt(max(case.values))}"
        vs = ""
        # DBOS's case with the same label, else its only one (ours has variants it has not).
        peer_key = case.key if case.key in peers else (case.workload, case.db, "")
        if case.engine == "durable" and peer_key in peers:
            peer = peers[peer_key]
            ours = med
            if case.workload == "W4":  # like with like: DBOS's value is resumed lateness
                ours = statistics.median(e["resumed_p99_ms"] for e in case.extras)
            if ours > 0 and peer > 0:
                speedup = ours / peer if case.higher_is_better else peer / ours
                vs = f"{speedup:.2f}× {'faster' if speedup >= 1 else 'slower'}"
        ratio = ""
        if case.workload == "W1" and floor_of.get(case.db):
            ratio = f"{med / floor_of[case.db]:.2f}"
        elif case.workload == "floor":
            ratio = "1.00" if (case.db, case.engine) in floors else ""
        lat = ""
        if case.extras and "resumed_p99_ms" in case.extras[0]:
            p50 = statistics.median(e["resumed_p50_ms"] for e in case.extras)
            p99 = statistics.median(e["resumed_p99_ms"] for e in case.extras)
            lat = f"resumed {fmt(p50)} / {fmt(p99)}"
        elif case.extras and "p99_ms" in case.extras[0]:
            p50 = statistics.median(e["p50_ms"] for e in case.extras)
            p99 = statistics.median(e["p99_ms"] for e in case.extras)
            lat = f"{fmt(p50)} / {fmt(p99)}"
        elif case.extras and "resume_ms" in case.extras[0]:
            lat = f"resume {fmt(statistics.median(e['resume_ms'] for e in case.extras))} ms"
        elif case.workload == "W6" and case.engine == "durable" and case.db in w2_times:
            lat = f"{med / w2_times[case.db]:.2f}× our W2 time"
        elif case.workload == "W8":
            lat = f"fill {fmt(statistics.median(e['fill_s'] for e in case.extras))} s"
        elif case.extras and "max_concurrency" in case.extras[0]:
            most = max(e["max_concurrency"] for e in case.extras)
            lat = f"max concurrent {most} (limit {case.extras[0]['limit']})"
        rows.append([case.workload, case.db, engine, fmt(med), spread, case.unit, vs, ratio, lat])
    return aligned(rows)


def our_w2_seconds(cases: list[Case]) -> dict[str, float]:
    """Per database: the seconds our W2 (one worker process) takes for as many workflows as
    W6 has children, from its median throughput in this run."""
    children = {
        case.db: case.extras[0]["children"]
        for case in cases
        if case.workload == "W6" and case.extras
    }
    return {
        case.db: children[case.db] / statistics.median(case.values)
        for case in cases
        if case.workload == "W2"
        and case.engine == "durable"
        and not case.label
        and case.values
        and case.db in children
    }


def w6_w7_table(cases: list[Case]) -> str:
    """W6's and W7's other numbers (medians over the repetitions), or "" when neither ran."""
    w2_times = our_w2_seconds(cases)
    w6 = [
        [
            "db",
            "engine",
            "parent done s",
            "children started s",
            "children done s",
            "gather ms",
            "parent runs",
            "our W2 time s",
            "÷ W2 time",
        ]
    ]
    w7 = [
        [
            "db",
            "engine",
            "workflows/s",
            "starts done s",
            "max concurrent (each rep)",
            "limit",
            "over-limit warnings",
            "worker DB errors",
        ]
    ]

    def med(case: Case, key: str) -> float:
        values = [e[key] for e in case.extras if e.get(key) is not None]
        return statistics.median(values) if values else float("nan")

    for case in cases:
        if not case.extras:
            continue
        if case.workload == "W6":
            ours = case.engine == "durable"
            w2 = w2_times.get(case.db)
            w6.append(
                [
                    case.db,
                    case.engine,
                    fmt(statistics.median(case.values)),
                    fmt(med(case, "fanned_out_s")) if ours else "—",
                    fmt(med(case, "children_done_s")),
                    fmt(med(case, "gather_ms")) if ours else "—",
                    f"{med(case, 'parent_runs'):.0f}" if ours else "—",
                    fmt(w2) if ours and w2 else "—",
                    f"{statistics.median(case.values) / w2:.2f}" if ours and w2 else "—",
                ]
            )
        elif case.workload == "W7":
            dbos = case.engine == "dbos"
            w7.append(
                [
                    case.db,
                    case.name,
                    fmt(statistics.median(case.values)),
                    fmt(med(case, "starts_s")) if not case.label else "—",
                    ", ".join(str(e["max_concurrency"]) for e in case.extras),
                    str(case.extras[0]["limit"]),
                    f"{med(case, 'over_limit_warnings'):.0f}" if dbos else "—",
                    "—" if dbos else str(sum(e["worker_db_errors"] for e in case.extras)),
                ]
            )
    parts = []
    if len(w6) > 1:
        parts.append("W6 detail (medians)\n" + aligned(w6))
    if len(w7) > 1:
        parts.append("W7 detail (medians)\n" + aligned(w7))
    return "\n\n".join(parts)


def w4_table(cases: list[Case]) -> str:
    """W4's other numbers (medians over the repetitions), or "" when W4 did not run."""
    rows = [
        [
            "db",
            "engine",
            "sleepers",
            "threads",
            "RSS MB",
            "idle CPU s/10 s",
            "fired p50 / p99 ms",
            "resumed p50 / p99 ms",
            "RSS after MB",
        ]
    ]
    for case in cases:
        if case.workload != "W4" or not case.extras:
            continue
        med = {key: statistics.median(e[key] for e in case.extras) for key in case.extras[0]}
        fired = "—" if case.engine == "dbos" else f"{fmt(med['p50_ms'])} / {fmt(med['p99_ms'])}"
        rows.append(
            [
                case.db,
                case.engine,
                f"{med['sleepers']:,.0f}",
                f"{med['threads']:,.0f}",
                f"{med['rss_mb']:.0f}",
                f"{med['idle_cpu_s']:.2f}",
                fired,
                f"{fmt(med['resumed_p50_ms'])} / {fmt(med['resumed_p99_ms'])}",
                f"{med['rss_after_mb']:.0f}",
            ]
        )
    return "W4 detail (medians)\n" + aligned(rows) if len(rows) > 1 else ""


def w8_table(cases: list[Case]) -> str:
    """W8's measurements at each size side by side (medians over the repetitions of each
    one's p50 and p99), with big ÷ small, or "" when W8 did not run."""
    by_db: dict[str, list[Case]] = {}
    for case in cases:
        if case.workload == "W8" and case.extras:
            by_db.setdefault(case.db, []).append(case)

    def med(case: Case, name: str, key: str) -> float:
        return statistics.median(e["measures"][name][key] for e in case.extras)

    rows = []
    for db, found in by_db.items():
        found.sort(key=lambda c: c.extras[0]["finished"])
        small, big = found[0], found[-1]
        if not rows:
            rows.append(
                [
                    "db",
                    "operation",
                    f"{small.extras[0]['finished']:,}: p50 / p99 µs",
                    f"{big.extras[0]['finished']:,}: p50 / p99 µs",
                    "p50 ratio",
                    "",
                ]
            )
        for name in small.extras[0]["measures"]:
            if name not in big.extras[0]["measures"]:
                continue
            a, b = med(small, name, "p50"), med(big, name, "p50")
            ratio = b / a if a else float("nan")
            rows.append(
                [
                    db,
                    name,
                    f"{fmt(a)} / {fmt(med(small, name, 'p99'))}",
                    f"{fmt(b)} / {fmt(med(big, name, 'p99'))}",
                    f"{ratio:.2f}",
                    "flat" if ratio <= W8_FLAT else "GROWS",
                ]
            )
    if not rows:
        return ""
    sizes = "; ".join(
        f"{c.db} {c.extras[0]['finished']:,} finished + {c.extras[0]['sleeping']:,} sleeping "
        f"filled in {fmt(statistics.median(e['fill_s'] for e in c.extras))} s"
        + (f", then {c.extras[0]['analyzed']}" if c.extras[0]["analyzed"] != "no" else "")
        for found in by_db.values()
        for c in found
    )
    return f"W8 detail (medians over the repetitions; {sizes})\n" + aligned(rows)


def aligned(rows: list[list[str]]) -> str:
    """The rows as text columns, the first row a header underlined with dashes."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def machine(postgres: bool) -> str:
    parts = [
        f"{platform.node()} · {os.cpu_count()} CPUs · Python {platform.python_version()}",
        f"SQLite {sqlite3.sqlite_version}",
    ]
    if postgres:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=5) as db:
            parts.append("PostgreSQL " + db.execute("SHOW server_version").fetchone()[0])
    try:
        dbos = subprocess.run(
            [DBOS_PY, "-c", "import importlib.metadata as m; print(m.version('dbos'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        parts.append(f"DBOS {dbos}")
    except (OSError, subprocess.CalledProcessError):
        pass
    try:
        load = os.getloadavg()[0]
        parts.append(f"load average {load:.1f} at the start")
    except OSError:
        pass
    return " · ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="smaller sizes, W4 once, about 7 minutes"
    )
    parser.add_argument("--reps", type=int, default=3, help="repetitions of every case (default 3)")
    parser.add_argument(
        "--only",
        default="",
        help="run only cases whose workload, db or engine contains this (or, comma-separated, "
        "any of these)",
    )
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-dbos", action="store_true")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    postgres = not args.no_postgres and ensure_postgres()
    if not args.no_dbos and not Path(DBOS_PY).exists():
        # A run without DBOS has no "vs DBOS" column: say so rather than print one half-empty.
        sys.exit(
            f"benchmarks/run.py: DBOS's Python is not at {DBOS_PY} (BENCH_DBOS_PYTHON): run "
            "through scripts/bench, which makes its venv, or pass --no-dbos"
        )
    dbos = not args.no_dbos
    cases = build_cases(sizes, postgres, dbos)
    if args.only:
        wanted = [text.strip().lower() for text in args.only.split(",") if text.strip()]
        cases = [
            c
            for c in cases
            if any(text in f"{c.workload} {c.db} {c.engine}".lower() for text in wanted)
        ]
    print(f"benchmarks: {machine(postgres)}", flush=True)
    started = time.monotonic()
    for rep in range(args.reps):  # repetitions outermost: noise spreads over every case
        for case in cases:
            if args.quick and case.workload == "W4" and rep > 0:
                continue  # W4 waits out fixed windows: once only, or --quick would take 8 min
            t = time.monotonic()
            run_case(case)
            status = "ok" if len(case.values) == rep + 1 else "FAILED"
            print(
                f"  [{rep + 1}/{args.reps}] {case.workload} {case.db} {case.engine} {case.label}: "
                f"{status} ({time.monotonic() - t:.1f} s)",
                file=sys.stderr,
                flush=True,
            )
    print()
    print(
        f"sizes: W1 {sizes['w1']} steps · W2 {sizes['w2']} workflows × 3 steps · "
        f"W3 K = {sizes['w3']:,} · W4 {sizes['w4']:,} sleepers, {sizes['w4_due']:,} due together "
        f"(DBOS {sizes['w4_due']:,}) · "
        f"W5 {sizes['w5']} starts · W6 {sizes['w6']:,} children × 3 steps · "
        f"W7 {sizes['w7']:,} workflows, queue limit {W7_LIMIT}, {W7_PROCESSES} worker processes · "
        f"W8 {' and '.join(f'{n:,}' for n in sizes['w8'])} finished, a tenth as many sleeping · "
        f"floor {sizes['floor_n']} commits · "
        f"{args.reps} repetitions, each case in a fresh process · "
        f"{time.monotonic() - started:.0f} s"
    )
    print(table(cases))
    print(
        "vs DBOS: how many times better than DBOS 3.4.0 on the same database in this run "
        "(time: DBOS ÷ ours; throughput: ours ÷ DBOS).\n"
        "× floor: µs per step ÷ µs per committed 1-row INSERT with the same settings "
        "(SQLite rows: WAL + synchronous=FULL, which both engines use here).\n"
        "W4: ms after the moment T at which the due timers fell due together. Fired: the "
        "scheduler recorded the sleep as over (ours only); resumed: the workflow's next step "
        "ran. vs DBOS compares resumed p99 with resumed p99.\n"
        "W6: seconds from the parent's start to its completion; × our W2 time: that ÷ the time "
        "our W2 (one worker process) takes for as many workflows, at its median rate here.\n"
        "W7: max concurrent: the most step bodies running at one moment, highest over the "
        "repetitions."
    )
    detail = w4_table(cases)
    if detail:
        print()
        print(detail)
        print(
            "threads, RSS: the one worker process while every execution sleeps; idle CPU: its "
            "user + system CPU seconds over those 10 s; RSS after: once the due ones have finished."
        )
    detail = w8_table(cases)
    if detail:
        print()
        print(detail)
        print(
            f"W8: µs per operation at each size (p50 / p99); ratio: big ÷ small p50, flat when "
            f"≤ {W8_FLAT}. The claim as the worker calls it (store.claim, 4 free threads), "
            "after a start_workflow, and with nothing runnable; the timer poll as the "
            "scheduler runs it (store.fire_due_timers then store.next_timer_due) with none and "
            "with 10 due; durable_status through call_command; run_workflow: a 3-step workflow "
            "end to end in this thread."
        )
    detail = w6_w7_table(cases)
    if detail:
        print()
        print(detail)
        print(
            "W6: children started / done: seconds from the parent's start until the last child "
            "was created / had finished; gather: from the last child's end to the parent's; "
            "parent runs: how many times a worker ran the parent (each wake-up is a run).\n"
            "W7: starts done: seconds the driver took to start (enqueue) them all; backlog: all "
            "started before the workers, timed from the first step body's beginning to the last "
            "one's end; over-limit warnings: DBOS's own log lines saying it found more running "
            "than its limit (median per repetition); worker DB errors: our workers' log lines "
            "reporting a database error, summed over the repetitions."
        )
    failed = [c for c in cases if c.errors]
    for case in failed:
        for n, error in enumerate(case.errors, 1):
            print(
                f"\n{case.workload} {case.db} {case.name} failed "
                f"({n} of {len(case.errors)}):\n{error}"
            )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
