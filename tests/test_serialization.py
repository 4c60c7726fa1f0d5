import datetime as dt
import decimal
import uuid
from collections import OrderedDict

import pytest
from django.test import override_settings

from django_durable.exceptions import PayloadTooLarge, SerializationError
from django_durable.serialization import dumps, loads

VALUES = [
    None,
    True,
    False,
    0,
    -1,
    2**63 - 1,
    1.5,
    "",
    "héllo",
    b"\x00\xff",
    [],
    [1, [2]],
    (),
    (1, (2, 3)),
    {},
    {"a": {"b": [1, (2,)]}},
    {1: "int key"},
    dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC),
    dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
    dt.datetime(2026, 1, 2, 3, 4, 5),
    dt.date(2026, 2, 28),
    dt.time(23, 59, 59, 999999),
    dt.timedelta(days=-1, seconds=3, microseconds=7),
    decimal.Decimal("1.10"),
    decimal.Decimal("-1E+30"),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_supported_values_round_trip_exactly(value):
    restored = loads(dumps(value))
    assert restored == value
    assert type(restored) is type(value)


def test_subclasses_of_plain_types_are_stored_as_the_plain_type():
    assert loads(dumps(OrderedDict(a=1))) == {"a": 1}


@pytest.mark.parametrize("value", [object(), {1, 2}, lambda: 1, [1, object()]])
def test_unsupported_values_are_refused_naming_the_type_and_the_place(value):
    with pytest.raises(SerializationError, match=r"cannot store the result of step 'x:1'.*type"):
        dumps(value, what="the result of step 'x:1'")


@override_settings(DURABLE_MAX_PAYLOAD_BYTES=1000)
def test_a_payload_over_the_limit_is_refused_with_the_sizes():
    with pytest.raises(PayloadTooLarge, match="over the DURABLE_MAX_PAYLOAD_BYTES limit of 1,000"):
        dumps("x" * 2000, what="the input")
    assert loads(dumps("x" * 900)) == "x" * 900


def test_none_stored_value_reads_as_none():
    assert loads(None) is None
