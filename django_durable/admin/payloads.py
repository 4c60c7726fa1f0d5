"""Stored payloads as HTML: decoded msgpack shown as pretty JSON, escaped, folded when long.

JSON has no bytes, Decimal, UUID, dates or tuples, so each such value carries a small type
tag (``Decimal "12.50"``) instead of passing for a plain string. Every piece of user data
goes through ``escape``; only the tags are markup of ours.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import math
import uuid
from typing import Any

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from .. import serialization
from ..display import to_json

# Past these a payload is folded into <details>, so that one big value keeps the page short.
FOLD_LINES = 12
FOLD_CHARS = 600
# Past this many characters rendering stops: the page is for reading, not for export.
MAX_CHARS = 100_000


class _Out:
    """Collects escaped text and tags, and stops collecting past ``MAX_CHARS``."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.chars = 0
        self.lines = 1
        self.truncated = False

    def text(self, text: str) -> None:
        if self.truncated:
            return
        self.chars += len(text)
        self.lines += text.count("\n")
        self.parts.append(escape(text))
        if self.chars > MAX_CHARS:
            self.truncated = True

    def tag(self, label: str) -> None:
        if not self.truncated:
            self.parts.append(format_html('<span class="dd-type">{}</span> ', label))


def _write(value: Any, out: _Out, indent: int) -> None:
    if out.truncated:
        return
    if isinstance(value, dict):
        if value:
            _write_items(list(value.items()), "{", "}", out, indent, keyed=True)
        else:
            out.text("{}")
    elif isinstance(value, (list, tuple)):
        if isinstance(value, tuple):
            out.tag("tuple")
        if value:
            _write_items(list(value), "[", "]", out, indent, keyed=False)
        else:
            out.text("[]")
    elif value is None or isinstance(value, (bool, int, str)):
        out.text(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, float):
        out.text(json.dumps(value) if math.isfinite(value) else repr(value))
    else:
        label, text = _tagged(value)
        out.tag(label)
        out.text(json.dumps(text, ensure_ascii=False))


def _write_items(items: list, opening: str, closing: str, out: _Out, indent: int, *, keyed: bool):
    pad = "  " * (indent + 1)
    out.text(opening + "\n")
    for n, item in enumerate(items):
        out.text(pad)
        if keyed:
            key, item = item
            # msgpack maps may have non-string keys: show them as what they are.
            out.text(json.dumps(key, ensure_ascii=False) if isinstance(key, str) else repr(key))
            out.text(": ")
        _write(item, out, indent + 1)
        out.text(",\n" if n < len(items) - 1 else "\n")
        if out.truncated:
            return
    out.text("  " * indent + closing)


def _tagged(value: Any) -> tuple[str, str]:
    """The type tag and the text of a value JSON cannot hold."""
    if isinstance(value, bytes):
        return f"bytes · {len(value)} B", base64.b64encode(value).decode()
    if isinstance(value, decimal.Decimal):
        return "Decimal", str(value)
    if isinstance(value, uuid.UUID):
        return "UUID", str(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return type(value).__name__, value.isoformat()
    if isinstance(value, dt.timedelta):
        return "timedelta", str(value)
    return type(value).__name__, repr(value)


def summary(value: Any) -> str:
    """A short description of a value, for the folded line: "list of 300 items"."""
    if isinstance(value, dict):
        keys = ", ".join(str(key) for key in list(value)[:5])
        more = ", …" if len(value) > 5 else ""
        return f"object with {len(value)} keys: {keys}{more}"
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__} of {len(value)} items"
    if isinstance(value, str):
        return f"text of {len(value):,} characters"
    if isinstance(value, bytes):
        return f"bytes · {len(value):,} B"
    return type(value).__name__


def render_value(value: Any, *, stored_bytes: int | None = None) -> SafeString:
    """``value`` as escaped pretty JSON in a <pre>, folded when it is long."""
    out = _Out()
    _write(value, out, 0)
    body = "".join(out.parts)
    if out.truncated:
        body += escape(f"\n… cut here: {MAX_CHARS:,} characters shown")
    pre = mark_safe(f'<pre class="dd-payload">{body}</pre>')
    if out.lines <= FOLD_LINES and out.chars <= FOLD_CHARS:
        return pre
    size = f", {stored_bytes:,} B stored" if stored_bytes is not None else ""
    return format_html(
        '<details class="dd-fold"><summary>{} <span class="dd-muted">({} lines{})</span>'
        "</summary>{}</details>",
        summary(value),
        f"{out.lines:,}",
        size,
        pre,
    )


def render(data: bytes | memoryview | None) -> SafeString:
    """A stored payload (msgpack bytes) as HTML; a dash when nothing is stored."""
    if data is None:
        return mark_safe('<span class="dd-muted">—</span>')
    data = bytes(data)
    try:
        value = serialization.loads(data)
    except Exception as exc:  # noqa: BLE001 - show what is stored even when it is odd
        return format_html(
            '<span class="dd-error">cannot decode {} stored bytes: {}</span>', len(data), exc
        )
    return render_value(value, stored_bytes=len(data))


def one_line(data: bytes | memoryview | None, width: int = 80) -> str:
    """A payload as compact JSON on one line, cut at ``width`` characters (for titles)."""
    if data is None:
        return ""
    try:
        text = to_json(serialization.loads(bytes(data)))
    except Exception:  # noqa: BLE001
        return f"{len(bytes(data))} undecodable bytes"
    return text if len(text) <= width else text[: width - 1] + "…"
