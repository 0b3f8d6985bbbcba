"""HDLC codec: our frames byte-for-byte against dlms-cosem's independent encoder, hand vectors."""

from __future__ import annotations

import pytest
from dlms_cosem.hdlc import frames as ref
from dlms_cosem.hdlc.address import HdlcAddress as RefAddress

from drivers.dlms.hdlc.address import HdlcAddress
from drivers.dlms.hdlc.crc import check_sequence, crc16
from drivers.dlms.hdlc.decoder import HdlcFrameDecoder
from drivers.dlms.hdlc.frames import FrameKind, HdlcFrame, parse_frame
from drivers.dlms.hdlc.params import HdlcParameters
from drivers.errors import MalformedFrame

CLIENT = HdlcAddress(16)
REF_CLIENT = RefAddress(16, None, "client")


def server_pair(logical: int, physical: int | None) -> tuple[HdlcAddress, RefAddress]:
    wide = physical is not None and (logical > 0x7F or physical > 0x7F)
    return (
        HdlcAddress(logical, physical, 4 if wide else 0),
        RefAddress(logical, physical, "server", extended_addressing=wide),
    )


SERVERS = [(1, None), (1, 17), (1, 0x1234), (0x10, 0x3FFE)]


def roundtrip(frame: HdlcFrame) -> HdlcFrame:
    decoder = HdlcFrameDecoder(2030)
    decoder.feed(frame.encode())
    decoded = decoder.next_frame()
    assert decoded is not None
    assert decoder.next_frame() is None
    return decoded


def test_crc_is_x25():
    assert crc16(b"123456789") == 0x906E  # the CRC-16/X.25 check value


@pytest.mark.parametrize(("logical", "physical"), SERVERS)
def test_snrm_disc_match_dlms_cosem(logical, physical):
    ours, theirs = server_pair(logical, physical)
    snrm = HdlcFrame(FrameKind.SNRM, ours, CLIENT)
    assert snrm.encode() == ref.SetNormalResponseModeFrame(theirs, REF_CLIENT).to_bytes()
    disc = HdlcFrame(FrameKind.DISC, ours, CLIENT)
    assert disc.encode() == ref.DisconnectFrame(theirs, REF_CLIENT).to_bytes()
    assert roundtrip(snrm) == snrm


@pytest.mark.parametrize(("logical", "physical"), SERVERS)
def test_ua_matches_dlms_cosem_and_parses_there(logical, physical):
    ours, theirs = server_pair(logical, physical)
    params = HdlcParameters(128, 256, 1, 1).encode()
    ua = HdlcFrame(FrameKind.UA, CLIENT, ours, params)
    expected = ref.UnNumberedAcknowledgmentFrame(REF_CLIENT, theirs, params).to_bytes()
    assert ua.encode() == expected
    parsed = ref.UnNumberedAcknowledgmentFrame.from_bytes(ua.encode())
    assert parsed.payload == params
    assert HdlcParameters.decode(roundtrip(ua).info) == HdlcParameters(128, 256, 1, 1)


@pytest.mark.parametrize(("logical", "physical"), SERVERS)
@pytest.mark.parametrize(
    ("ns", "nr", "segmented", "final"),
    [(0, 0, False, True), (3, 5, True, True), (7, 1, True, False)],
)
def test_information_frame_matches_dlms_cosem(logical, physical, ns, nr, segmented, final):
    ours, theirs = server_pair(logical, physical)
    payload = b"\xe6\xe6\x00\x60\x1d\xa1\x09" + bytes(range(40))
    frame = HdlcFrame(FrameKind.I, ours, CLIENT, payload, final, segmented, ns, nr)
    expected = ref.InformationFrame(
        theirs,
        REF_CLIENT,
        payload,
        segmented,
        final,
        send_sequence_number=ns,
        receive_sequence_number=nr,
    ).to_bytes()
    assert frame.encode() == expected
    assert roundtrip(frame) == frame


@pytest.mark.parametrize("nr", range(8))
def test_receive_ready_matches_dlms_cosem(nr):
    ours, theirs = server_pair(1, 17)
    rr = HdlcFrame(FrameKind.RR, ours, CLIENT, recv_seq=nr)
    assert (
        rr.encode()
        == ref.ReceiveReadyFrame(theirs, REF_CLIENT, receive_sequence_number=nr).to_bytes()
    )
    assert roundtrip(rr).recv_seq == nr


def test_hand_worked_i_frame_with_four_byte_address():
    # server logical 1, physical 0x1234 -> upper 00 02, lower 0x1234 = 0b0100100 0110100
    # -> 48 (0x24 << 1) and 69 (0x34 << 1 | 1); client 16 -> 21; I-frame N(S)=1 N(R)=2 P=1 -> 52
    frame = HdlcFrame(
        FrameKind.I,
        HdlcAddress(1, 0x1234),
        HdlcAddress(16),
        b"\xe6\xe6\x00\x01",
        send_seq=1,
        recv_seq=2,
    )
    header = bytes.fromhex("a010 0002 4869 21 52".replace(" ", ""))
    body = header + check_sequence(header) + b"\xe6\xe6\x00\x01"
    assert frame.encode() == b"\x7e" + body + check_sequence(body) + b"\x7e"
    assert parse_frame(body + check_sequence(body)) == frame


