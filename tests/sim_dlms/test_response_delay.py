"""The simulator's response delay (a real meter's processing time plus the modem's round trip),
and a prompt `close()` after a pty line was served.

The delay is checked as a lower bound only (a reply is never early) and for not blocking the
event loop (the loop keeps running other work while a reply is held back); nothing here depends
on how fast the machine is.
"""

from __future__ import annotations

import asyncio
import os
import time

from drivers.contract import Point
from drivers.dlms.client.counters import MemoryCounters
from drivers.dlms.client.session import open_dlms_session
from drivers.dlms.settings import DlmsFraming, DlmsSettings
from drivers.sim.clock import SimClock
from drivers.sim.dlms_sim import CLOSE_GRACE_S, DlmsSimulator
from drivers.sim.physics import SimulatedMeter
from drivers.transport.settings import SerialLink, TcpLink
from tests.sim_dlms import cosem_reads as r
from tests.sim_dlms.conftest import START, wrapper_client

DELAY_S = 0.2
ENERGY = "1.0.1.8.0.255"


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_a_delayed_reply_is_never_early_and_the_loop_keeps_running() -> None:
    clock = SimClock(start=START, factor=0.0)
    async with DlmsSimulator(clock, response_delay_s=DELAY_S) as sim:
        sim.add_meter(SimulatedMeter("M1", clock, seed=1))
        port = await sim.serve_wrapper("M1")
        settings = DlmsSettings(
            framing=DlmsFraming.WRAPPER, link=TcpLink(host="127.0.0.1", port=port), timeout_s=5
        )
        session = await open_dlms_session(settings, meter_id="M1", counters=MemoryCounters())
        async with session:
            ticks = 0

            async def ticker() -> None:
                nonlocal ticks
                while True:
                    ticks += 1
                    await asyncio.sleep(0)

            ticking = asyncio.create_task(ticker())
            loop = asyncio.get_running_loop()
            started = loop.time()
            value = await session.get(3, ENERGY, 2)
            elapsed = loop.time() - started
            ticking.cancel()
        assert value == int(sim.meter("M1").value(ENERGY))
        assert elapsed >= DELAY_S
        # the simulator runs in this loop: a blocking delay would have stopped the ticker
        assert ticks > 10


async def test_dlms_cosem_blocking_client_reads_through_the_delay() -> None:
    clock = SimClock(start=START, factor=0.0)
    async with DlmsSimulator(clock, response_delay_s=0.02) as sim:
        sim.add_meter(SimulatedMeter("M1", clock, seed=1))
        port = await sim.serve_wrapper("M1")

        def run() -> tuple[int, int, int]:
            client = wrapper_client(port, 16)
            with client.session():
                return r.read_register(client, ENERGY)

        got = await asyncio.to_thread(run)
        assert got == (int(sim.meter("M1").value(ENERGY)), 0, 30)


async def test_hdlc_on_a_pty_with_delay_keeps_replies_in_order() -> None:
    clock = SimClock(start=START, factor=0.0)
    async with DlmsSimulator(clock, response_delay_s=0.02) as sim:
        sim.add_meter(SimulatedMeter("M1", clock, seed=1))
        path = await sim.serve_hdlc_pty(["M1"])
        settings = DlmsSettings(
            framing=DlmsFraming.HDLC,
            link=SerialLink(device=path, baud=115200),
            server_physical=sim.physical_address("M1"),
            timeout_s=5,
            connect_timeout_s=5,
        )
        session = await open_dlms_session(settings, meter_id="M1", counters=MemoryCounters())
        async with session:
            readings = await session.read([Point(obis=ENERGY), Point(obis="0.0.1.0.0.255")])
        assert [x.obis for x in readings] == ["0.0.1.0.0.255", ENERGY]


async def test_close_after_a_pty_was_served_is_prompt_and_leaks_no_fd() -> None:
    before = _open_fds()
    clock = SimClock(start=START, factor=0.0)
    sim = DlmsSimulator(clock, response_delay_s=0.01)
    sim.add_meter(SimulatedMeter("M1", clock, seed=1))
    port = await sim.serve_wrapper("M1")
    path = await sim.serve_hdlc_pty(["M1"])
    serial = DlmsSettings(
        framing=DlmsFraming.HDLC,
        link=SerialLink(device=path, baud=115200),
        server_physical=sim.physical_address("M1"),
        # short: after the simulator is gone the client's DISC goes unanswered
        timeout_s=0.5,
        connect_timeout_s=5,
    )
    tcp = DlmsSettings(
        framing=DlmsFraming.WRAPPER, link=TcpLink(host="127.0.0.1", port=port), timeout_s=5
    )
    # one session still open on each, so close() has lines and connections to drop
    on_pty = await open_dlms_session(serial, meter_id="M1", counters=MemoryCounters())
    on_tcp = await open_dlms_session(tcp, meter_id="M1", counters=MemoryCounters())
    await on_pty.read([Point(obis=ENERGY)])
    started = time.monotonic()
    await sim.close()
    took = time.monotonic() - started
    await on_pty.close()
    await on_tcp.close()
    # not a speed check: a close that waited for the grace period (the old behaviour) takes
    # CLOSE_GRACE_S; a prompt one takes a few loop iterations
    assert took < CLOSE_GRACE_S / 2
    assert _open_fds() <= before
