"""Sans-IO HDLC framer: splits a byte stream into frames by the length in the format field.

Scanning for the closing 0x7E would cut a frame whose last data byte is 0x7E (this codec does
not byte-stuff, as IEC 62056-46 relies on the length), so the flag is only checked where the length
says it must be. Every call either consumes bytes or returns None, and a malformed frame drops its
opening flag before raising, so a caller that keeps draining after an error always makes progress.
"""

from __future__ import annotations

from drivers.dlms.hdlc.frames import (
    FLAG,
    MAX_INFO_LENGTH,
    MAX_OVERHEAD,
    MIN_FRAME_LENGTH,
    HdlcFrame,
    frame_length,
    parse_frame,
)
from drivers.errors import MalformedFrame


class HdlcFrameDecoder:
    """Incremental decoder: `feed` bytes, then `next_frame` until it returns None."""

    def __init__(self, max_info_length: int = 128) -> None:
        self.max_info_length = max_info_length
        self._buffer = bytearray()

    @property
    def max_info_length(self) -> int:
        return self._max_info

    @max_info_length.setter
    def max_info_length(self, value: int) -> None:
        if not 1 <= value <= MAX_INFO_LENGTH:
            raise ValueError(f"HDLC max info length {value} is not in 1..{MAX_INFO_LENGTH}")
        self._max_info = value

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def clear(self) -> None:
        self._buffer.clear()

    def next_frame(self) -> HdlcFrame | None:
        buffer = self._buffer
        while True:
            start = buffer.find(FLAG)
            if start < 0:
                buffer.clear()  # noise without any flag: nothing in it can start a frame
                return None
            if start:
                del buffer[:start]
            # consecutive flags are inter-frame fill (or a closing flag shared as an opening one)
            if len(buffer) >= 2 and buffer[1] == FLAG:
                del buffer[0]
                continue
            break
        if len(buffer) < 3:
            return None
        try:
            length = frame_length(buffer[1:3])
            limit = self._max_info + MAX_OVERHEAD
            if length > limit:
                raise MalformedFrame(f"HDLC frame length {length} exceeds the maximum {limit}")
            if length < MIN_FRAME_LENGTH:
                raise MalformedFrame(f"HDLC frame length {length} is below {MIN_FRAME_LENGTH}")
            if len(buffer) < length + 2:
                return None
            if buffer[length + 1] != FLAG:
                raise MalformedFrame("HDLC closing flag missing where the frame length ends")
            frame = parse_frame(buffer[1 : length + 1])
        except MalformedFrame:
            del buffer[0]  # resynchronise on the next flag
            raise
        # keep the closing flag: it may be the opening flag of the next frame
        del buffer[: length + 1]
        return frame
