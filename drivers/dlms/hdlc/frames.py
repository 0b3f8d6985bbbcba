"""HDLC frame codec (IEC 62056-46, frame format type 3): one frame to bytes and back.

    7E | A/S/length (2) | destination | source | control | [HCS (2) | information] | FCS (2) | 7E

The length counts every byte between the flags. The HCS is present only when the frame carries an
information field. Framing of a byte stream (where frames start and end) is in `decoder.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from drivers.dlms.hdlc.address import HdlcAddress, decode_address
from drivers.dlms.hdlc.crc import check_sequence
from drivers.errors import MalformedFrame

FLAG = 0x7E
FORMAT_TYPE_3 = 0xA0
SEGMENTATION_BIT = 0x08
MAX_FRAME_LENGTH = 0x7FF
# format (2) + two 4-byte addresses + control + HCS + FCS: the most a frame adds to its payload
MAX_OVERHEAD = 2 + 4 + 4 + 1 + 2 + 2
MAX_INFO_LENGTH = MAX_FRAME_LENGTH - MAX_OVERHEAD
MIN_FRAME_LENGTH = 2 + 1 + 1 + 1 + 2

LLC_COMMAND = b"\xe6\xe6\x00"
LLC_RESPONSE = b"\xe6\xe7\x00"

POLL_FINAL_BIT = 0x10


class FrameKind(StrEnum):
    I = "I"  # noqa: E741 - the standard's name for an information frame
    RR = "RR"
    RNR = "RNR"
    SNRM = "SNRM"
    DISC = "DISC"
    UA = "UA"
    DM = "DM"
    FRMR = "FRMR"
    UI = "UI"


_SUPERVISORY = {FrameKind.RR: 0x01, FrameKind.RNR: 0x05}
_UNNUMBERED = {
    FrameKind.SNRM: 0x83,
    FrameKind.DISC: 0x43,
    FrameKind.UA: 0x63,
    FrameKind.DM: 0x0F,
    FrameKind.FRMR: 0x87,
    FrameKind.UI: 0x03,
}
_SUPERVISORY_BY_CODE = {code: kind for kind, code in _SUPERVISORY.items()}
_UNNUMBERED_BY_CODE = {code: kind for kind, code in _UNNUMBERED.items()}


@dataclass(frozen=True, slots=True)
class HdlcFrame:
    """One frame. `send_seq` is N(S) (I-frames), `recv_seq` is N(R) (I, RR, RNR)."""

    kind: FrameKind
    destination: HdlcAddress
    source: HdlcAddress
    info: bytes = b""
    poll_final: bool = True
    segmented: bool = False
    send_seq: int = 0
    recv_seq: int = 0

    def control(self) -> int:
        pf = POLL_FINAL_BIT if self.poll_final else 0
        if self.kind is FrameKind.I:
            return (self.recv_seq & 7) << 5 | pf | (self.send_seq & 7) << 1
        if self.kind in _SUPERVISORY:
            return (self.recv_seq & 7) << 5 | pf | _SUPERVISORY[self.kind]
        return _UNNUMBERED[self.kind] | pf

    def encode(self) -> bytes:
        """The frame with both flags."""
        addresses = self.destination.encode() + self.source.encode()
        length = 2 + len(addresses) + 1 + 2 + (2 + len(self.info) if self.info else 0)
        if length > MAX_FRAME_LENGTH:
            raise ValueError(f"HDLC frame of {length} bytes exceeds {MAX_FRAME_LENGTH}")
        format_field = (FORMAT_TYPE_3 << 8) | length
        if self.segmented:
            format_field |= SEGMENTATION_BIT << 8
        header = format_field.to_bytes(2, "big") + addresses + bytes([self.control()])
        body = header + check_sequence(header) + self.info if self.info else header
        return bytes([FLAG]) + body + check_sequence(body) + bytes([FLAG])


def frame_length(format_field: bytes | bytearray) -> int:
    """Length from the 2-byte frame format field; MalformedFrame if it is not type 3."""
    if format_field[0] & 0xF0 != FORMAT_TYPE_3:
        raise MalformedFrame(f"HDLC frame format {format_field[0] >> 4:#x} is not type 3 (0xa)")
    return ((format_field[0] & 0x07) << 8) | format_field[1]


def parse_frame(body: bytes | bytearray) -> HdlcFrame:
    """Parse the bytes between the flags (length already matched to the format field)."""
    if len(body) < MIN_FRAME_LENGTH:
        raise MalformedFrame(f"HDLC frame of {len(body)} bytes is shorter than {MIN_FRAME_LENGTH}")
    if frame_length(body) != len(body):
        raise MalformedFrame("HDLC frame length does not match its format field")
    segmented = bool(body[0] & SEGMENTATION_BIT)
    fcs_at = len(body) - 2
    if check_sequence(body[:fcs_at]) != body[fcs_at:]:
        raise MalformedFrame("HDLC frame check sequence (FCS) is wrong")
    destination, offset = decode_address(body, 2, fcs_at)
    source, offset = decode_address(body, offset, fcs_at)
    if offset >= fcs_at:
        raise MalformedFrame("HDLC frame has no control field")
    control = body[offset]
    offset += 1
    info = b""
    if offset < fcs_at:
        if fcs_at - offset < 2:
            raise MalformedFrame("HDLC frame too short for its header check sequence (HCS)")
        if check_sequence(body[:offset]) != body[offset : offset + 2]:
            raise MalformedFrame("HDLC header check sequence (HCS) is wrong")
        info = bytes(body[offset + 2 : fcs_at])
    kind, send_seq, recv_seq = _decode_control(control)
    return HdlcFrame(
        kind=kind,
        destination=destination,
        source=source,
        info=info,
        poll_final=bool(control & POLL_FINAL_BIT),
        segmented=segmented,
        send_seq=send_seq,
        recv_seq=recv_seq,
    )


def _decode_control(control: int) -> tuple[FrameKind, int, int]:
    if control & 0x01 == 0:
        return FrameKind.I, (control >> 1) & 7, control >> 5
    if control & 0x03 == 0x01:
        kind = _SUPERVISORY_BY_CODE.get(control & 0x0F)
        if kind is None:
            raise MalformedFrame(f"HDLC supervisory control {control:#04x} is not RR or RNR")
        return kind, 0, control >> 5
    unnumbered = _UNNUMBERED_BY_CODE.get(control & ~POLL_FINAL_BIT & 0xFF)
    if unnumbered is None:
        raise MalformedFrame(f"HDLC control field {control:#04x} is unknown")
    return unnumbered, 0, 0
