"""Turning COSEM attribute values into head-end values: date-time, units, scaled Decimals.

Date-time deviation follows the Blue Book (and dlms-cosem): minutes from local time to UTC, so a
meter at UTC+01:00 sends -60. A deviation of 0x8000 ("not specified") is read as UTC, which is
what the meters of a head-end that keeps UTC are configured to. Values come back in UTC.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

from drivers.dlms.client import axdr
from drivers.errors import MalformedFrame

# IEC 62056-6-2 unit enumeration, as the text a utility engineer expects to see.
UNITS: dict[int, str] = {
    1: "a",
    2: "mo",
    3: "wk",
    4: "d",
    5: "h",
    6: "min",
    7: "s",
    8: "°",
    9: "°C",
    10: "currency",
    11: "m",
    12: "m/s",
    13: "m3",
    14: "m3",
    15: "m3/h",
    16: "m3/h",
    17: "m3/d",
    18: "m3/d",
    19: "l",
    20: "kg",
    21: "N",
    22: "Nm",
    23: "Pa",
    24: "bar",
    25: "J",
    26: "J/h",
    27: "W",
    28: "VA",
    29: "var",
    30: "Wh",
    31: "VAh",
    32: "varh",
    33: "A",
    34: "C",
    35: "V",
    36: "V/m",
    37: "F",
    38: "Ω",
    39: "Ωm2/m",
    40: "Wb",
    41: "T",
    42: "A/m",
    43: "H",
    44: "Hz",
    45: "1/(Wh)",
    46: "1/(varh)",
    47: "1/(VAh)",
    48: "V2h",
    49: "A2h",
    50: "kg/s",
    51: "S",
    52: "K",
    53: "1/(V2h)",
    54: "1/(A2h)",
    55: "1/m3",
    56: "%",
    57: "Ah",
    60: "Wh/m3",
    61: "J/m3",
    62: "mol%",
    63: "g/m3",
    64: "Pa s",
    65: "J/kg",
    66: "g/cm2",
    67: "atm",
    70: "dBm",
    71: "dBµV",
    72: "dB",
}
UNIT_CODES = {text: code for code, text in reversed(list(UNITS.items()))}
NO_UNIT = 255
CLOCK_STATUS_INVALID = 0x01
CLOCK_STATUS_DOUBTFUL = 0x02


@dataclass(frozen=True, slots=True)
class ScalerUnit:
    scaler: int
    unit: str | None

    @classmethod
    def from_value(cls, value: axdr.Value) -> ScalerUnit:
        """Attribute 3 of a register: structure {scaler: integer, unit: enum}."""
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not isinstance(value[0], int)
            or not isinstance(value[1], int)
        ):
            raise MalformedFrame(f"scaler_unit is not a {{scaler, unit}} structure: {value!r}")
        return cls(value[0], None if value[1] in (0, NO_UNIT) else UNITS.get(value[1]))


UNSCALED = ScalerUnit(0, None)


def to_decimal(value: axdr.Value, scaler: int = 0) -> Decimal:
    """A numeric COSEM value as an exact Decimal with the scaler applied."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MalformedFrame(f"expected a number, got {type(value).__name__}")
    try:
        # floats go through their shortest repr so 0.1 stays 0.1, not 0.1000000000000000055...
        raw = Decimal(value) if isinstance(value, int) else Decimal(repr(value))
        return raw.scaleb(scaler)
    except InvalidOperation:
        raise MalformedFrame(f"number {value!r} is not finite") from None


def decode_datetime(raw: bytes) -> tuple[datetime, int]:
    """A 12-byte COSEM date-time -> (aware UTC datetime, clock status byte)."""
    if len(raw) != 12:
        raise MalformedFrame(f"a COSEM date-time has 12 bytes, got {len(raw)}")
    year = int.from_bytes(raw[0:2], "big")
    month, day = raw[2], raw[3]
    hour, minute, second, hundredths = raw[5], raw[6], raw[7], raw[8]
    deviation = int.from_bytes(raw[9:11], "big", signed=True)
    status = 0 if raw[11] == 0xFF else raw[11]
    if 0xFF in (month, day, hour, minute) or year == 0xFFFF:
        raise MalformedFrame(f"date-time {raw.hex()} is not a single instant")
    second = 0 if second == 0xFF else second
    hundredths = 0 if hundredths == 0xFF else hundredths
    offset = UTC if deviation == -0x8000 else timezone(timedelta(minutes=-deviation))
    try:
        when = datetime(year, month, day, hour, minute, second, hundredths * 10_000, tzinfo=offset)
    except ValueError as exc:
        raise MalformedFrame(f"date-time {raw.hex()}: {exc}") from None
    return when.astimezone(UTC), status


# a load profile's clock values repeat across the meters of a fleet (every meter captures at the
# same quarter hours): each distinct one is decoded once
cached_datetime = functools.lru_cache(maxsize=4096)(decode_datetime)


def encode_datetime(when: datetime) -> bytes:
    """An aware datetime as a 12-byte COSEM date-time in UTC (deviation 0, status ok)."""
    if when.tzinfo is None:
        raise ValueError("a naive datetime has no place on the wire; give it a timezone")
    utc = when.astimezone(UTC)
    return (
        utc.year.to_bytes(2, "big")
        + bytes([utc.month, utc.day, utc.isoweekday()])
        + bytes([utc.hour, utc.minute, utc.second, utc.microsecond // 10_000])
        + (0).to_bytes(2, "big", signed=True)
        + b"\x00"
    )


def as_datetime(value: axdr.Value) -> tuple[datetime, int]:
    """A clock value: octet-string(12) or the date-time tag, both decoded to bytes by axdr."""
    if not isinstance(value, bytes):
        raise MalformedFrame(f"expected a date-time, got {type(value).__name__}")
    return decode_datetime(value)
