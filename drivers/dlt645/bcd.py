"""BCD numbers and date-times as DL/T 645 carries them: low byte first, fixed decimals.

Values are exact `Decimal`s. A signed item uses the top bit of its most significant byte as the
sign (current XXX.XXX A, power XX.XXXX kW). Bytes that are not BCD raise `MalformedFrame`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_DOWN, Decimal

from drivers.errors import MalformedFrame


def decode_bcd(raw: bytes, decimals: int, *, signed: bool = False) -> Decimal:
    """`raw` (low byte first, +0x33 already removed) -> Decimal with `decimals` places."""
    if not raw:
        raise MalformedFrame("DL/T 645: empty BCD value")
    digits = bytearray(reversed(raw))
    negative = signed and bool(digits[0] & 0x80)
    if signed:
        digits[0] &= 0x7F
    text = digits.hex()
    if not text.isdigit():
        raise MalformedFrame(f"DL/T 645: value bytes {raw.hex(' ')} are not BCD")
    value = Decimal(int(text)).scaleb(-decimals)
    if decimals:
        value = value.quantize(Decimal(1).scaleb(-decimals))
    return -value if negative else value


def encode_bcd(value: Decimal, size: int, decimals: int, *, signed: bool = False) -> bytes:
    """Decimal -> `size` BCD bytes, low byte first; truncates extra decimals as meters do.

    Raises ValueError when the value does not fit (or is negative for an unsigned item).
    """
    scaled = (abs(value) * (Decimal(10) ** decimals)).quantize(Decimal(1), rounding=ROUND_DOWN)
    if value < 0 and not signed:
        raise ValueError(f"{value} is negative but the item is unsigned")
    text = f"{int(scaled):0{size * 2}d}"
    if len(text) > size * 2:
        raise ValueError(f"{value} does not fit in {size} BCD bytes with {decimals} decimals")
    digits = bytearray.fromhex(text)
    if signed:
        if digits[0] & 0x80:
            raise ValueError(f"{value} does not fit in {size} signed BCD bytes")
        if value < 0 and scaled:
            digits[0] |= 0x80
    return bytes(reversed(digits))


def _digits(raw: bytes, what: str) -> list[int]:
    out = []
    for b in raw:
        hi, lo = b >> 4, b & 0x0F
        if hi > 9 or lo > 9:
            raise MalformedFrame(f"DL/T 645: {what} bytes {raw.hex(' ')} are not BCD")
        out.append(hi * 10 + lo)
    return out


def _bcd_byte(n: int) -> int:
    return (n // 10) << 4 | (n % 10)


def decode_datetime(raw: bytes, fields: str) -> datetime:
    """A naive local date-time from BCD fields given most significant first, e.g. `YYMMDDhhmm`.

    The wire carries them low byte first (`mm hh DD MM YY`). Fields: YY MM DD hh mm ss, and WW
    (day of week, ignored).
    """
    names = [fields[i : i + 2] for i in range(0, len(fields), 2)]
    if len(raw) != len(names):
        raise MalformedFrame(f"DL/T 645: {fields} needs {len(names)} bytes, got {len(raw)}")
    values = dict(zip(names, reversed(_digits(raw, fields)), strict=True))
    try:
        return datetime(
            2000 + values.get("YY", 0),
            values.get("MM", 1),
            values.get("DD", 1),
            values.get("hh", 0),
            values.get("mm", 0),
            values.get("ss", 0),
        )
    except ValueError as exc:
        raise MalformedFrame(f"DL/T 645: invalid {fields} {raw.hex(' ')}: {exc}") from None


def encode_datetime(when: datetime, fields: str) -> bytes:
    """A naive local date-time -> BCD `fields` (named most significant first), low byte first."""
    source = {
        "YY": when.year % 100,
        "MM": when.month,
        "DD": when.day,
        "hh": when.hour,
        "mm": when.minute,
        "ss": when.second,
        "WW": (when.weekday() + 1) % 7,  # DL/T 645 week day: 0 = Sunday
    }
    names = [fields[i : i + 2] for i in range(0, len(fields), 2)]
    return bytes(_bcd_byte(source[name]) for name in reversed(names))
