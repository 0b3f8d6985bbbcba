"""Codec tests against frames worked out by hand from DL/T 645-2007 (derivations in comments)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from drivers.dlt645.bcd import decode_bcd, encode_bcd
from drivers.dlt645.decoder import FrameDecoder
from drivers.dlt645.frame import (
    Frame,
    address_to_wire,
    describe_error,
    encode_frame,
    wire_to_address,
)
from drivers.dlt645.messages import (
    RelayAction,
    followup_request,
    parse_relay_request,
    read_address_request,
    read_request,
    relay_request,
    time_broadcast,
)
from drivers.errors import MalformedFrame

ADDR = address_to_wire("123456789012")


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def decode_one(raw: bytes) -> Frame:
    decoder = FrameDecoder()
    decoder.feed(raw)
    frame = decoder.next_frame()
    assert frame is not None
    assert decoder.next_frame() is None
    return frame


def test_address_is_reversed_bcd() -> None:
    # Nameplate 123456789012 -> bytes 12 34 56 78 90 12 -> low byte first 12 90 78 56 34 12.
    assert ADDR == h("12 90 78 56 34 12")
    assert wire_to_address(ADDR) == "123456789012"
    with pytest.raises(ValueError):
        address_to_wire("12345")


def test_read_request_forward_active_energy() -> None:
    # DI 00 01 00 00 is sent DI0 first: 00 00 01 00, +0x33 each: 33 33 34 33.
    # CS = 68+12+90+78+56+34+12+68 (0x286) + 11 + 04 + 33+33+34+33 = 0x368 -> 0x68.
    expected = h("FE FE FE FE 68 12 90 78 56 34 12 68 11 04 33 33 34 33 68 16")
    assert encode_frame(read_request(ADDR, 0x00010000), preamble=True) == expected


def test_read_reply_energy_decodes_to_kwh_digits() -> None:
    # 1234.56 kWh as XXXXXX.XX -> digits 00 12 34 56 -> low byte first 56 34 12 00 -> +0x33:
    # 89 67 45 33. C = 0x91 (reply to 0x11), L = 8 (DI + 4 value bytes).
    # CS = 0x286 + 91 + 08 + 33+33+34+33 + 89+67+45+33 = 0x554 -> 0x54.
    wire = h("FE FE FE FE 68 12 90 78 56 34 12 68 91 08 33 33 34 33 89 67 45 33 54 16")
    frame = decode_one(wire)
    assert frame.address == ADDR
    assert frame.control == 0x91 and frame.from_meter and not frame.abnormal
    assert frame.data[:4] == h("00 00 01 00")
    assert decode_bcd(frame.data[4:], 2) == Decimal("1234.56")
    assert encode_frame(frame, preamble=True) == wire


def test_abnormal_read_reply() -> None:
    # ERR 0x02 ("no such data") +0x33 = 0x35; C = 0xD1 (direction + abnormal + read).
    # CS = 0x286 + D1 + 01 + 35 = 0x38D -> 0x8D.
    frame = decode_one(h("68 12 90 78 56 34 12 68 D1 01 35 8D 16"))
    assert frame.abnormal and frame.function == 0x11
    assert frame.data == b"\x02"
    assert "no such data" in describe_error(frame.data[0])


def test_read_address_with_wildcard() -> None:
    # 68 + six AA + 68 + 13 + 00: 0xD0 + 0x3FC + 0x13 = 0x4DF -> CS 0xDF.
    assert encode_frame(read_address_request()) == h("68 AA AA AA AA AA AA 68 13 00 DF 16")


def test_follow_up_request() -> None:
    # DI 00 01 00 00 + SEQ 01 -> 00 00 01 00 01 -> +0x33: 33 33 34 33 34; C = 12, L = 5.
    # CS = 0x286 + 12 + 05 + (33+33+34+33+34 = 0x101) = 0x39E -> 0x9E.
    expected = h("68 12 90 78 56 34 12 68 12 05 33 33 34 33 34 9E 16")
    assert encode_frame(followup_request(ADDR, 0x00010000, 1)) == expected


def test_time_broadcast() -> None:
    # 2024-05-02 11:00:30 as YYMMDDhhmmss = 24 05 02 11 00 30, sent ss first: 30 00 11 02 05 24,
    # +0x33: 63 33 44 35 38 57. Address 99 x 6. CS = 0xD0 + 0x396 + 08 + 06 + data (0x19E) = 0x612.
    frame = time_broadcast(datetime(2024, 5, 2, 11, 0, 30))
    expected = h("68 99 99 99 99 99 99 68 08 06 63 33 44 35 38 57 12 16")
    assert encode_frame(frame) == expected


def test_relay_trip_plain_form() -> None:
    # Password level 02, password 123456 -> PA P0 P1 P2 = 02 56 34 12; operator 12345678 ->
    # C0..C3 = 78 56 34 12; N1 = 1A (trip), N2 = 00; valid until 2024-05-02 11:10:00 ->
    # 00 10 11 02 05 24. Plain data:  02 56 34 12 78 56 34 12 1A 00 00 10 11 02 05 24
    # +0x33:                          35 89 67 45 AB 89 67 45 4D 33 33 43 44 35 38 57
    # CS = 0x286 + 1C + 10 + 0x548 (data) = 0x7FA -> 0xFA.
    frame = relay_request(
        ADDR,
        password=h("02 12 34 56"),
        operator_code=h("12 34 56 78"),
        action=RelayAction.TRIP,
        valid_until=datetime(2024, 5, 2, 11, 10, 0),
    )
    expected = h(
        "68 12 90 78 56 34 12 68 1C 10 35 89 67 45 AB 89 67 45 4D 33 33 43 44 35 38 57 FA 16"
    )
    assert encode_frame(frame) == expected
    parsed = parse_relay_request(frame.data)
    assert parsed.password == h("02 12 34 56") and parsed.operator_code == h("12 34 56 78")
    assert parsed.action == 0x1A and parsed.valid_until == datetime(2024, 5, 2, 11, 10)
    assert "1234" not in repr(parsed)  # the password stays out of reprs


@pytest.mark.parametrize(
    ("wire", "decimals", "signed", "value"),
    [
        # voltage 220.1 V, XXX.X: 2201 -> 22 01 -> low first 01 22
        ("01 22", 1, False, Decimal("220.1")),
        # current -1.234 A, XXX.XXX: 001234 -> 00 12 34, sign bit on the top byte -> 80 12 34
        ("34 12 80", 3, True, Decimal("-1.234")),
        # power 12.3456 kW, XX.XXXX: 123456 -> 12 34 56 -> low first 56 34 12
        ("56 34 12", 4, True, Decimal("12.3456")),
        ("00 00 00 00", 2, False, Decimal("0.00")),
    ],
)
def test_bcd_values(wire: str, decimals: int, signed: bool, value: Decimal) -> None:
    assert decode_bcd(h(wire), decimals, signed=signed) == value
    assert encode_bcd(value, len(h(wire)), decimals, signed=signed) == h(wire)


def test_bcd_rejects_non_bcd_and_overflow() -> None:
    with pytest.raises(MalformedFrame):
        decode_bcd(h("1A 00"), 1)
    with pytest.raises(ValueError):
        encode_bcd(Decimal("1000.0"), 2, 1)
    with pytest.raises(ValueError):
        encode_bcd(Decimal("-1"), 2, 1)


def test_decoder_skips_any_preamble_and_splits_frames() -> None:
    one = encode_frame(read_request(ADDR, 0x00010000))
    two = encode_frame(read_request(ADDR, 0x02010100))
    decoder = FrameDecoder()
    for byte in b"\xfe" * 11 + one + b"\xfe" + two:
        decoder.feed(bytes([byte]))
    first, second = decoder.next_frame(), decoder.next_frame()
    assert first is not None and first.data == h("00 00 01 00")
    assert second is not None and second.data == h("00 01 01 02")
    assert decoder.next_frame() is None


def test_decoder_bad_checksum_then_recovers() -> None:
    good = encode_frame(read_request(ADDR, 0x00010000))
    bad = good[:-2] + bytes([good[-2] ^ 0xFF, 0x16])
    decoder = FrameDecoder(meter="m7")
    decoder.feed(bad + good)
    with pytest.raises(MalformedFrame, match="checksum") as info:
        decoder.next_frame()
    assert info.value.meter == "m7"
    frames = []
    for _ in range(len(bad) + 2):
        try:
            frame = decoder.next_frame()
        except MalformedFrame:
            continue
        if frame is None:
            break
        frames.append(frame)
    assert frames and frames[-1].data == h("00 00 01 00")


def test_decoder_rejects_oversized_length_without_waiting() -> None:
    # L = 0xC9 (201) > 200: malformed as soon as the header is in, no waiting for 201 bytes.
    decoder = FrameDecoder()
    decoder.feed(h("68 12 90 78 56 34 12 68 91 C9"))
    with pytest.raises(MalformedFrame, match="length"):
        decoder.next_frame()


def test_decoder_noise_and_bad_end_byte() -> None:
    decoder = FrameDecoder()
    decoder.feed(b"\x00\x01garbage")
    with pytest.raises(MalformedFrame, match="noise"):
        decoder.next_frame()
    assert decoder.next_frame() is None
    frame = encode_frame(read_request(ADDR, 0x00010000))
    decoder.feed(frame[:-1] + b"\x17")
    with pytest.raises(MalformedFrame, match="end byte"):
        decoder.next_frame()
