"""Step ids and the names stored beside them: their format and their limits, in one place.

A derived step id is ``name:n``, the n-th step of that name in a run. The ``ctx`` calls use
reserved names starting with ``ctx.``. Every id and name Django Durable stores in a
``CharField(max_length=255)`` is checked here before anything is written: the database
would refuse it on every run (PostgreSQL, MySQL) and the run would be retried forever.
"""

from __future__ import annotations

from .exceptions import InvalidInput

MAX_LENGTH = 255
RESERVED_PREFIX = "ctx."
SLEEP = "ctx.sleep"
WAIT_SIGNAL_PREFIX = "ctx.wait_signal:"
SET_EVENT_PREFIX = "ctx.set_event:"
WORKFLOW_TIMEOUT = "ctx.timeout"
# ctx.start_workflow's step name ends with the child's workflow name.
START_WORKFLOW_PREFIX = "ctx.start_workflow:"
WAIT_WORKFLOW = "ctx.wait_workflow"
# A signal name becomes part of its wait's step id ("ctx.wait_signal:<name>:<n>"), so it is
# kept well under the step id's limit.
MAX_SIGNAL_NAME_LENGTH = 200


def derived(name: str, occurrence: int) -> str:
    """The id of the ``occurrence``-th step called ``name`` in a run."""
    return f"{name}:{occurrence}"


def name_of(step_id: str) -> str:
    """The step name in a derived step id."""
    return step_id.rsplit(":", 1)[0]


def wait_signal_name(signal_name: str) -> str:
    """The step name of ``ctx.wait_signal(signal_name)``."""
    return WAIT_SIGNAL_PREFIX + signal_name


def set_event_name(key: str) -> str:
    """The step name of ``ctx.set_event(key, ...)``."""
    return SET_EVENT_PREFIX + key


# Step names already found storable. A name comes from the workflow's code (a function's
# name, a ctx call's, a signal's or an event's), so there are few; the bound only keeps a
# workflow that makes a new one at each step from growing this without end.
_STORABLE_NAMES: set[str] = set()
_STORABLE_NAMES_LIMIT = 10_000


def check_step(step_id: object, name: str) -> None:
    """Raise unless a step's id and name can be stored (``TypeError``/``ValueError``, as
    ``ctx`` calls raise for a wrong argument)."""
    if not isinstance(step_id, str) or not step_id:
        raise TypeError("step_id must be a non-empty string")
    _raise_if_unstorable("step id", step_id)
    if name not in _STORABLE_NAMES:
        _raise_if_unstorable("step name", name)
        if len(_STORABLE_NAMES) >= _STORABLE_NAMES_LIMIT:
            _STORABLE_NAMES.clear()
        _STORABLE_NAMES.add(name)


def _raise_if_unstorable(what: str, text: str) -> None:
    problem = _storage_problem(text, MAX_LENGTH)
    if problem is not None:
        shown = text if len(text) <= 40 else text[:40] + "…"
        raise ValueError(f"the {what} {shown!r} {problem}")


def text_problem(text: object, *, max_length: int = MAX_LENGTH) -> str | None:
    """Why ``text`` cannot be stored as an id or name, or ``None`` if it can."""
    if not isinstance(text, str) or not text.strip():
        return "must be a non-empty string"
    return _storage_problem(text, max_length)


def _storage_problem(text: str, max_length: int) -> str | None:
    # What a CharField(max_length) on every database here refuses of a string.
    if len(text) > max_length:
        return f"must be at most {max_length} characters (it has {len(text)})"
    if "\x00" in text:
        return "must not contain NUL characters"
    return None


def check_execution_id(execution_id: object) -> None:
    """Raise :class:`InvalidInput` unless ``execution_id`` can be stored as an id."""
    if (
        not isinstance(execution_id, str)
        or not execution_id.strip()
        or len(execution_id) > MAX_LENGTH
    ):
        raise InvalidInput(
            f"an execution id must be a non-empty string of at most {MAX_LENGTH} characters"
        )
    if "\x00" in execution_id:
        raise InvalidInput("an execution id must not contain NUL characters")


def check_signal_name(name: object) -> None:
    """Raise :class:`InvalidInput` unless ``name`` can be a signal's name."""
    _check_short_name(name, "a signal name")


def check_event_key(key: object) -> None:
    """Raise :class:`InvalidInput` unless ``key`` can be an event's key."""
    _check_short_name(key, "an event key")


def _check_short_name(name: object, what: str) -> None:
    # Signal names and event keys become part of a step id ("ctx.…:<name>:<n>").
    longest = MAX_SIGNAL_NAME_LENGTH
    if not isinstance(name, str) or not name.strip() or len(name) > longest:
        raise InvalidInput(f"{what} must be a non-empty string of at most {longest} characters")
    if "\x00" in name:
        raise InvalidInput(f"{what} must not contain NUL characters")
