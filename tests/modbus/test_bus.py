"""Ten unit ids on one paced RS-485 bus (a pty), one of them dead.

Sessions of all ten read concurrently; the bus must serialise them. Checked on the wire, at the
simulator: nine units are read every round, the dead one is asked once per round and times out,
and no request starts while another exchange is still on the line.
"""

from __future__ import annotations

import asyncio
import itertools

from drivers.contract import PartialRead
from drivers.errors import Timeout
from drivers.modbus import load_map
from drivers.modbus.plan import plan_reads
from drivers.sim.modbus import ModbusSimServer
from drivers.transport.pty import PtyPair

from .helpers import device, frozen_clock, session

BAUD = 19200
DEAD = 7
ROUNDS = 2


async def test_ten_units_one_dead(pty_pair: PtyPair) -> None:
    clock = frozen_clock()
    units = list(range(1, 11))
    devices = {u: device("sdm120", seed=u, clock=clock) for u in units if u != DEAD}
    sdm120 = load_map("sdm120")
    # the map coalesces into a few requests (three: 0x00.., 0x46.., 0x156..)
    blocks_per_read = len(
        plan_reads(sdm120.registers, sdm120.max_registers_per_request, sdm120.max_gap)
    )
    assert blocks_per_read == 3
    async with ModbusSimServer(devices, baud=BAUD) as server:
        await server.serve_pty(pty_pair.master_fd)
        url = f"modbus+rtu://{pty_pair.slave_path}?baud={BAUD}&model=sdm120&timeout=0.3"
        sessions = [await session(f"{url}&unit={u}", meter_id=f"u{u}") for u in units]
        assert len({id(s.bus) for s in sessions}) == 1  # one shared channel
        try:
            for _ in range(ROUNDS):
                results = await asyncio.wait_for(
                    asyncio.gather(*(s.read(s.points()) for s in sessions), return_exceptions=True),
                    timeout=30,
                )
                for unit, result in zip(units, results, strict=True):
                    if unit == DEAD:
                        assert isinstance(result, PartialRead) and result.fatal
                        assert all(isinstance(f, Timeout) for f in result.failures)
                        assert {f.meter for f in result.failures} == {f"u{DEAD}"}
                    else:
                        assert isinstance(result, list), result
                        assert len(result) == len(load_map("sdm120").registers)
                        for reading in result:
                            assert reading.value == devices[unit].value(reading.obis)
        finally:
            for s in sessions:
                await s.close()

    wire = sorted(server.wire, key=lambda e: e.request_start)
    per_unit = {u: sum(1 for e in wire if e.unit == u) for u in units}
    assert per_unit[DEAD] == ROUNDS  # once per round: no retries, no further blocks
    assert all(per_unit[u] == ROUNDS * blocks_per_read for u in units if u != DEAD)
    assert all(e.response_end is None for e in wire if e.unit == DEAD)
    char_s = 10 / BAUD
    silence = 3.5 * char_s
    for before, after in itertools.pairwise(wire):
        # half-duplex: the next request starts only after the previous exchange left the line,
        # and after the full RTU inter-frame silence (simulator and driver share one loop clock)
        assert after.request_start >= before.busy_until + silence, (before, after)
    for event in wire:
        if event.response_end is not None:
            # realistic pacing: request, the slave's 3.5-character silence and the reply all take
            # their full time on the line, however punctual the simulator's timer is
            wire_time = (event.request_bytes + 3.5 + event.response_bytes) * char_s
            assert event.response_end - event.request_start >= wire_time, event
    assert server.crc_errors == 0
