"""What every case process shares: printing its result for ``benchmarks/run.py``."""

import json
import statistics


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


def median(values: list[float]) -> float:
    return statistics.median(values)
