"""Stored values: msgpack with extension types for the few non-JSON types users need.

Supported: None, bool, int, float, str, bytes, list, tuple, dict, datetime, date, time,
timedelta, Decimal and UUID. Anything else is refused with an error naming the type and
where the value was going. Nothing is ever pickled.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

import msgpack

from .conf import durable_settings
from .exceptions import PayloadTooLarge, SerializationError

_DATETIME, _DATE, _TIME, _TIMEDELTA, _DECIMAL, _UUID, _TUPLE = range(1, 8)

SUPPORTED_TYPES = (
    "None, bool, int, float, str, bytes, list, tuple, dict, datetime, date, time, "
    "timedelta, Decimal, UUID"
)


class _Unsupported(Exception):
    def __init__(self, value: object):
        self.value = value


def _default(value: Any) -> Any:
    # datetime is a subclass of date: test it first.
    if isinstance(value, dt.datetime):
        return msgpack.ExtType(_DATETIME, value.isoformat().encode())
    if isinstance(value, dt.date):
        return msgpack.ExtType(_DATE, value.isoformat().encode())
    if isinstance(value, dt.time):
        return msgpack.ExtType(_TIME, value.isoformat().encode())
    if isinstance(value, dt.timedelta):
        return msgpack.ExtType(_TIMEDELTA, _pack([value.days, value.seconds, value.microseconds]))
    if isinstance(value, decimal.Decimal):
        return msgpack.ExtType(_DECIMAL, str(value).encode())
    if isinstance(value, uuid.UUID):
        return msgpack.ExtType(_UUID, value.bytes)
    if type(value) is tuple:
        return msgpack.ExtType(_TUPLE, _pack(list(value)))
    # strict_types sends subclasses of the plain types here (OrderedDict, IntEnum, Django's
    # SafeString...): store them as the plain type they are.
    for base in (bool, int, float, str, bytes, dict, list, tuple):
        if isinstance(value, base):
            return list(value) if base is tuple else base(value)
    raise _Unsupported(value)


def _ext_hook(code: int, data: bytes) -> Any:
    if code == _DATETIME:
        return dt.datetime.fromisoformat(data.decode())
    if code == _DATE:
        return dt.date.fromisoformat(data.decode())
    if code == _TIME:
        return dt.time.fromisoformat(data.decode())
    if code == _TIMEDELTA:
        days, seconds, microseconds = _unpack(data)
        return dt.timedelta(days=days, seconds=seconds, microseconds=microseconds)
    if code == _DECIMAL:
        return decimal.Decimal(data.decode())
    if code == _UUID:
        return uuid.UUID(bytes=data)
    if code == _TUPLE:
        return tuple(_unpack(data))
    return msgpack.ExtType(code, data)


def _pack(value: Any) -> bytes:
    return msgpack.packb(value, default=_default, strict_types=True, use_bin_type=True)


def _unpack(data: bytes) -> Any:
    return msgpack.unpackb(
        data,
        ext_hook=_ext_hook,
        raw=False,
        strict_map_key=False,
        # unpackb bounds every string, array and map by len(data), so a forged length
        # cannot make it allocate more than the stored bytes justify.
    )


def dumps(value: Any, *, what: str = "value") -> bytes:
    """Serialize ``value``; ``what`` names it in errors ("the result of step 'x:1'")."""
    try:
        data = _pack(value)
    except _Unsupported as exc:
        kind = type(exc.value)
        raise SerializationError(
            f"cannot store {what}: values of type {kind.__module__}.{kind.__qualname__} are "
            f"not supported (supported: {SUPPORTED_TYPES})"
        ) from None
    except (OverflowError, ValueError) as exc:
        raise SerializationError(f"cannot store {what}: {exc}") from None
    limit = durable_settings.DURABLE_MAX_PAYLOAD_BYTES
    if limit and len(data) > limit:
        raise PayloadTooLarge(
            f"cannot store {what}: it is {len(data):,} bytes serialized, over the "
            f"DURABLE_MAX_PAYLOAD_BYTES limit of {limit:,}; store large data elsewhere "
            "(a file, a model) and pass a reference"
        )
    return data


def loads(data: bytes | memoryview | None) -> Any:
    """Deserialize what :func:`dumps` wrote. ``None`` (no stored value) reads as ``None``."""
    if data is None:
        return None
    return _unpack(bytes(data))
