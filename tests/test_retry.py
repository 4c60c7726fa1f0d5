import pytest

from django_durable.retry import RetryPolicy, is_retryable, next_delay


@pytest.mark.parametrize(
    "policy, attempts_made, expected",
    [
        (RetryPolicy(), 1, 1.0),
        (RetryPolicy(), 2, 2.0),
        (RetryPolicy(), 3, None),
        (RetryPolicy(max_attempts=1), 1, None),
        (RetryPolicy(max_attempts=0, initial_interval=1, max_interval=10), 5, 10.0),
        (RetryPolicy(max_attempts=0, initial_interval=0.5, backoff_coefficient=3), 3, 4.5),
        (RetryPolicy(max_attempts=10, initial_interval=0, max_interval=0), 4, 0.0),
        (RetryPolicy(max_attempts=5, backoff_coefficient=1), 4, 1.0),
    ],
)
def test_next_delay(policy, attempts_made, expected):
    assert next_delay(policy, attempts_made) == expected


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_attempts": -1}, "max_attempts"),
        ({"initial_interval": -1}, "initial_interval"),
        ({"backoff_coefficient": 0.5}, "backoff_coefficient"),
        ({"initial_interval": 10, "max_interval": 1}, "max_interval"),
        ({"non_retryable": (42,)}, "non_retryable"),
    ],
)
def test_invalid_policies_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**kwargs)


def test_non_retryable_by_class_and_by_import_path():
    policy = RetryPolicy(non_retryable=(KeyError, "builtins.ValueError", "missing.module.Error"))
    assert not is_retryable(policy, KeyError("x"))
    assert not is_retryable(policy, ValueError("x"))
    assert is_retryable(policy, ConnectionError("x"))