def test_published_snrm_and_ua_vectors_parse():
    # SNRM / UA as captured from a meter (Gurux documentation): client 0x10, server 1
    snrm = bytes.fromhex("7EA0070321930F017E")
    assert parse_frame(snrm[1:-1]).kind is FrameKind.SNRM
    assert HdlcFrame(FrameKind.SNRM, HdlcAddress(1), HdlcAddress(0x10)).encode() == snrm


def test_frame_whose_last_data_byte_is_the_flag():
    payload = b"\xe6\xe7\x00\x0c\x7e"
    frame = HdlcFrame(FrameKind.I, CLIENT, HdlcAddress(1, 17), payload)
    wire = frame.encode()
    assert wire[-4] == 0x7E  # last information byte right before the FCS
    decoder = HdlcFrameDecoder(128)
    for byte in wire:  # one byte at a time, the worst case for a flag-scanning framer
        assert decoder.next_frame() is None
        decoder.feed(bytes([byte]))
    assert decoder.next_frame() == frame


def test_fcs_that_contains_the_flag_byte():
    # search a payload whose FCS has 0x7E as its second byte: the byte before the closing flag
    for i in range(100_000):
        frame = HdlcFrame(FrameKind.I, CLIENT, HdlcAddress(1), i.to_bytes(4, "big"))
        wire = frame.encode()
        if wire[-2] == 0x7E:
            break
    else:
        pytest.fail("no such payload found")
    decoder = HdlcFrameDecoder(128)
    decoder.feed(wire + wire)
    assert decoder.next_frame() == frame
    assert decoder.next_frame() == frame
    assert decoder.next_frame() is None


def test_noise_and_fill_flags_are_skipped_and_shared_flags_accepted():
    a = HdlcFrame(FrameKind.RR, CLIENT, HdlcAddress(1), recv_seq=2).encode()
    b = HdlcFrame(FrameKind.UA, CLIENT, HdlcAddress(1)).encode()
    decoder = HdlcFrameDecoder(128)
    decoder.feed(b"\x00\x13garbage\x7e\x7e\x7e" + a + b[1:] + b"\x7e\x7e")  # b shares a's flag
    kinds = [decoder.next_frame(), decoder.next_frame(), decoder.next_frame()]
    assert [k.kind if k else None for k in kinds] == [FrameKind.RR, FrameKind.UA, None]


@pytest.mark.parametrize(
    ("wire", "why"),
    [
        ("7e a7ff", "exceeds the maximum"),
        ("7e b007032193 0f01 7e", "not type 3"),
        ("7e a007032193 0f02 7e", "FCS"),
        ("7e a0070321930f01 00", "closing flag"),
        ("7e a004 0321 7e", "below"),
    ],
)
def test_malformed_frames(wire, why):
    decoder = HdlcFrameDecoder(128)
    decoder.feed(bytes.fromhex(wire.replace(" ", "")))
    with pytest.raises(MalformedFrame, match=why):
        decoder.next_frame()


def test_oversized_length_fails_at_once_without_waiting_for_the_bytes():
    decoder = HdlcFrameDecoder(128)
    decoder.feed(bytes.fromhex("7ea200"))  # length 512 announced, three bytes present
    with pytest.raises(MalformedFrame):
        decoder.next_frame()


def test_bad_hcs():
    frame = bytearray(HdlcFrame(FrameKind.I, CLIENT, HdlcAddress(1), b"\xe6\xe7\x00\x01").encode())
    frame[6] ^= 0xFF  # HCS byte (7e a0xx 21 03 ctrl HCS HCS)
    body = bytes(frame[1:-3])
    frame[-3:-1] = check_sequence(body)  # keep FCS right so only the HCS is wrong
    decoder = HdlcFrameDecoder(128)
    decoder.feed(bytes(frame))
    with pytest.raises(MalformedFrame, match="HCS"):
        decoder.next_frame()


def test_parameters_roundtrip_and_defaults():
    p = HdlcParameters(512, 1024, 7, 3)
    assert HdlcParameters.decode(p.encode()) == p
    assert HdlcParameters.decode(b"") == HdlcParameters(128, 128, 1, 1)
    # the common meter form with one-byte values and 4-byte windows
    raw = bytes.fromhex("818012050180060180070400000001080400000001")
    assert HdlcParameters.decode(raw) == HdlcParameters(128, 128, 1, 1)
    with pytest.raises(MalformedFrame):
        HdlcParameters.decode(bytes.fromhex("81801405"))
    with pytest.raises(MalformedFrame):
        HdlcParameters.decode(bytes.fromhex("818003050100"))
