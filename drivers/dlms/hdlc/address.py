"""HDLC address fields (IEC 62056-46 §6.4.2.2): 1, 2 or 4 bytes, extension bit = LSB of each byte.

A client address is one byte. A server address has an upper part (the logical device) and an
optional lower part (the physical device, e.g. the meter's position on an RS-485 bus behind a
concentrator): 1 byte = upper only, 2 bytes = 7-bit upper + 7-bit lower, 4 bytes = 14-bit upper +
14-bit lower.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.errors import MalformedFrame

MAX_SEVEN_BITS = 0x7F
MAX_FOURTEEN_BITS = 0x3FFF


@dataclass(frozen=True, slots=True)
class HdlcAddress:
    """`size` 0 means the shortest form that holds the values; 1, 2 or 4 forces a form.
    Equality ignores the form: it is the same station however it was written."""

    logical: int
    physical: int | None = None
    size: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if self.size not in (0, 1, 2, 4):
            raise ValueError(f"HDLC address size {self.size} is not 1, 2 or 4")
        limit = MAX_FOURTEEN_BITS if self.wire_size == 4 else MAX_SEVEN_BITS
        if not 0 <= self.logical <= limit:
            raise ValueError(f"HDLC address {self.logical} does not fit {self.wire_size} byte(s)")
        if self.physical is not None and not 0 <= self.physical <= limit:
            raise ValueError(f"HDLC address {self.physical} does not fit {self.wire_size} byte(s)")
        if self.wire_size == 1 and self.physical is not None:
            raise ValueError("a one-byte HDLC address has no physical part")

    @property
    def wire_size(self) -> int:
        if self.size:
            return self.size
        if self.physical is None:
            return 1
        if self.logical <= MAX_SEVEN_BITS and self.physical <= MAX_SEVEN_BITS:
            return 2
        return 4

    def same_device(self, other: HdlcAddress) -> bool:
        """Equal values, whatever wire form each side chose."""
        return self.logical == other.logical and (self.physical or 0) == (other.physical or 0)

    def encode(self) -> bytes:
        size = self.wire_size
        lower = self.physical or 0
        if size == 1:
            parts = [self.logical << 1]
        elif size == 2:
            parts = [self.logical << 1, lower << 1]
        else:
            parts = [
                (self.logical >> 7) << 1,
                (self.logical & 0x7F) << 1,
                (lower >> 7) << 1,
                (lower & 0x7F) << 1,
            ]
        parts[-1] |= 1
        return bytes(parts)


def decode_address(data: bytes | bytearray, offset: int, end: int) -> tuple[HdlcAddress, int]:
    """The address starting at `offset` (not beyond `end`) and the offset after it."""
    size = 0
    while True:
        if offset + size >= end:
            raise MalformedFrame("HDLC address field runs past the frame header")
        size += 1
        if data[offset + size - 1] & 1:
            break
        if size >= 4:
            raise MalformedFrame("HDLC address field longer than 4 bytes")
    raw = data[offset : offset + size]
    if size == 1:
        address = HdlcAddress(raw[0] >> 1, None, 1)
    elif size == 2:
        address = HdlcAddress(raw[0] >> 1, raw[1] >> 1, 2)
    elif size == 4:
        upper = ((raw[0] >> 1) << 7) | (raw[1] >> 1)
        lower = ((raw[2] >> 1) << 7) | (raw[3] >> 1)
        address = HdlcAddress(upper, lower, 4)
    else:
        raise MalformedFrame(f"HDLC address field of {size} bytes (must be 1, 2 or 4)")
    return address, offset + size
