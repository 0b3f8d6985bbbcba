"""DL/T 645-2007 frames: layout, control codes, addresses, the +0x33 offset and the checksum.

Wire layout (after an optional `FE FE FE FE` wake-up preamble)::

    68 A0 A1 A2 A3 A4 A5 68 C L DATA... CS 16

`A0..A5` is the address as 6 BCD bytes, low byte first; `DATA` carries +0x33 on every byte;
`CS` is the sum modulo 256 of every byte from the first `68` to the last data byte. This module is
pure (no I/O): `Frame` holds the decoded view, `encode_frame` produces wire bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

START = 0x68
END = 0x16
PREAMBLE_BYTE = 0xFE
PREAMBLE = bytes([PREAMBLE_BYTE] * 4)
DATA_OFFSET = 0x33
HEADER_LEN = 10  # 68 + 6 address bytes + 68 + C + L
MAX_DATA_LEN = 200  # the standard's limit for a read reply; writes are shorter still

# Control code bits (DL/T 645-2007 §4.3.3)
DIRECTION_BIT = 0x80  # 1 = frame sent by the meter
ABNORMAL_BIT = 0x40  # 1 = abnormal (error) reply: one ERR byte follows
FOLLOWUP_BIT = 0x20  # 1 = more data follows in follow-up frames
FUNCTION_MASK = 0x1F

WILDCARD_ADDRESS = "AAAAAAAAAAAA"  # "whoever is on the line" (read address, commissioning)
BROADCAST_ADDRESS = "999999999999"  # everyone, nobody answers (time broadcast)


class Function(IntEnum):
    """Function codes (control code bits 4..0) used by this driver."""

    TIME_BROADCAST = 0x08
    READ = 0x11
    READ_FOLLOWUP = 0x12
    READ_ADDRESS = 0x13
    RELAY_CONTROL = 0x1C


# ERR byte of an abnormal reply (DL/T 645-2007 §4.3.3, table "error information word").
ERROR_BITS = {
    0x01: "other error",
    0x02: "no such data requested",
    0x04: "wrong password or not authorised",
    0x08: "baud rate cannot be changed",
    0x10: "too many annual time zones",
    0x20: "too many daily time slots",
    0x40: "too many tariffs",
}


def describe_error(err: int) -> str:
    """The ERR byte as words, e.g. `0x04 (wrong password or not authorised)`."""
    words = [text for bit, text in ERROR_BITS.items() if err & bit]
    if err & 0x80:
        words.append("reserved bit 7")
    return f"0x{err:02X} ({', '.join(words) or 'no error bits'})"


def address_to_wire(address: str) -> bytes:
    """Nameplate address (12 digits, most significant first) -> 6 wire bytes, low byte first.

    `123456789012` -> `12 90 78 56 34 12`. `A` digits are allowed for wildcards.
    """
    text = address.strip().upper()
    if len(text) != 12 or any(ch not in "0123456789A" for ch in text):
        raise ValueError(f"DL/T 645 address must be 12 digits, got {address!r}")
    return bytes(reversed(bytes.fromhex(text)))


def wire_to_address(wire: bytes) -> str:
    """6 wire bytes (low byte first) -> the 12-character nameplate form."""
    return bytes(reversed(wire)).hex().upper()


def address_matches(pattern: bytes, actual: bytes) -> bool:
    """Whether a reply address fits the requested one; `AA` bytes in the request match any."""
    return len(pattern) == len(actual) == 6 and all(
        p in (0xAA, a) for p, a in zip(pattern, actual, strict=True)
    )


def checksum(data: bytes) -> int:
    return sum(data) & 0xFF


def add_offset(data: bytes) -> bytes:
    return bytes((b + DATA_OFFSET) & 0xFF for b in data)


def remove_offset(data: bytes) -> bytes:
    return bytes((b - DATA_OFFSET) & 0xFF for b in data)


@dataclass(frozen=True, slots=True)
class Frame:
    """A decoded frame: wire-order address, control code, data with the +0x33 removed."""

    address: bytes
    control: int
    data: bytes = b""

    @property
    def function(self) -> int:
        return self.control & FUNCTION_MASK

    @property
    def from_meter(self) -> bool:
        return bool(self.control & DIRECTION_BIT)

    @property
    def abnormal(self) -> bool:
        return bool(self.control & ABNORMAL_BIT)

    @property
    def followup(self) -> bool:
        return bool(self.control & FOLLOWUP_BIT)

    @property
    def address_text(self) -> str:
        return wire_to_address(self.address)


def encode_frame(frame: Frame, *, preamble: bool = False) -> bytes:
    """Wire bytes of a frame; `preamble` puts `FE FE FE FE` in front (not in the checksum)."""
    if len(frame.address) != 6:
        raise ValueError("a DL/T 645 address is 6 bytes")
    if len(frame.data) > 255:
        raise ValueError("DL/T 645 data field is at most 255 bytes")
    body = (
        bytes([START])
        + frame.address
        + bytes([START, frame.control & 0xFF, len(frame.data)])
        + add_offset(frame.data)
    )
    return (PREAMBLE if preamble else b"") + body + bytes([checksum(body), END])
