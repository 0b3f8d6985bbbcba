"""The sans-IO client and server state machines, driven frame by frame without any I/O."""

from __future__ import annotations

import pytest

from drivers.dlms.hdlc import ClientState, HdlcClient, HdlcServer
from drivers.dlms.hdlc.address import HdlcAddress
from drivers.dlms.hdlc.frames import LLC_COMMAND, LLC_RESPONSE, FrameKind, HdlcFrame, parse_frame
from drivers.dlms.hdlc.params import HdlcParameters
from drivers.dlms.link import ServerAddress
from drivers.errors import MalformedFrame, ProtocolError

CLIENT = HdlcAddress(16)
METER = HdlcAddress(1, 17)


def frames_of(wire: bytes) -> list[HdlcFrame]:
    """Split concatenated encoded frames (each starts and ends with its own flag)."""
    out = []
    while wire:
        length = ((wire[1] & 0x07) << 8) | wire[2]
        out.append(parse_frame(wire[1 : length + 1]))
        wire = wire[length + 2 :]
    return out


def one(wire: bytes) -> HdlcFrame:
    (frame,) = frames_of(wire)
    return frame


def connected_client(max_info: int = 128, ua_info: bytes | None = None) -> HdlcClient:
    client = HdlcClient(16, METER, max_info=max_info, window=7)
    snrm = one(client.connect())
    assert snrm.kind is FrameKind.SNRM
    assert HdlcParameters.decode(snrm.info) == HdlcParameters(max_info, max_info, 7, 7)
    info = HdlcParameters(max_info, max_info, 7, 7).encode() if ua_info is None else ua_info
    step = client.receive_frame(HdlcFrame(FrameKind.UA, CLIENT, METER, info))
    assert step.done
    return client


def reply(info: bytes, ns: int, nr: int, *, segmented=False, final=True) -> HdlcFrame:
    return HdlcFrame(FrameKind.I, CLIENT, METER, info, final, segmented, ns, nr)


def test_client_accepts_a_window_of_segments_and_polls_after_the_final_one():
    client = connected_client()
    request = one(client.send_apdu(b"\x01"))
    assert (request.send_seq, request.recv_seq, request.info) == (0, 0, LLC_COMMAND + b"\x01")
    # the server sends three segments without the final bit, then one with it
    for ns in range(3):
        step = client.receive_frame(
            reply((LLC_RESPONSE if ns == 0 else b"") + b"ab", ns, 1, segmented=True, final=False)
        )
        assert step.send == b"" and not step.done
    step = client.receive_frame(reply(b"cd", 3, 1, segmented=True, final=True))
    rr = one(step.send)
    assert (rr.kind, rr.recv_seq) == (FrameKind.RR, 4)
    step = client.receive_frame(reply(b"ef", 4, 1))
    assert step.done and step.apdu == b"ababab" + b"cdef"
    assert client.state is ClientState.IDLE


def test_client_segments_to_the_servers_receive_size_and_waits_for_rr():
    client = connected_client(ua_info=HdlcParameters(128, 40, 1, 1).encode())
    apdu = bytes(100)
    first = one(client.send_apdu(apdu))
    assert first.segmented and len(first.info) == 40 and client.state is ClientState.SENDING
    second = one(client.receive_frame(HdlcFrame(FrameKind.RR, CLIENT, METER, recv_seq=1)).send)
    assert second.segmented and second.send_seq == 1
    third = one(client.receive_frame(HdlcFrame(FrameKind.RR, CLIENT, METER, recv_seq=2)).send)
    assert not third.segmented and len(third.info) == 103 - 80
    assert client.state.value == "receiving"  # (mypy keeps the earlier narrowing)


def test_client_rejects_a_wrong_acknowledgement():
    client = connected_client(ua_info=HdlcParameters(128, 40, 1, 1).encode())
    client.send_apdu(bytes(100))
    with pytest.raises(ProtocolError, match="N\\(R\\)"):
        client.receive_frame(HdlcFrame(FrameKind.RR, CLIENT, METER, recv_seq=0))
    assert client.state is ClientState.BROKEN
    with pytest.raises(ProtocolError):
        client.send_apdu(b"\x01")


def test_client_ignores_its_own_echo_and_other_meters():
    client = connected_client()
    echo = one(client.send_apdu(b"\x01"))
    assert client.receive_frame(echo).send == b""  # RS-485 echo of our own request
    other = HdlcFrame(
        FrameKind.I, CLIENT, HdlcAddress(1, 18), LLC_RESPONSE + b"x", True, False, 0, 1
    )
    assert not client.receive_frame(other).done
    assert client.receive_frame(reply(LLC_RESPONSE + b"ok", 0, 1)).apdu == b"ok"


def test_client_reply_without_llc_is_protocol_error():
    client = connected_client()
    client.send_apdu(b"\x01")
    with pytest.raises(ProtocolError, match="LLC"):
        client.receive_frame(reply(b"\x01\x02\x03", 0, 1))


def test_client_bad_ua_parameters_are_malformed():
    client = HdlcClient(16, METER)
    client.connect()
    with pytest.raises(MalformedFrame):
        client.receive_frame(HdlcFrame(FrameKind.UA, CLIENT, METER, b"\x81\x80\x05\x05"))


