"""The load-profile fast paths give what the general ones give: `axdr.decode_table` against
`axdr.decode`, `trusted_reading` against a validated `Reading`, `cached_datetime` against
`decode_datetime`."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from drivers.contract import Quality, Reading, trusted_reading
from drivers.dlms.client import axdr
from drivers.dlms.client.cosem_values import cached_datetime, decode_datetime, encode_datetime
from drivers.errors import MalformedFrame


def _fixed(tag: int, fmt: str) -> st.SearchStrategy[bytes]:
    size = struct.calcsize(fmt)
    return st.binary(min_size=size, max_size=size).map(lambda raw: bytes([tag]) + raw)


SIMPLE = st.one_of(
    st.just(axdr.null()),
    st.booleans().map(lambda b: bytes([axdr.BOOLEAN, int(b)])),
    _fixed(axdr.DOUBLE_LONG, ">i"),
    _fixed(axdr.DOUBLE_LONG_UNSIGNED, ">I"),
    _fixed(axdr.LONG64, ">q"),
    _fixed(axdr.LONG_UNSIGNED, ">H"),
    _fixed(axdr.INTEGER, ">b"),
    _fixed(axdr.ENUM, ">B"),
    _fixed(axdr.FLOAT32, ">f"),
    _fixed(axdr.FLOAT64, ">d"),
    st.binary(max_size=200).map(axdr.octet_string),
    st.text(alphabet="abc 123", max_size=5).map(
        lambda t: bytes([axdr.VISIBLE_STRING, len(t)]) + t.encode()
    ),
    st.binary(min_size=12, max_size=12).map(lambda raw: bytes([axdr.DATE_TIME]) + raw),
)


def _same(left: object, right: object) -> bool:
    # NaN floats are equal for this purpose: both decoders unpack the same bits
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(
            _same(a, b) for a, b in zip(left, right, strict=True)
        )
    if isinstance(left, float) and isinstance(right, float) and left != left:
        return right != right
    return type(left) is type(right) and left == right


@st.composite
def tables(draw: st.DrawFn) -> tuple[bytes, int]:
    width = draw(st.integers(1, 6))
    count = draw(st.integers(0, 20))
    rows = [
        axdr.structure(*draw(st.lists(SIMPLE, min_size=width, max_size=width)))
        for _ in range(count)
    ]
    return axdr.array(rows), width


@settings(max_examples=300, deadline=None)
@given(tables())
def test_a_table_decodes_as_decode_decodes_it(table: tuple[bytes, int]) -> None:
    raw, width = table
    rows = axdr.decode_table(raw, width)
    assert rows is not None
    assert _same(rows, axdr.decode(raw))


@settings(max_examples=300, deadline=None)
@given(tables(), st.integers(0, 40), st.binary(max_size=3))
def test_a_damaged_table_is_none_or_what_decode_gives(
    table: tuple[bytes, int], cut: int, junk: bytes
) -> None:
    raw, width = table
    damaged = raw[: max(0, len(raw) - cut)] + junk
    rows = axdr.decode_table(damaged, width)
    if rows is None:
        return
    assert _same(rows, axdr.decode(damaged))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64), st.integers(0, 200))
def test_random_bytes_give_none_or_what_decode_gives(raw: bytes, width: int) -> None:
    rows = axdr.decode_table(raw, width)
    if rows is not None:
        assert _same(rows, axdr.decode(raw))


def test_other_shapes_are_left_to_decode() -> None:
    row = axdr.structure(axdr.octet_string(b"\x01" * 12), axdr.integer(axdr.LONG64, -5))
    assert axdr.decode_table(axdr.array([row, row]), 2) == [[b"\x01" * 12, -5]] * 2
    assert axdr.decode_table(axdr.array([row, row]), 3) is None  # another column count
    nested = axdr.structure(axdr.array([axdr.null()]), axdr.null())
    assert axdr.decode_table(axdr.array([nested]), 2) is None
    assert axdr.decode_table(axdr.structure(row), 2) is None  # not an array
    assert axdr.decode_table(axdr.array([row]) + b"\x00", 2) is None  # stray byte
    assert axdr.decode_table(b"", 2) is None


def test_trusted_reading_equals_a_validated_one() -> None:
    now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    fields = {
        "meter_id": "m-1",
        "obis": "1.0.1.8.0.255",
        "value": Decimal("12.5"),
        "unit": "kWh",
        "capture_time": now - timedelta(minutes=15),
        "receive_time": now,
        "quality": Quality.SUSPECT,
    }
    trusted = trusted_reading(**fields)  # type: ignore[arg-type]
    validated = Reading(**fields)  # type: ignore[arg-type]
    assert trusted == validated
    assert hash(trusted) == hash(validated)
    assert trusted.model_fields_set == validated.model_fields_set
    assert trusted.model_dump() == validated.model_dump()
    assert trusted.model_dump_json() == validated.model_dump_json()
    assert Reading.model_validate_json(trusted.model_dump_json()) == trusted
    assert trusted.model_copy(update={"unit": "Wh"}) == validated.model_copy(update={"unit": "Wh"})
    with pytest.raises(ValidationError):  # as immutable as a validated one
        trusted.unit = "Wh"  # type: ignore[misc]
    # trusted readings share their set of field names: nothing may change it
    other = trusted_reading(**fields)  # type: ignore[arg-type]
    assert trusted.model_copy(update={"unit": "Wh"}).model_fields_set == set(Reading.model_fields)
    assert other.model_fields_set == set(Reading.model_fields)


def test_cached_datetimes_are_the_decoded_ones() -> None:
    when = datetime(2025, 3, 30, 1, 45, tzinfo=UTC)
    raw = encode_datetime(when)
    assert cached_datetime(raw) == decode_datetime(raw) == (when, 0)
    assert cached_datetime(raw) == (when, 0)  # from the cache
    local = datetime(2025, 3, 30, 3, 0, tzinfo=timezone(timedelta(hours=2)))
    assert cached_datetime(encode_datetime(local))[0] == local
    with pytest.raises(MalformedFrame):  # errors are raised each time, never cached
        cached_datetime(b"\xff" * 12)
    with pytest.raises(MalformedFrame):
        cached_datetime(b"\xff" * 12)
