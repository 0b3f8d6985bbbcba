"""The driver over a real pseudo-terminal: a paced RS-485 line with several meters."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from drivers.contract import Command, CommandKind, PartialRead, Point
from drivers.dlt645 import open_session
from drivers.dlt645.decoder import FrameDecoder
from drivers.dlt645.frame import encode_frame
from drivers.dlt645.settings import serial_link
from drivers.errors import Timeout
from drivers.sim.dlt645_sim import Dlt645Simulator
from drivers.sim.physics import SimulatedMeter
from drivers.transport.pty import PtyPair
from drivers.transport.settings import SerialLink
from tests.dlt645.conftest import ADDRESSES, PASSWORD, settings_for
from tests.dlt645.expected import expected_values


@pytest.fixture
async def pty_link(
    meters: dict[str, SimulatedMeter], pty_pair: PtyPair
) -> AsyncIterator[tuple[SerialLink, Dlt645Simulator]]:
    sim = Dlt645Simulator(meters, password=PASSWORD, baud=9600)  # paced like a real line
    task = asyncio.create_task(sim.serve_pty(pty_pair.master_fd))
    # Even parity (the DL/T 645 default) is refused by some pty drivers: the line runs 8N1 here.
    yield serial_link(pty_pair.slave_path, 9600, parity="N"), sim
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_three_meters_on_one_serial_line(
    pty_link: tuple[SerialLink, Dlt645Simulator], meters: dict[str, SimulatedMeter]
) -> None:
    link, sim = pty_link
    sessions = [
        await open_session(settings_for(link, a), meter_id=f"m{i}") for i, a in enumerate(ADDRESSES)
    ]
    points = [Point(obis="1.0.1.8.0.255"), Point(obis="1.0.72.7.0.255")]
    try:
        results = await asyncio.gather(*(s.read(points) for s in sessions))
    finally:
        for s in sessions:
            await s.close()
    for address, readings in zip(ADDRESSES, results, strict=True):
        want = expected_values(meters[address])
        assert [r.value for r in readings] == [want[p.obis] for p in points]
    # Every request reached the simulator whole: nothing interleaved on the line.
    assert len(sim.received) == len(ADDRESSES) * len(points)
    assert all(not f.from_meter for f in sim.received)


async def test_relay_and_dead_meter_on_serial(
    pty_link: tuple[SerialLink, Dlt645Simulator], meters: dict[str, SimulatedMeter]
) -> None:
    link, _ = pty_link
    async with await open_session(settings_for(link), meter_id="m0") as session:
        assert (await session.execute(Command(kind=CommandKind.DISCONNECT))).ok
        assert not meters[ADDRESSES[0]].connected
    async with await open_session(
        settings_for(link, "999999999998", timeout_s=0.3), meter_id="ghost"
    ) as session:
        with pytest.raises(PartialRead) as info:
            await session.read([Point(obis="1.0.1.8.0.255")])
        assert isinstance(info.value.failures[0], Timeout)


def test_wire_frames_carry_the_preamble(simulator: Dlt645Simulator) -> None:
    from drivers.dlt645.frame import address_to_wire
    from drivers.dlt645.messages import read_request

    reply = simulator.reply_bytes(read_request(address_to_wire(ADDRESSES[0]), 0x00010000))
    assert reply.startswith(b"\xfe\xfe\xfe\xfe\x68")
    decoder = FrameDecoder()
    decoder.feed(reply)
    frame = decoder.next_frame()
    assert frame is not None and frame.control == 0x91
    assert encode_frame(frame, preamble=True) == reply