def test_client_dm_to_snrm_is_protocol_error_and_disc_accepts_dm():
    client = HdlcClient(16, METER)
    client.connect()
    with pytest.raises(ProtocolError, match="DM"):
        client.receive_frame(HdlcFrame(FrameKind.DM, CLIENT, METER))
    assert one(client.disconnect()).kind is FrameKind.DISC
    assert client.receive_frame(HdlcFrame(FrameKind.DM, CLIENT, METER)).done


class Recorder:
    def __init__(self, reply: bytes | None = b"\xaa") -> None:
        self.calls: list[tuple[ServerAddress, bytes]] = []
        self.gone: list[ServerAddress] = []
        self.reply = reply

    def __call__(self, address: ServerAddress, apdu: bytes) -> bytes | None:
        self.calls.append((address, apdu))
        return self.reply


def request(kind: FrameKind, **kwargs) -> HdlcFrame:
    return HdlcFrame(kind, METER, CLIENT, **kwargs)


def test_server_link_lifecycle_and_retransmission():
    handler = Recorder()
    server = HdlcServer(handler, handler.gone.append)
    address = ServerAddress(16, 1, 17)
    assert one(server.receive_frame(request(FrameKind.I, info=LLC_COMMAND))).kind is FrameKind.DM
    assert one(server.receive_frame(request(FrameKind.DISC))).kind is FrameKind.DM
    ua = one(server.receive_frame(request(FrameKind.SNRM)))
    assert ua.kind is FrameKind.UA and ua.source == METER and ua.destination == CLIENT
    first = server.receive_frame(request(FrameKind.I, info=LLC_COMMAND + b"\x01"))
    assert one(first).info == LLC_RESPONSE + b"\xaa"
    # the client missed the reply and sends the same I-frame again: same answer, no second call
    assert server.receive_frame(request(FrameKind.I, info=LLC_COMMAND + b"\x01")) == first
    assert handler.calls == [(address, b"\x01")]
    # a wrong sequence number: FRMR, the link is gone
    bad = request(FrameKind.I, info=LLC_COMMAND, send_seq=5, recv_seq=1)
    assert one(server.receive_frame(bad)).kind is FrameKind.FRMR
    assert handler.gone == [address]
    server.receive_frame(request(FrameKind.SNRM))
    server.receive_frame(request(FrameKind.SNRM))  # a new SNRM resets the association
    assert handler.gone == [address, address]
    assert one(server.receive_frame(request(FrameKind.DISC))).kind is FrameKind.UA
    assert handler.gone == [address] * 3


def test_server_handler_without_reply_answers_rr():
    handler = Recorder(reply=None)
    server = HdlcServer(handler)
    server.receive_frame(request(FrameKind.SNRM))
    rr = one(server.receive_frame(request(FrameKind.I, info=LLC_COMMAND + b"\x01")))
    assert (rr.kind, rr.recv_seq) == (FrameKind.RR, 1)


def test_server_is_silent_for_other_addresses_and_for_replies_on_the_bus():
    handler = Recorder()
    server = HdlcServer(handler, serves=lambda a: a.physical == 17)
    assert server.receive_frame(HdlcFrame(FrameKind.SNRM, HdlcAddress(1, 18), CLIENT)) == b""
    # another meter's UA seen on the bus: source is a server address, not a one-byte client
    assert server.receive_frame(HdlcFrame(FrameKind.UA, CLIENT, HdlcAddress(1, 18))) == b""
    assert server.connected == []


def test_server_segments_its_reply_to_the_clients_receive_size():
    handler = Recorder(reply=bytes(range(100)))
    server = HdlcServer(handler, max_info=512)
    snrm_info = HdlcParameters(max_info_tx=512, max_info_rx=32).encode()
    ua = one(server.receive_frame(request(FrameKind.SNRM, info=snrm_info)))
    assert HdlcParameters.decode(ua.info) == HdlcParameters(32, 512, 1, 1)
    segment = one(server.receive_frame(request(FrameKind.I, info=LLC_COMMAND + b"\x01")))
    received = bytearray(segment.info)
    nr = 1
    while segment.segmented:
        assert len(segment.info) == 32
        segment = one(server.receive_frame(request(FrameKind.RR, recv_seq=nr)))
        assert segment.send_seq == nr
        received += segment.info
        nr += 1
    assert bytes(received) == LLC_RESPONSE + bytes(range(100))


def test_server_rejects_a_request_without_llc():
    server = HdlcServer(Recorder())
    server.receive_frame(request(FrameKind.SNRM))
    assert one(server.receive_frame(request(FrameKind.I, info=b"\x01"))).kind is FrameKind.FRMR


def test_client_ua_without_parameters_means_defaults():
    client = connected_client(max_info=512, ua_info=b"")
    assert client.params == HdlcParameters(128, 128, 1, 1)
    assert client.tx_max_info == 128
    segment = one(client.send_apdu(bytes(300)))
    assert segment.segmented and len(segment.info) == 128
