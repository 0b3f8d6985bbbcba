"""The COSEM data codec, date-times, units and default interface classes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.dlms.client import axdr
from drivers.dlms.client.cosem_values import (
    ScalerUnit,
    decode_datetime,
    encode_datetime,
    to_decimal,
)
from drivers.dlms.client.objects import default_class
from drivers.errors import MalformedFrame


def test_decodes_a_register_value_and_a_scaler_unit_structure() -> None:
    assert axdr.decode(axdr.integer(axdr.DOUBLE_LONG_UNSIGNED, 1234567)) == 1234567
    raw = axdr.structure(axdr.integer(axdr.INTEGER, -1), bytes([axdr.ENUM, 30]))
    assert ScalerUnit.from_value(axdr.decode(raw)) == ScalerUnit(-1, "Wh")


def test_nested_arrays_and_strings() -> None:
    row = axdr.structure(axdr.octet_string(b"\x01" * 12), axdr.integer(axdr.LONG64, -5))
    raw = axdr.array([row, row])
    assert axdr.decode(raw) == [[b"\x01" * 12, -5], [b"\x01" * 12, -5]]
    long_string = axdr.octet_string(b"x" * 300)
    assert axdr.decode(long_string) == b"x" * 300


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x06\x00\x00",  # truncated uint32
        b"\x01\x05\x00",  # array of five with one element
        b"\x09\x85\x00\x00\x00\x00\x01",  # absurd length width
        b"\x63",  # unknown tag
        b"\x0f\x01\x00",  # stray byte
        b"\x0a\x02\xff\xfe",  # visible-string that is not text
    ],
)
def test_malformed_data_is_a_malformed_frame(raw: bytes) -> None:
    with pytest.raises(MalformedFrame):
        axdr.decode(raw)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_never_raise_anything_else(raw: bytes) -> None:
    try:
        axdr.decode(raw)
    except MalformedFrame:
        pass


def test_scaler_gives_exact_decimals() -> None:
    assert to_decimal(12345, -3) == Decimal("12.345")
    assert to_decimal(7, 2) == Decimal("700")
    assert to_decimal(0.1) == Decimal("0.1")
    with pytest.raises(MalformedFrame):
        to_decimal(b"1")


def test_datetime_round_trip_and_deviation() -> None:
    when = datetime(2025, 3, 9, 14, 15, 16, 170000, tzinfo=UTC)
    raw = encode_datetime(when)
    assert len(raw) == 12
    assert decode_datetime(raw) == (when, 0)
    # UTC+01:00 is sent as deviation -60 (minutes from local time to UTC)
    local = bytearray(raw)
    local[9:11] = (-60).to_bytes(2, "big", signed=True)
    assert decode_datetime(bytes(local))[0] == when - timedelta(hours=1)
    unspecified = bytearray(raw)
    unspecified[9:11] = b"\x80\x00"
    assert decode_datetime(bytes(unspecified))[0] == when
    aware = when.astimezone(timezone(timedelta(hours=8)))
    assert decode_datetime(encode_datetime(aware))[0] == when


@pytest.mark.parametrize(
    "raw", [b"\x07\xe9\x02\x1e\xff\x0a\x00\x00\x00\x00\x00\x00", b"\xff\xff" + b"\x01" * 10, b"x"]
)
def test_bad_datetimes_are_malformed(raw: bytes) -> None:
    with pytest.raises(MalformedFrame):
        decode_datetime(raw)


@pytest.mark.parametrize(
    ("obis", "class_id"),
    [
        ("0.0.1.0.0.255", 8),
        ("1.0.99.1.0.255", 7),
        ("0.0.99.98.0.255", 7),
        ("0.0.96.3.10.255", 70),
        ("0.0.17.0.0.255", 71),
        ("0.0.96.1.0.255", 1),
        ("1.0.1.8.0.255", 3),
        ("1.0.32.7.0.255", 3),
    ],
)
def test_default_interface_classes(obis: str, class_id: int) -> None:
    assert default_class(obis) == class_id
