"""Short human texts for times and durations, and the small HTML pieces every page shares."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from ..models import RunOutcome, Status


def duration(seconds: float | None) -> str:
    """Seconds as "0.25 s", "12.3 s", "4 m 05 s", "2 h 03 m", "3 d 04 h"."""
    if seconds is None:
        return "—"
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    for size, unit, small, small_unit in (
        (86400, "d", 3600, "h"),
        (3600, "h", 60, "m"),
        (60, "m", 1, "s"),
    ):
        if whole >= size:
            return f"{whole // size} {unit} {(whole % size) // small:02d} {small_unit}"
    return f"{whole} s"  # unreachable: kept for the type checker


def between(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


def moment(when: dt.datetime | None, now: dt.datetime) -> str:
    """A time in the current time zone: "14:03:22" today, "2025-03-02 14:03:22" otherwise."""
    if when is None:
        return "—"
    local = timezone.localtime(when) if timezone.is_aware(when) else when
    today = timezone.localtime(now).date() if timezone.is_aware(now) else now.date()
    return f"{local:%H:%M:%S}" if local.date() == today else f"{local:%Y-%m-%d %H:%M:%S}"


def full_moment(when: dt.datetime | None) -> str:
    """A time with its date, seconds and time zone (for titles and the execution page)."""
    if when is None:
        return "—"
    local = timezone.localtime(when) if timezone.is_aware(when) else when
    return f"{local:%Y-%m-%d %H:%M:%S.%f}"[:-3] + f" {local:%Z}".rstrip()


def relative(when: dt.datetime, now: dt.datetime) -> str:
    """ "in 5 m 00 s" or "3.20 s ago"."""
    seconds = (when - now).total_seconds()
    return f"in {duration(seconds)}" if seconds >= 0 else f"{duration(-seconds)} ago"


def status_badge(status: str, title: str = "") -> SafeString:
    label = Status(status).label if status in Status.values else status
    return format_html(
        '<span class="dd-badge dd-status-{}" title="{}">{}</span>', status.lower(), title, label
    )


def outcome_badge(outcome: str) -> SafeString:
    if not outcome:
        return format_html('<span class="dd-badge dd-status-running">{}</span>', "Running")
    label = RunOutcome(outcome).label if outcome in RunOutcome.values else outcome
    return format_html(
        '<span class="dd-badge dd-outcome-{}">{}</span>', outcome.lower().replace("_", "-"), label
    )


def short_error(error_type: str, message: str, width: int = 90) -> str:
    """ "ValueError: boom" from a stored import path and message, on one line."""
    kind = error_type.rsplit(".", 1)[-1]
    text = " ".join(f"{kind}: {message}".split()) if message else kind
    return text if len(text) <= width else text[: width - 1] + "…"
