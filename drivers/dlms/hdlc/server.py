"""Sans-IO HDLC server (secondary station) for one line that may carry several server addresses.

A concentrator port or a multidrop RS-485 bus: frames for addresses this line does not serve are
ignored silently, as a meter on a real bus ignores frames for its neighbours. Each (client,
logical, physical) address has its own link: SNRM/UA, reassembly of segmented requests (RR asks
for the next segment), one call of the `ApduHandler` per complete APDU, replies segmented to the
client's receive size (the next segment goes out on RR), DISC/UA. A frame on a link that was never
set up gets DM. A duplicate I-frame or RR (the client missed our answer) gets our last frame again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from drivers.dlms.hdlc.address import HdlcAddress
from drivers.dlms.hdlc.frames import (
    LLC_COMMAND,
    LLC_RESPONSE,
    MAX_INFO_LENGTH,
    FrameKind,
    HdlcFrame,
)
from drivers.dlms.hdlc.params import HdlcParameters
from drivers.dlms.link import ApduHandler, DisconnectHandler, ServerAddress
from drivers.errors import MalformedFrame

MAX_APDU = 0xFFFF
SERVER_WINDOW = 1  # one I-frame per poll both ways: what simple meters do


@dataclass
class _Link:
    client: HdlcAddress
    server: HdlcAddress  # as the client wrote it; replies use the same form
    params: HdlcParameters
    vs: int = 0
    vr: int = 0
    inbound: bytearray = field(default_factory=bytearray)
    outbound: list[bytes] = field(default_factory=list)
    last_sent: bytes = b""


class HdlcServer:
    def __init__(
        self,
        handler: ApduHandler,
        on_disconnect: DisconnectHandler | None = None,
        *,
        serves: Callable[[ServerAddress], bool] | None = None,
        max_info: int = 128,
    ) -> None:
        if not 1 <= max_info <= MAX_INFO_LENGTH:
            raise ValueError(f"max_info {max_info} is not in 1..{MAX_INFO_LENGTH}")
        self._handler = handler
        self._on_disconnect = on_disconnect
        self._serves = serves
        self.max_info = max_info
        self._links: dict[ServerAddress, _Link] = {}

    @property
    def connected(self) -> list[ServerAddress]:
        return list(self._links)

    def receive_frame(self, frame: HdlcFrame) -> bytes:
        """Bytes to send back (empty: stay silent)."""
        if frame.source.wire_size != 1:
            return b""  # not a request: a client address is one byte (e.g. another meter's reply)
        address = ServerAddress(
            client=frame.source.logical,
            logical=frame.destination.logical,
            physical=frame.destination.physical,
        )
        if self._serves is not None and not self._serves(address):
            return b""
        kind = frame.kind
        if kind is FrameKind.SNRM:
            return self._on_snrm(address, frame)
        link = self._links.get(address)
        if kind is FrameKind.DISC:
            if link is None:
                return _reply(frame.source, frame.destination, FrameKind.DM)
            self._drop(address)
            return _reply(link.client, link.server, FrameKind.UA)
        if kind not in (FrameKind.I, FrameKind.RR):
            return b""  # RNR, UI and responses a client should not send
        if link is None:
            return _reply(frame.source, frame.destination, FrameKind.DM)
        if kind is FrameKind.I:
            return self._on_information(address, link, frame)
        return self._on_receive_ready(link, frame)

    def close(self) -> None:
        """The line went away: every open link is lost."""
        for address in list(self._links):
            self._drop(address)

    def _drop(self, address: ServerAddress) -> None:
        del self._links[address]
        if self._on_disconnect is not None:
            self._on_disconnect(address)

    def _on_snrm(self, address: ServerAddress, frame: HdlcFrame) -> bytes:
        try:
            proposal = HdlcParameters.decode(frame.info)
        except MalformedFrame:
            return _reply(frame.source, frame.destination, FrameKind.FRMR)
        if address in self._links:
            self._drop(address)  # a new SNRM resets the link and loses the association
        params = proposal.answer(self.max_info, SERVER_WINDOW)
        self._links[address] = _Link(frame.source, frame.destination, params)
        return _reply(frame.source, frame.destination, FrameKind.UA, info=params.encode())

    def _on_information(self, address: ServerAddress, link: _Link, frame: HdlcFrame) -> bytes:
        if frame.send_seq == (link.vr - 1) & 7 and link.last_sent:
            return link.last_sent
        if frame.send_seq != link.vr or frame.recv_seq != link.vs:
            return self._reject(address, link)
        link.vr = (link.vr + 1) & 7
        link.outbound.clear()  # a new request abandons what is left of the previous reply
        link.inbound += frame.info
        if len(link.inbound) > MAX_APDU + len(LLC_COMMAND):
            return self._reject(address, link)
        if frame.segmented:
            return self._send(link, FrameKind.RR) if frame.poll_final else b""
        request = bytes(link.inbound)
        link.inbound.clear()
        if not request.startswith(LLC_COMMAND):
            return self._reject(address, link)
        reply = self._handler(address, request[len(LLC_COMMAND) :])
        if reply is None:
            return self._send(link, FrameKind.RR)
        payload = LLC_RESPONSE + reply
        size = link.params.max_info_tx
        link.outbound = [payload[i : i + size] for i in range(0, len(payload), size)]
        return self._next_segment(link)

    def _on_receive_ready(self, link: _Link, frame: HdlcFrame) -> bytes:
        if frame.recv_seq == link.vs and link.outbound:
            return self._next_segment(link)
        if frame.recv_seq == (link.vs - 1) & 7 and link.last_sent:
            return link.last_sent
        return self._send(link, FrameKind.RR)

    def _reject(self, address: ServerAddress, link: _Link) -> bytes:
        # FRMR leaves the link unusable until the client sends SNRM again
        self._drop(address)
        return _reply(link.client, link.server, FrameKind.FRMR)

    def _next_segment(self, link: _Link) -> bytes:
        segment = link.outbound.pop(0)
        data = _reply(
            link.client,
            link.server,
            FrameKind.I,
            info=segment,
            segmented=bool(link.outbound),
            send_seq=link.vs,
            recv_seq=link.vr,
        )
        link.vs = (link.vs + 1) & 7
        link.last_sent = data
        return data

    def _send(self, link: _Link, kind: FrameKind) -> bytes:
        data = _reply(link.client, link.server, kind, recv_seq=link.vr)
        link.last_sent = data
        return data


def _reply(
    client: HdlcAddress,
    server: HdlcAddress,
    kind: FrameKind,
    *,
    info: bytes = b"",
    segmented: bool = False,
    send_seq: int = 0,
    recv_seq: int = 0,
) -> bytes:
    return HdlcFrame(kind, client, server, info, True, segmented, send_seq, recv_seq).encode()
