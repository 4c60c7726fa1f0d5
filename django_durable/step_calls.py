"""Facts about one step call: its name, whether its arguments fit, its error, its timeout."""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import logging
import math
import reprlib
import traceback
import types
from collections.abc import Callable
from typing import Any

from .exceptions import InvalidInput


def callable_name(fn: Callable[..., Any]) -> str:
    """The step name of a callable: its ``__name__`` (for a partial, the wrapped one's)."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    return getattr(fn, "__name__", None) or type(fn).__name__


def describe_error(error: BaseException) -> tuple[str, str, str]:
    """The stored facts of an error: import path of its type, message, traceback."""
    cls = type(error)
    error_type = f"{cls.__module__}.{cls.__qualname__}"
    trace = "".join(traceback.format_exception(cls, error, error.__traceback__))
    try:
        message = str(error)
    except Exception:  # noqa: BLE001 - a broken __str__ must not hide the failure
        message = repr(error)
    return error_type, message, trace


def timeout_seconds(value: Any, where: str, allow_zero: bool = False) -> float | None:
    if value is None:
        return None
    if isinstance(value, dt.timedelta):
        value = value.total_seconds()
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{where}() takes seconds (a number) or a timedelta, not {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{where}() needs a finite number of seconds, not {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{where}() needs a positive number of seconds, not {value!r}")
    return float(value)


def check_arguments(fn: Callable[..., Any], args: tuple, kwargs: dict, what: str) -> None:
    """Refuse a call that cannot bind to ``fn`` before it runs (and before any retry)."""
    if not kwargs and _fits_positionally(fn, len(args)):
        return
    try:
        signature = _signature(fn)
    except (TypeError, ValueError):
        return  # some builtins have no signature: let the call itself tell
    try:
        signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise InvalidInput(f"wrong arguments for {what}: {exc}") from None


def _fits_positionally(fn: Callable[..., Any], count: int) -> bool:
    # The common step call without inspect (~1.5 µs a step): a plain function, not wrapped
    # and without __signature__, whose positional parameters take ``count`` arguments and
    # whose keyword-only ones all have defaults. Anything else asks the signature.
    if type(fn) is not types.FunctionType:
        return False
    if "__wrapped__" in fn.__dict__ or "__signature__" in fn.__dict__:
        return False
    code = fn.__code__
    if code.co_kwonlyargcount > len(fn.__kwdefaults__ or ()):
        return False
    positional = code.co_argcount
    if count < positional - len(fn.__defaults__ or ()):
        return False
    return count <= positional or bool(code.co_flags & inspect.CO_VARARGS)


@functools.lru_cache(maxsize=1024)
def _cached_signature(fn: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(fn)


def _signature(fn: Callable[..., Any]) -> inspect.Signature:
    try:
        return _cached_signature(fn)
    except TypeError as exc:
        if "unhashable" not in str(exc):
            raise
        return inspect.signature(fn)


_SUMMARY = reprlib.Repr()
_SUMMARY.maxstring = 80
_SUMMARY.maxother = 80
_SUMMARY.maxlist = _SUMMARY.maxtuple = _SUMMARY.maxdict = _SUMMARY.maxset = 6
_SUMMARY.maxlevel = 3
SUMMARY_LIMIT = 500


def summarize_arguments(args: tuple, kwargs: dict) -> str:
    """A short, bounded ``repr`` of a step's arguments, kept beside its result for people."""
    if not args and not kwargs:
        return ""
    parts = [_summary(value) for value in args]
    parts += [f"{key}={_summary(value)}" for key, value in kwargs.items()]
    text = ", ".join(parts)
    return text if len(text) <= SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 1] + "…"


# Below these, reprlib returns the plain repr: it cuts an int's past 40 characters
# (``maxlong``) and a str's or any other value's past 80.
_SHORT_INT = 10**38
_SHORT_STR = _SUMMARY.maxstring - 2  # its two quotes


def _summary(value: Any) -> str:
    # The usual step argument, a short int or str, without reprlib's dispatch (~1 µs).
    kind = type(value)
    if kind is int:
        if -_SHORT_INT < value < _SHORT_INT:
            return repr(value)
    elif kind is str and len(value) <= _SHORT_STR:
        text = repr(value)
        if len(text) <= _SUMMARY.maxstring:  # escapes can make it longer
            return text
    return _SUMMARY.repr(value)


def log_retry(execution_id: str, step_id: str, attempt: int, error: BaseException, delay) -> None:
    """Log that a step's attempt failed and when it is tried again."""
    logging.getLogger("django_durable").warning(
        "execution %s: step %r attempt %d failed (%s: %s); retrying in %.3g s",
        execution_id,
        step_id,
        attempt,
        type(error).__name__,
        error,
        delay,
    )
