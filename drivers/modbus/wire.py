"""Modbus on the wire, sans-IO: CRC-16/Modbus, RTU and MBAP (Modbus TCP) frames.

The driver uses pymodbus for its requests, but pymodbus silently drops a reply with a bad CRC or
from another unit and then waits for its timeout. `inspect_reply` looks at the same received bytes
and names what is wrong at once, so the bus can raise `MalformedFrame` / `ProtocolError` instead
of a bare timeout. The simulator uses the request framers here to serve RTU and MBAP itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc_table()

MAX_RTU_FRAME = 256
MAX_MBAP_LENGTH = 254  # unit id + PDU (253 bytes max)


def crc16(data: bytes) -> int:
    """CRC-16/Modbus (poly 0xA001 reflected, init 0xFFFF); sent low byte first."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ byte) & 0xFF]
    return crc


def rtu_frame(unit: int, pdu: bytes) -> bytes:
    body = bytes([unit]) + pdu
    return body + crc16(body).to_bytes(2, "little")


def mbap_frame(tid: int, unit: int, pdu: bytes) -> bytes:
    return (
        tid.to_bytes(2, "big")
        + b"\x00\x00"
        + (len(pdu) + 1).to_bytes(2, "big")
        + bytes([unit])
        + pdu
    )


def reply_pdu_length(pdu_head: bytes) -> int | None:
    """Length of a reply PDU from its first bytes; None if unknown or more bytes are needed."""
    if not pdu_head:
        return None
    function = pdu_head[0]
    if function & 0x80:
        return 2
    if function in (3, 4):
        return 2 + pdu_head[1] if len(pdu_head) >= 2 else None
    if function in (5, 6, 15, 16):
        return 5
    return None


def request_pdu_length(pdu_head: bytes) -> int | None:
    """Length of a request PDU from its first bytes; None if more bytes are needed or unknown."""
    if not pdu_head:
        return None
    function = pdu_head[0]
    if function in (1, 2, 3, 4, 5, 6):
        return 5
    if function in (15, 16):
        return 6 + pdu_head[5] if len(pdu_head) >= 6 else None
    return None


class ReplyFault(StrEnum):
    BAD_CRC = "bad CRC"
    WRONG_UNIT = "reply from another unit"
    WRONG_FUNCTION = "reply to another function"


@dataclass(frozen=True, slots=True)
class Verdict:
    fault: ReplyFault
    detail: str


def inspect_reply(buffer: bytes, *, rtu: bool, unit: int, function: int) -> Verdict | None:
    """What is wrong with a complete reply in `buffer`; None if fine or still incomplete."""
    if rtu:
        if len(buffer) < 3:
            return None
        length = reply_pdu_length(buffer[1:3])
        if length is None or len(buffer) < 1 + length + 2:
            return None
        frame = buffer[: 1 + length + 2]
        got_crc = int.from_bytes(frame[-2:], "little")
        if crc16(frame[:-2]) != got_crc:
            return Verdict(ReplyFault.BAD_CRC, f"CRC {got_crc:04X} != {crc16(frame[:-2]):04X}")
        got_unit, got_function = frame[0], frame[1]
    else:
        if len(buffer) < 8:
            return None
        got_unit, got_function = buffer[6], buffer[7]
    if unit and got_unit != unit:
        return Verdict(ReplyFault.WRONG_UNIT, f"asked unit {unit}, unit {got_unit} answered")
    if got_function & 0x7F != function:
        return Verdict(
            ReplyFault.WRONG_FUNCTION, f"asked function {function}, got {got_function & 0x7F}"
        )
    return None


@dataclass(frozen=True, slots=True)
class Request:
    unit: int
    pdu: bytes
    tid: int | None = None  # MBAP transaction id; None on RTU


class RtuRequestFramer:
    """Server side: split a byte stream into RTU requests. Bad-CRC or unknown frames are dropped
    (a slave must stay silent on a frame it cannot trust) and counted in `crc_errors`."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.crc_errors = 0

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_frame(self) -> Request | None:
        while len(self._buf) >= 4:
            length = request_pdu_length(bytes(self._buf[1:8]))
            if length is None:
                if self._buf[1] in (15, 16) and len(self._buf) < 7:
                    return None
                # Unknown function: hunt for a CRC-valid frame within what we hold.
                for end in range(4, len(self._buf) + 1):
                    if crc16(bytes(self._buf[: end - 2])) == int.from_bytes(
                        self._buf[end - 2 : end], "little"
                    ):
                        frame = bytes(self._buf[:end])
                        del self._buf[:end]
                        return Request(frame[0], frame[1:-2])
                if len(self._buf) > MAX_RTU_FRAME:
                    self._buf.clear()
                return None
            total = 1 + length + 2
            if total > MAX_RTU_FRAME:
                self._buf.clear()
                self.crc_errors += 1
                return None
            if len(self._buf) < total:
                return None
            frame = bytes(self._buf[:total])
            del self._buf[:total]
            if crc16(frame[:-2]) != int.from_bytes(frame[-2:], "little"):
                self.crc_errors += 1
                self._buf.clear()  # resynchronise on the next frame
                return None
            return Request(frame[0], frame[1:-2])
        return None

    def pending(self) -> int:
        return len(self._buf)


class MbapRequestFramer:
    """Server side: MBAP requests; a length field over the maximum is a protocol violation."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_frame(self) -> Request | None:
        if len(self._buf) < 7:
            return None
        length = int.from_bytes(self._buf[4:6], "big")
        if length < 2 or length > MAX_MBAP_LENGTH or self._buf[2:4] != b"\x00\x00":
            raise ValueError(f"bad MBAP header {bytes(self._buf[:7]).hex()}")
        if len(self._buf) < 6 + length:
            return None
        frame = bytes(self._buf[: 6 + length])
        del self._buf[: 6 + length]
        return Request(frame[6], frame[7:], int.from_bytes(frame[0:2], "big"))

    def pending(self) -> int:
        return len(self._buf)
