"""IEC 62056-47 wrapper framing, sans-IO: the frame, its encoding and an incremental decoder.

Header: version (0x0001), source wPort, destination wPort, APDU length; all 16-bit big endian.
A length above the negotiated maximum is a malformed frame at once, not a reason to wait.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from drivers.errors import MalformedFrame

WRAPPER_VERSION = 1
HEADER = struct.Struct(">HHHH")
HEADER_SIZE = HEADER.size


@dataclass(frozen=True, slots=True)
class WrapperFrame:
    source: int
    destination: int
    apdu: bytes


def encode_wrapper(frame: WrapperFrame) -> bytes:
    if len(frame.apdu) > 0xFFFF:
        raise ValueError(f"APDU of {len(frame.apdu)} bytes does not fit a wrapper frame")
    return (
        HEADER.pack(WRAPPER_VERSION, frame.source, frame.destination, len(frame.apdu)) + frame.apdu
    )


class WrapperDecoder:
    """Incremental decoder; `next_frame` returns None until a whole frame is buffered."""

    def __init__(self, max_apdu: int = 0xFFFF) -> None:
        self.max_apdu = max_apdu
        self._buffer = bytearray()

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def next_frame(self) -> WrapperFrame | None:
        if len(self._buffer) < HEADER_SIZE:
            if len(self._buffer) >= 2 and self._buffer[0:2] != b"\x00\x01":
                raise MalformedFrame(f"wrapper version {self._buffer[0:2].hex()} is not 0001")
            return None
        version, source, destination, length = HEADER.unpack_from(self._buffer)
        if version != WRAPPER_VERSION:
            raise MalformedFrame(f"wrapper version {version} is not {WRAPPER_VERSION}")
        if length > self.max_apdu:
            raise MalformedFrame(f"wrapper length {length} exceeds the maximum {self.max_apdu}")
        if len(self._buffer) < HEADER_SIZE + length:
            return None
        apdu = bytes(self._buffer[HEADER_SIZE : HEADER_SIZE + length])
        del self._buffer[: HEADER_SIZE + length]
        return WrapperFrame(source, destination, apdu)

    @property
    def pending(self) -> int:
        return len(self._buffer)
