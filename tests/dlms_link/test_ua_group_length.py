"""A UA whose parameter group length does not count its parameters (Gurux's Python server)."""

from __future__ import annotations

import pytest

from drivers.dlms.hdlc import ClientState, HdlcClient
from drivers.dlms.hdlc.address import HdlcAddress
from drivers.dlms.hdlc.frames import FrameKind, HdlcFrame
from drivers.errors import MalformedFrame

CLIENT = HdlcAddress(16)
METER = HdlcAddress(1, 17)
# Gurux 1.0.203: group length 0, and its window-receive value clobbered to 0x00020001
GURUX_UA = bytes.fromhex("8180000502008006020080070400000001080400020001")


def test_unaccounted_parameters_fall_back_to_the_defaults() -> None:
    client = HdlcClient(16, METER, max_info=64, window=3)
    client.connect()
    assert client.receive_frame(HdlcFrame(FrameKind.UA, CLIENT, METER, GURUX_UA)).done
    assert client.state is ClientState.IDLE
    # none of the UA's values is trusted: the defaults, capped by what we proposed
    assert (client.params.max_info_tx, client.params.max_info_rx) == (64, 64)
    assert (client.params.window_tx, client.params.window_rx) == (1, 1)


def test_a_group_that_does_not_parse_at_any_length_stays_malformed() -> None:
    client = HdlcClient(16, METER)
    client.connect()
    with pytest.raises(MalformedFrame):
        client.receive_frame(HdlcFrame(FrameKind.UA, CLIENT, METER, b"\x81\x80\x00\x05\x09"))
