"""Sans-IO HDLC client (primary station) for one server: SNRM/UA, I-frame exchange, DISC.

The caller writes the bytes the methods return and passes every decoded frame to
`receive_frame`, which returns a `ClientStep`: bytes to write now (an RR asking for the next
segment, or our next segment) and, when the pending operation is complete, `done`.

Sending uses one I-frame per poll (window 1 on transmit is always allowed); receiving accepts a
window of several frames from the server and acknowledges with RR when the final bit says so.
Frames from other stations (our own echo on a bus, another meter's reply) are ignored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum

from drivers.dlms.hdlc.address import HdlcAddress
from drivers.dlms.hdlc.frames import (
    LLC_COMMAND,
    LLC_RESPONSE,
    MAX_INFO_LENGTH,
    FrameKind,
    HdlcFrame,
)
from drivers.dlms.hdlc.params import DEFAULT_MAX_INFO, MAX_WINDOW, HdlcParameters
from drivers.errors import MalformedFrame, ProtocolError

LOG = logging.getLogger(__name__)

MAX_APDU = 0xFFFF


class ClientState(Enum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    IDLE = "idle"
    SENDING = "sending"
    RECEIVING = "receiving"
    DISCONNECTING = "disconnecting"
    BROKEN = "broken"


@dataclass(frozen=True, slots=True)
class ClientStep:
    send: bytes = b""
    apdu: bytes | None = None
    done: bool = False


class HdlcClient:
    def __init__(
        self, client_address: int, server: HdlcAddress, *, max_info: int = 128, window: int = 1
    ) -> None:
        if not 1 <= max_info <= MAX_INFO_LENGTH:
            raise ValueError(f"max_info {max_info} is not in 1..{MAX_INFO_LENGTH}")
        if not 1 <= window <= MAX_WINDOW:
            raise ValueError(f"window {window} is not in 1..{MAX_WINDOW}")
        self.address = HdlcAddress(client_address, None, 1)
        self.server = server
        self.proposal = HdlcParameters(max_info, max_info, window, window)
        self.params = HdlcParameters()  # the server's side, from its UA
        self.state = ClientState.DISCONNECTED
        self._vs = 0  # N(S) of our next I-frame
        self._vr = 0  # N(S) we expect in the server's next I-frame
        self._outgoing: list[bytes] = []
        self._incoming = bytearray()
        self._first_segment = True

    @property
    def tx_max_info(self) -> int:
        """Largest information field the server accepts from us."""
        return self.params.max_info_rx

    @property
    def rx_max_info(self) -> int:
        """Largest information field the server may send us (for the frame decoder)."""
        return max(self.params.max_info_tx, self.proposal.max_info_rx)

    def connect(self) -> bytes:
        self._vs = self._vr = 0
        self._outgoing.clear()
        self._incoming.clear()
        self.state = ClientState.CONNECTING
        return self._frame(FrameKind.SNRM, info=self.proposal.encode())

    def disconnect(self) -> bytes:
        self.state = ClientState.DISCONNECTING
        return self._frame(FrameKind.DISC)

    def send_apdu(self, apdu: bytes) -> bytes:
        if self.state is not ClientState.IDLE:
            raise ProtocolError(f"cannot send an APDU: HDLC link is {self.state.value}")
        payload = LLC_COMMAND + apdu
        size = self.tx_max_info
        self._outgoing = [payload[i : i + size] for i in range(0, len(payload), size)]
        self._incoming.clear()
        self._first_segment = True
        return self._next_segment()

    def receive_frame(self, frame: HdlcFrame) -> ClientStep:
        if not self._from_our_server(frame) or frame.kind is FrameKind.UI:
            return ClientStep()
        try:
            return self._dispatch(frame)
        except (ProtocolError, MalformedFrame):
            self.state = ClientState.BROKEN
            raise

    def _dispatch(self, frame: HdlcFrame) -> ClientStep:
        state = self.state
        if state is ClientState.CONNECTING:
            return self._on_connect_reply(frame)
        if state is ClientState.DISCONNECTING:
            if frame.kind in (FrameKind.UA, FrameKind.DM):
                self.state = ClientState.DISCONNECTED
                return ClientStep(done=True)
            return ClientStep()
        if state in (ClientState.SENDING, ClientState.RECEIVING):
            if frame.kind in (FrameKind.DM, FrameKind.FRMR):
                raise ProtocolError(f"server answered {frame.kind.value}: link not established")
            if state is ClientState.SENDING:
                return self._on_sending(frame)
            return self._on_receiving(frame)
        return ClientStep()  # a stray frame while idle: a late reply to an abandoned request

    def _on_connect_reply(self, frame: HdlcFrame) -> ClientStep:
        if frame.kind is FrameKind.UA:
            self.params = self._ua_parameters(frame.info)
            self.state = ClientState.IDLE
            return ClientStep(done=True)
        if frame.kind in (FrameKind.DM, FrameKind.FRMR):
            raise ProtocolError(f"server refused SNRM with {frame.kind.value}")
        return ClientStep()

    def _ua_parameters(self, info: bytes) -> HdlcParameters:
        """The server's UA parameters. One malformation is tolerated: a group length that does
        not count the parameters which follow, well-formed (Gurux's Python server, a common
        meter simulator, sends group length 0 and a clobbered window byte). That UA is still a
        yes to the SNRM, but its values are not trusted: the defaults every station must accept
        (128 bytes, window 1), capped by our own proposal, are used. Anything else that does not
        parse stays a MalformedFrame."""
        try:
            return HdlcParameters.decode(info)
        except MalformedFrame as err:
            body = len(info) - 3
            if not (info[:2] == b"\x81\x80" and 0 <= body <= 0xFF and info[2] != body):
                raise
            HdlcParameters.decode(info[:2] + bytes([body]) + info[3:])  # else MalformedFrame
            LOG.warning("HDLC UA parameters ignored, using the defaults: %s", err.cause)
            return HdlcParameters(
                max_info_tx=min(DEFAULT_MAX_INFO, self.proposal.max_info_rx),
                max_info_rx=min(DEFAULT_MAX_INFO, self.proposal.max_info_tx),
            )

    def _on_sending(self, frame: HdlcFrame) -> ClientStep:
        if frame.kind is FrameKind.RR:
            if frame.recv_seq != self._vs:
                raise ProtocolError(
                    f"server acknowledged N(R)={frame.recv_seq}, expected {self._vs}"
                )
            return ClientStep(send=self._next_segment())
        if frame.kind is FrameKind.I:
            raise ProtocolError("server replied before the last segment of the request")
        return ClientStep()  # RNR: the server is busy; wait for its RR until the deadline

    def _on_receiving(self, frame: HdlcFrame) -> ClientStep:
        if frame.kind is not FrameKind.I:
            return ClientStep()
        if frame.send_seq != self._vr or frame.recv_seq != self._vs:
            raise ProtocolError(
                f"server I-frame N(S)={frame.send_seq} N(R)={frame.recv_seq}, "
                f"expected N(S)={self._vr} N(R)={self._vs}"
            )
        self._vr = (self._vr + 1) & 7
        info = frame.info
        if self._first_segment:
            if not info.startswith(LLC_RESPONSE):
                raise ProtocolError(f"reply does not start with LLC E6 E7 00: {info[:3].hex()}")
            info = info[len(LLC_RESPONSE) :]
            self._first_segment = False
        self._incoming += info
        if len(self._incoming) > MAX_APDU:
            raise MalformedFrame(f"segmented reply exceeds {MAX_APDU} bytes")
        if frame.segmented:
            rr = self._frame(FrameKind.RR, recv_seq=self._vr) if frame.poll_final else b""
            return ClientStep(send=rr)
        self.state = ClientState.IDLE
        apdu = bytes(self._incoming)
        self._incoming.clear()
        return ClientStep(apdu=apdu, done=True)

    def _next_segment(self) -> bytes:
        segment = self._outgoing.pop(0)
        more = bool(self._outgoing)
        self.state = ClientState.SENDING if more else ClientState.RECEIVING
        data = self._frame(
            FrameKind.I, info=segment, segmented=more, send_seq=self._vs, recv_seq=self._vr
        )
        self._vs = (self._vs + 1) & 7
        return data

    def _from_our_server(self, frame: HdlcFrame) -> bool:
        return (
            frame.destination.wire_size == 1
            and frame.destination.logical == self.address.logical
            and frame.source.same_device(self.server)
        )

    def _frame(
        self,
        kind: FrameKind,
        *,
        info: bytes = b"",
        segmented: bool = False,
        send_seq: int = 0,
        recv_seq: int = 0,
    ) -> bytes:
        return HdlcFrame(
            kind, self.server, self.address, info, True, segmented, send_seq, recv_seq
        ).encode()
