"""Service-specific glo-xxx-request APDUs (Gurux's client) at the server's APDU codec."""

from __future__ import annotations

import pytest

from drivers.dlms.server import apdus


def test_glo_request_parses_and_reply_keeps_the_service_specific_form() -> None:
    body = b"\x30" + (7).to_bytes(4, "big") + b"ciphertext-and-tag"
    control, counter, ciphered = apdus.parse_glo_request(bytes([0xC8, len(body)]) + body)
    assert (control, counter, ciphered) == (0x30, 7, b"ciphertext-and-tag")
    reply = apdus.glo_response(apdus.GLO_RESPONSES[0xC4], b"\x30", 8, b"sealed")
    assert reply == bytes([0xCC, 11, 0x30]) + (8).to_bytes(4, "big") + b"sealed"


@pytest.mark.parametrize("apdu", [b"\xc8", b"\xc8\x09\x30\x00", b"\xdb\x00", b"\xc8\x81"])
def test_malformed_glo_request_is_a_bad_request(apdu: bytes) -> None:
    with pytest.raises(apdus.BadRequest):
        apdus.parse_glo_request(apdu)
