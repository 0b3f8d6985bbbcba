"""Ciphered replies as Gurux's server sends them: service-specific glo-xxx-response APDUs, and a
meter invocation counter that starts at 0."""

from __future__ import annotations

import pytest

from drivers.dlms.client.connection import as_general_glo
from drivers.dlms.client.counters import NEVER_SEEN, CounterReservation, MemoryCounters
from drivers.errors import ProtocolError

TITLE = b"GRX00001"
# glo-action-response: tag CF, length, security control 30, counter, ciphertext + GCM tag
GLO_ACTION = bytes.fromhex("cf0a30000000010102030405")


def test_service_specific_reply_becomes_general_glo_with_the_meter_title() -> None:
    assert as_general_glo(GLO_ACTION, TITLE) == b"\xdb\x08" + TITLE + GLO_ACTION[1:]


def test_other_apdus_pass_through() -> None:
    for apdu in (b"", bytes.fromhex("c401c100"), bytes.fromhex("db08") + TITLE + b"\x00"):
        assert as_general_glo(apdu, TITLE) == apdu


def test_service_specific_reply_without_a_meter_title_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="system title"):
        as_general_glo(GLO_ACTION, None)


async def test_a_meter_never_heard_from_may_start_at_counter_zero() -> None:
    store = MemoryCounters()
    first = CounterReservation(store, "k")
    await first.begin()
    assert first.meter_seen == NEVER_SEEN
    await first.finish(1, meter_seen=0)
    again = CounterReservation(store, "k")
    await again.begin()
    assert again.meter_seen == 0  # from now on 0 is a replay
