"""HDLC parameter negotiation: the information field of SNRM and UA (IEC 62056-46 §6.4.4.4.3.2).

    81 (format id) 80 (group id) <group length> then parameters id/length/value:
    05 max info length transmit, 06 max info length receive, 07 window transmit, 08 window receive

Each side states what *it* transmits and receives. Absent parameters take the defaults (128 bytes,
window 1); an SNRM without an information field asks for all defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.dlms.hdlc.frames import MAX_INFO_LENGTH
from drivers.errors import MalformedFrame

FORMAT_ID = 0x81
GROUP_ID = 0x80
MAX_INFO_TX = 0x05
MAX_INFO_RX = 0x06
WINDOW_TX = 0x07
WINDOW_RX = 0x08
DEFAULT_MAX_INFO = 128
DEFAULT_WINDOW = 1
MAX_WINDOW = 7


@dataclass(frozen=True, slots=True)
class HdlcParameters:
    max_info_tx: int = DEFAULT_MAX_INFO
    max_info_rx: int = DEFAULT_MAX_INFO
    window_tx: int = DEFAULT_WINDOW
    window_rx: int = DEFAULT_WINDOW

    def encode(self) -> bytes:
        body = (
            _parameter(MAX_INFO_TX, self.max_info_tx, 1 if self.max_info_tx <= 0xFF else 2)
            + _parameter(MAX_INFO_RX, self.max_info_rx, 1 if self.max_info_rx <= 0xFF else 2)
            + _parameter(WINDOW_TX, self.window_tx, 4)
            + _parameter(WINDOW_RX, self.window_rx, 4)
        )
        return bytes([FORMAT_ID, GROUP_ID, len(body)]) + body

    @classmethod
    def decode(cls, info: bytes) -> HdlcParameters:
        """Parse an SNRM/UA information field; MalformedFrame if it is not a parameter group."""
        if not info:
            return cls()
        if len(info) < 3 or info[0] != FORMAT_ID or info[1] != GROUP_ID:
            raise MalformedFrame(f"HDLC parameters do not start with 81 80: {info[:3].hex()}")
        if info[2] != len(info) - 3:
            raise MalformedFrame(
                f"HDLC parameter group length {info[2]} but {len(info) - 3} bytes follow"
            )
        values = {MAX_INFO_TX: DEFAULT_MAX_INFO, MAX_INFO_RX: DEFAULT_MAX_INFO}
        values |= {WINDOW_TX: DEFAULT_WINDOW, WINDOW_RX: DEFAULT_WINDOW}
        offset = 3
        while offset < len(info):
            if offset + 2 > len(info):
                raise MalformedFrame("HDLC parameter truncated")
            ident, size = info[offset], info[offset + 1]
            value_bytes = info[offset + 2 : offset + 2 + size]
            if len(value_bytes) != size or not 1 <= size <= 4:
                raise MalformedFrame(f"HDLC parameter {ident:#04x} has a bad length {size}")
            if ident in values:
                values[ident] = int.from_bytes(value_bytes, "big")
            offset += 2 + size
        for ident in (MAX_INFO_TX, MAX_INFO_RX):
            if values[ident] < 1:
                raise MalformedFrame(f"HDLC max info length {values[ident]} is not positive")
            values[ident] = min(values[ident], MAX_INFO_LENGTH)
        for ident in (WINDOW_TX, WINDOW_RX):
            if values[ident] < 1:
                raise MalformedFrame(f"HDLC window size {values[ident]} is not positive")
            values[ident] = min(values[ident], MAX_WINDOW)
        return cls(values[MAX_INFO_TX], values[MAX_INFO_RX], values[WINDOW_TX], values[WINDOW_RX])

    def answer(self, max_info: int, window: int) -> HdlcParameters:
        """A server's UA parameters for this SNRM proposal, capped by the server's own limits."""
        return HdlcParameters(
            max_info_tx=min(max_info, self.max_info_rx),
            max_info_rx=min(max_info, self.max_info_tx),
            window_tx=min(window, self.window_rx),
            window_rx=min(window, self.window_tx),
        )


def _parameter(ident: int, value: int, size: int) -> bytes:
    return bytes([ident, size]) + value.to_bytes(size, "big")
