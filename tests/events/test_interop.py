"""Interop with dlms-cosem: its blocking DlmsClient reads our simulator's event logs (range
selected), and its DataNotification parser reads our event push."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from dlms_cosem import cosem, utils
from dlms_cosem import enumerations as enums
from dlms_cosem.cosem.capture_object import CaptureObject
from dlms_cosem.cosem.selective_access import RangeDescriptor
from dlms_cosem.protocol.xdlms import DataNotification

from drivers.contract import Point
from drivers.dlms import events as codes
from drivers.dlms import push
from drivers.dlms.client import axdr
from drivers.dlms.client.cosem_values import decode_datetime
from tests.events.conftest import PASSWORD, START, Rig
from tests.sim_dlms.conftest import lls, wrapper_client

READER = 17  # the LLS client
CLOCK = cosem.CosemAttribute(enums.CosemInterface.CLOCK, cosem.Obis(0, 0, 1, 0, 0), 2)


def _read_log(port: int, log: str, rng: tuple[Any, Any]) -> list[list[Any]]:
    a, b, c, d, e, _f = (int(p) for p in log.split("."))
    client = wrapper_client(port, READER, auth=lls(PASSWORD))
    with client.session():
        raw = client.get(
            cosem.CosemAttribute(
                enums.CosemInterface.PROFILE_GENERIC, cosem.Obis(a, b, c, d, e), 2
            ),
            access_descriptor=RangeDescriptor(
                restricting_object=CaptureObject(CLOCK), from_value=rng[0], to_value=rng[1]
            ),
        )
    rows = utils.parse_as_dlms_data(raw)
    return [] if rows is None else rows


async def test_dlms_cosem_reads_the_same_events_as_our_driver(rig: Rig) -> None:
    minute = timedelta(minutes=1)
    rig.clock.advance(minute)
    rig.meter.power_fail()
    rig.clock.advance(minute)
    rig.meter.power_restore()
    rig.clock.advance(minute)
    rig.meter.open_cover(terminal=False)
    rig.clock.advance(minute)
    rig.meter.close_cover(terminal=False)
    rig.clock.advance(minute)
    rig.meter.disconnect()
    window = (START, START + timedelta(hours=1))
    theirs: dict[str, list[tuple[int, Any]]] = {}
    for log in codes.EVENT_LOGS:
        rows = await asyncio.to_thread(_read_log, rig.port, log, window)
        theirs[log] = [(int(row[1]), decode_datetime(bytes(row[0]))[0]) for row in rows]
    ours: dict[str, list[tuple[int, Any]]] = {}
    async with await rig.open() as session:
        for log in codes.EVENT_LOGS:
            found = await session.read_events(Point(obis=log), *window)
            ours[log] = [(e.code, e.time) for e in found]
    assert theirs == ours
    assert [code for code, _ in ours[codes.STANDARD_EVENT_LOG]] == [1, 2]
    assert [code for code, _ in ours[codes.FRAUD_DETECTION_LOG]] == [44, 45]
    assert ours[codes.DISCONNECTOR_CONTROL_LOG] == [(62, START + 5 * minute)]


def test_dlms_cosem_parses_our_event_push() -> None:
    when = START + timedelta(seconds=42, milliseconds=500)
    apdu = push.encode_event_push(
        push.EventPush(b"SIMM1", codes.POWER_DOWN, when, invoke_id=7, sent_at=when)
    )
    theirs = DataNotification.from_bytes(apdu)
    assert theirs.long_invoke_id_and_priority.long_invoke_id == 7
    assert theirs.date_time is not None
    assert theirs.date_time.replace(tzinfo=None) == when.replace(tzinfo=None)
    assert axdr.decode(theirs.body) == [
        bytes([0, 0, 25, 9, 0, 255]),
        b"SIMM1",
        codes.POWER_DOWN,
        # 2025-06-02 (a Monday) 10:00:42.50, deviation 0, status 0
        bytes.fromhex("07e90602010a002a32000000"),
    ]
    # and what dlms-cosem writes (its 0x01 date-time length) reads back here
    mine = push.parse_event_push(theirs.to_bytes())
    assert (mine.device_name, mine.code, mine.time, mine.invoke_id) == (
        b"SIMM1",
        codes.POWER_DOWN,
        when,
        7,
    )
