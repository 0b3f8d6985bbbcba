"""Incremental, bounded DL/T 645 frame decoder (the `drivers.transport.stream.Framer` shape).

`feed()` bytes as they arrive; `next_frame()` returns a `Frame`, None when more bytes are needed,
or raises `MalformedFrame`. Every raise consumes at least one byte, so a caller that keeps calling
makes progress and can never loop forever on the same input; the buffer never holds more than one
maximum-length frame because the length byte is checked against `max_data` before waiting for data.
"""

from __future__ import annotations

from drivers.dlt645.frame import (
    END,
    HEADER_LEN,
    MAX_DATA_LEN,
    PREAMBLE_BYTE,
    START,
    Frame,
    checksum,
    remove_offset,
)
from drivers.errors import MalformedFrame


class FrameDecoder:
    """Skips any number of `FE` wake-up bytes before each frame."""

    def __init__(self, *, max_data: int = MAX_DATA_LEN, meter: str | None = None) -> None:
        if not 0 <= max_data <= 255:
            raise ValueError("max_data must be 0..255")
        self._buffer = bytearray()
        self._max_data = max_data
        self._meter = meter

    def feed(self, data: bytes) -> None:
        self._buffer += data
        self._skip_preamble()

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def reset(self) -> None:
        self._buffer.clear()

    def next_frame(self) -> Frame | None:
        self._skip_preamble()
        buf = self._buffer
        if not buf:
            return None
        if buf[0] != START:
            # Resynchronise on the next start byte; everything before it is line noise.
            nxt = buf.find(START)
            dropped = len(buf) if nxt < 0 else nxt
            first = buf[0]
            del buf[:dropped]
            raise self._error(f"{dropped} byte(s) of noise before a frame (first 0x{first:02X})")
        if len(buf) >= 8 and buf[7] != START:
            bad = buf[7]
            self._drop_one()
            raise self._error(f"second start byte is 0x{bad:02X}, not 0x68")
        if len(buf) < HEADER_LEN:
            return None
        length = buf[9]
        if length > self._max_data:
            self._drop_one()
            raise self._error(f"length {length} exceeds the maximum of {self._max_data}")
        total = HEADER_LEN + length + 2
        if len(buf) < total:
            return None
        body = bytes(buf[: HEADER_LEN + length])
        cs, end = buf[total - 2], buf[total - 1]
        if end != END:
            self._drop_one()
            raise self._error(f"end byte is 0x{end:02X}, not 0x16")
        if cs != checksum(body):
            self._drop_one()
            raise self._error(f"checksum 0x{cs:02X}, expected 0x{checksum(body):02X}")
        del buf[:total]
        return Frame(address=body[1:7], control=body[8], data=remove_offset(body[HEADER_LEN:]))

    def _skip_preamble(self) -> None:
        n = 0
        while n < len(self._buffer) and self._buffer[n] == PREAMBLE_BYTE:
            n += 1
        if n:
            del self._buffer[:n]

    def _drop_one(self) -> None:
        # Drop the false start byte only: a real frame may begin inside the rejected bytes.
        del self._buffer[:1]

    def _error(self, cause: str) -> MalformedFrame:
        return MalformedFrame(f"DL/T 645: {cause}", meter=self._meter)
