"""Event push: a simulated power failure pushes a DataNotification over the wrapper on real TCP
to the head-end's PushListener, which decodes it; what is not a plain event push is refused."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from datetime import UTC, datetime, timedelta

import pytest

from drivers.contract import MeterEvent, Point
from drivers.dlms import events as codes
from drivers.dlms import push
from drivers.dlms.client import axdr
from drivers.dlms.wrapper import WrapperFrame, encode_wrapper
from drivers.sim.cosem.events import configure_push, drain_pushes, push_destination
from headend.events.model import Event, EventOrigin
from headend.events.push import PushListener
from tests.events.conftest import METER, START, Rig

HANG_GUARD_S = 10.0


class Inbox:
    """The listener's callback: collects events, lets a test wait for the next one."""

    def __init__(self) -> None:
        self.events: list[MeterEvent] = []
        self._arrived = asyncio.Condition()

    async def __call__(self, event: MeterEvent) -> None:
        async with self._arrived:
            self.events.append(event)
            self._arrived.notify_all()

    async def wait_for(self, count: int) -> list[MeterEvent]:
        async with asyncio.timeout(HANG_GUARD_S), self._arrived:
            await self._arrived.wait_for(lambda: len(self.events) >= count)
        return self.events


def _destination(host: str, port: int) -> bytes:
    return axdr.structure(
        axdr.integer(axdr.ENUM, push.TRANSPORT_TCP),
        axdr.octet_string(f"{host}:{port}".encode()),
        axdr.integer(axdr.ENUM, push.MESSAGE_AXDR),
    )


def _key(event: MeterEvent) -> str:
    return Event(
        origin=EventOrigin.METER,
        meter_id=event.meter_id,
        code=event.code,
        name=event.name,
        text=event.text,
        time=event.time,
        received_at=datetime.now(UTC),
        source=event.log,
    ).key


async def test_power_failure_is_pushed_and_matches_the_log_entry(rig: Rig) -> None:
    inbox = Inbox()
    async with PushListener(inbox) as listener:
        async with await rig.open() as session:
            await session.set(
                push.PUSH_SETUP, push.PUSH_SETUP_OBIS, 3, _destination("127.0.0.1", listener.port)
            )
            setting = await session.get(push.PUSH_SETUP, push.PUSH_SETUP_OBIS, 3)
            objects = await session.get(push.PUSH_SETUP, push.PUSH_SETUP_OBIS, 2)
        assert setting == [0, f"127.0.0.1:{listener.port}".encode(), 0]
        assert isinstance(objects, list)
        assert [o[0] for o in objects if isinstance(o, list)] == [40, 1, 1, 8]
        rig.clock.advance(timedelta(minutes=3, seconds=7))
        rig.meter.power_fail()
        (pushed,) = await inbox.wait_for(1)
        rig.clock.advance(timedelta(minutes=2))
        rig.meter.power_restore()  # logged, not pushed
        async with await rig.open() as session:
            logged = await session.read_events(
                Point(obis=codes.STANDARD_EVENT_LOG), START, START + timedelta(hours=1)
            )
        await drain_pushes()
    assert (pushed.meter_id, pushed.code, pushed.log) == (METER, codes.POWER_DOWN, "push")
    assert pushed.time == START + timedelta(minutes=3, seconds=7)
    assert pushed.text == "Power down (all phases)"
    assert (logged[0].code, logged[0].time) == (pushed.code, pushed.time)
    # the pushed event and its log entry are one event for the store
    assert _key(pushed) == _key(logged[0])
    assert len(inbox.events) == 1 and listener.received == 1


async def _closed_by_peer(port: int, data: bytes) -> bool:
    """Send `data` on a new connection; True when the listener then closes it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(HANG_GUARD_S):
            return await reader.read(100) == b""
    finally:
        writer.close()
        await writer.wait_closed()


async def test_garbage_is_refused_and_the_listener_serves_the_next_push(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    inbox = Inbox()
    async with PushListener(inbox, max_apdu=256) as listener:
        configure_push(rig.meter, f"127.0.0.1:{listener.port}")
        assert push_destination(rig.meter) == f"127.0.0.1:{listener.port}"
        with caplog.at_level(logging.INFO, logger="headend.events.push"):
            # not a wrapper frame at all
            assert await _closed_by_peer(listener.port, b"GET / HTTP/1.0\r\n\r\n")
            # a wrapper header announcing more than the listener takes
            assert await _closed_by_peer(listener.port, struct.pack(">HHHH", 1, 1, 0x66, 60000))
            # a well-framed APDU that is no DataNotification (a GET request)
            get = encode_wrapper(WrapperFrame(1, 0x66, bytes.fromhex("c001c1000301000000ff0200")))
            assert await _closed_by_peer(listener.port, get)
            # a ciphered push (general-glo-ciphering): refused by name
            glo = encode_wrapper(WrapperFrame(1, 0x66, bytes([0xDB, 8]) + b"SIM00001" + bytes(20)))
            assert await _closed_by_peer(listener.port, glo)
        rig.clock.advance(timedelta(seconds=30))
        rig.meter.power_fail()
        (event,) = await inbox.wait_for(1)
        await drain_pushes()
    assert (event.meter_id, event.code) == (METER, codes.POWER_DOWN)
    assert listener.refused == 4
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 4
    assert all("127.0.0.1:" in text for text in refusals)  # the peer is named
    assert "exceeds the maximum 256" in refusals[1]
    assert "not a DataNotification" in refusals[2]
    assert "ciphered push (APDU tag 0xDB)" in refusals[3]


async def test_an_unknown_device_is_refused(rig: Rig) -> None:
    inbox = Inbox()

    def known_only(name: bytes, _source: int, _peer: str) -> str | None:
        return None  # the head-end knows no meter

    async with PushListener(inbox, identify=known_only) as listener:
        configure_push(rig.meter, f"127.0.0.1:{listener.port}")
        rig.meter.power_fail()
        await drain_pushes()
        async with asyncio.timeout(HANG_GUARD_S):
            # the listener's count is all there is to watch; the guard bounds the wait
            while listener.refused < 1:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    assert inbox.events == []


async def test_a_push_to_nobody_is_logged_and_the_meter_goes_on(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    configure_push(rig.meter, f"127.0.0.1:{port}")
    with caplog.at_level(logging.WARNING, logger="drivers.sim.cosem.events"):
        rig.meter.power_fail()
        await drain_pushes()
    assert any(f"push to 127.0.0.1:{port} failed" in r.getMessage() for r in caplog.records)
    assert rig.meter.events[-1].code == codes.POWER_DOWN
    configure_push(rig.meter, None)
    assert push_destination(rig.meter) is None
