"""A-XDR data values the COSEM server sends and accepts, built on `dlms_cosem.dlms_data`.

Date-times are the 12-byte COSEM octet-string form. The simulator keeps its clocks in UTC, so it
sends deviation 0 (IEC 62056-6-2: deviation is minutes from local time to UTC) and reads a
received deviation of 0x8000 ("not specified") as UTC too.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, cast

from dlms_cosem import dlms_data


class Data(Protocol):
    """An encodable A-XDR value (a dlms-cosem data object)."""

    def to_bytes(self) -> bytes: ...


def _d(value: Any) -> Data:
    return cast(Data, value)


UNSPECIFIED_DEVIATION = -0x8000


class BadValue(ValueError):
    """A received value that is not what the attribute takes (reported as type-unmatched)."""


def octets(value: bytes) -> Data:
    return _d(dlms_data.OctetStringData(bytes(value)))


def boolean(value: bool) -> Data:
    return _d(_Boolean(value))


def enum(value: int) -> Data:
    return _d(dlms_data.EnumData(value))


def integer(value: int) -> Data:
    return _d(dlms_data.IntegerData(value))


def unsigned(value: int) -> Data:
    return _d(dlms_data.UnsignedIntegerData(value))


def long(value: int) -> Data:
    return _d(dlms_data.LongData(value))


def long_unsigned(value: int) -> Data:
    return _d(dlms_data.UnsignedLongData(value))


def double_long(value: int) -> Data:
    return _d(dlms_data.DoubleLongData(value))


def double_long_unsigned(value: int) -> Data:
    return _d(dlms_data.DoubleLongUnsignedData(value))


def structure(*items: Data) -> Data:
    return _d(dlms_data.DataStructure(list(items)))


def array(items: list[Data]) -> Data:
    return _d(dlms_data.DataArray(items))


def null() -> Data:
    return _d(dlms_data.NullData(None))


class Encoded:
    """A value already in its A-XDR encoding: hot paths (profile buffers) build bytes directly."""

    __slots__ = ("raw",)

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def to_bytes(self) -> bytes:
        return self.raw


def length(count: int) -> bytes:
    """The A-XDR length (or item count) prefix of `count`."""
    return bytes([count]) if count < 0x80 else bytes(dlms_data.encode_variable_integer(count))


def double_long_unsigned_bytes(value: int) -> bytes:
    """The encoding of `double_long_unsigned(value)`, without building the value object."""
    return b"\x06" + value.to_bytes(4, "big")


class _Boolean(dlms_data.BooleanData):  # type: ignore[misc]
    # dlms-cosem 25.1 BooleanData has no value_to_bytes; a boolean is one byte, 0x00 or 0xFF.
    def value_to_bytes(self) -> bytes:
        return b"\xff" if self.value else b"\x00"


def datetime_octets(when: datetime, status: int = 0) -> bytes:
    """The 12-byte COSEM date-time of an instant, in UTC with deviation 0 and clock `status`."""
    t = when if when.tzinfo is UTC else when.astimezone(UTC)
    return _DATETIME.pack(
        t.year,
        t.month,
        t.day,
        t.isoweekday(),
        t.hour,
        t.minute,
        t.second,
        t.microsecond // 10_000,
        0,
        status & 0xFF,
    )


def datetime_octets_bytes(when: datetime) -> bytes:
    """The encoding of `octets(datetime_octets(when))`, without building the value object."""
    return b"\x09\x0c" + datetime_octets(when)


# year, month, day, weekday, hour, minute, second, hundredths, deviation, clock status
_DATETIME = struct.Struct(">HBBBBBBBhB")


def parse_datetime_octets(raw: bytes) -> datetime:
    """An instant from a 12-byte COSEM date-time; wildcards other than hundredths are refused."""
    if len(raw) != 12:
        raise BadValue(f"a date-time is 12 bytes, got {len(raw)}")
    year = int.from_bytes(raw[0:2], "big")
    month, day, _weekday, hour, minute, second, hundredths = raw[2:9]
    if 0xFF in (month, day, hour, minute, second) or year == 0xFFFF:
        raise BadValue("a date-time with wildcards does not name an instant")
    if hundredths == 0xFF:
        hundredths = 0
    deviation = int.from_bytes(raw[9:11], "big", signed=True)
    try:
        local = datetime(year, month, day, hour, minute, second, hundredths * 10_000, tzinfo=UTC)
    except ValueError as exc:
        raise BadValue(f"not a valid date-time: {exc}") from None
    if deviation == UNSPECIFIED_DEVIATION:
        return local
    if not -720 <= deviation <= 720:
        raise BadValue(f"deviation {deviation} min is out of range")
    # deviation = minutes from local time to UTC, so UTC = local + deviation
    return local + timedelta(minutes=deviation)


def parse_data(raw: bytes) -> tuple[Any, bytes]:
    """One A-XDR Data value as a dlms-cosem object, and the bytes after it."""
    parser = dlms_data.DlmsDataParser()
    try:
        items = parser.parse(raw, limit=1)
    except (KeyError, ValueError, IndexError, NotImplementedError) as exc:
        raise BadValue(f"not an A-XDR data value: {exc!r}") from None
    if not items or parser.pointer > len(raw):
        raise BadValue("truncated A-XDR data value")
    return items[0], bytes(parser.get_buffer_tail())


def parse_single(raw: bytes) -> Any:
    """Exactly one Data value filling `raw`."""
    value, rest = parse_data(raw)
    if rest:
        raise BadValue(f"{len(rest)} bytes after the data value")
    return value


INTEGER_TYPES = (
    dlms_data.IntegerData,
    dlms_data.LongData,
    dlms_data.DoubleLongData,
    dlms_data.Long64Data,
    dlms_data.UnsignedIntegerData,
    dlms_data.UnsignedLongData,
    dlms_data.DoubleLongUnsignedData,
    dlms_data.UnsignedLong64Data,
    dlms_data.EnumData,
)


def as_int(value: Any) -> int:
    if isinstance(value, INTEGER_TYPES):
        return int(value.value)
    raise BadValue(f"expected an integer, got {type(value).__name__}")


def as_octets(value: Any) -> bytes:
    if isinstance(value, dlms_data.OctetStringData):
        return bytes(value.value)
    if isinstance(value, dlms_data.DateTimeData):
        raise BadValue("expected an octet-string date-time, got a date-time value")
    raise BadValue(f"expected an octet-string, got {type(value).__name__}")


def as_structure(value: Any) -> list[Any]:
    """The items of a structure value."""
    if isinstance(value, dlms_data.DataStructure):
        return list(value.value)
    raise BadValue(f"expected a structure, got {type(value).__name__}")


def as_array(value: Any) -> list[Any]:
    """The items of an array value."""
    if isinstance(value, dlms_data.DataArray):
        return list(value.value)
    raise BadValue(f"expected an array, got {type(value).__name__}")
