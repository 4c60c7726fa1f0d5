"""What every case process shares: the ``RESULT {json}`` line, and /proc readings (W4).

Standard library only: DBOS's venv imports this file too.
"""

import json
import os
import signal
import statistics
import subprocess
import time


def emit(**result) -> None:
    """Print the case's result as the last line of its output (``RESULT {json}``)."""
    print("RESULT " + json.dumps(result), flush=True)


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0–1) of ``values``, by the nearest-rank method."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))
    return ordered[rank]


def max_overlap(spans: list[tuple[float, float]]) -> int:
    """The most of the ``(begin, end)`` intervals that were open at any one moment.

    An interval that ends at the moment another begins does not overlap it.
    """
    events = sorted([(end, -1) for _, end in spans] + [(begin, 1) for begin, _ in spans])
    most = open_now = 0
    for _, change in events:
        open_now += change
        most = max(most, open_now)
    return most


def median(values: list[float]) -> float:
    return statistics.median(values)


# --- W4: one process's threads, memory and CPU time, read from /proc (Linux) ---------------


def proc_threads(pid: int) -> int:
    return int(_status_field(pid, "Threads"))


def proc_rss_mb(pid: int) -> float:
    return int(_status_field(pid, "VmRSS").split()[0]) / 1024  # the field is in kB


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process (all its threads) has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    # utime and stime are the 14th and 15th fields of the line; fields[0] is the 3rd (state).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _status_field(pid: int, name: str) -> str:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key == name:
                return value.strip()
    raise RuntimeError(f"no {name} in /proc/{pid}/status")


def wait_threads_steady(pid: int, steady: float = 2.0, timeout: float = 120.0) -> int:
    """Wait until the process runs more than one thread and their count held for ``steady`` s."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        if _status_field(pid, "State").startswith("Z"):
            raise RuntimeError(f"process {pid} exited")
        count = proc_threads(pid)
        if count != last:
            last, since = count, time.monotonic()
        elif count > 1 and time.monotonic() - since >= steady:
            return count
        time.sleep(0.1)
    raise RuntimeError(f"process {pid}'s thread count did not settle in {timeout:.0f} s")


def idle_window(pid: int, seconds: float = 10.0) -> dict:
    """Threads (the most seen), RSS at the end and CPU seconds used over ``seconds`` idle."""
    cpu = proc_cpu_seconds(pid)
    threads = proc_threads(pid)
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(0.5, left))
        threads = max(threads, proc_threads(pid))
    return {
        "threads": threads,
        "rss_mb": proc_rss_mb(pid),
        "idle_cpu_s": proc_cpu_seconds(pid) - cpu,
    }


def stop_process(proc: subprocess.Popen, timeout: float) -> None:
    """SIGTERM a child, and SIGKILL it if it has not exited after ``timeout`` seconds."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
