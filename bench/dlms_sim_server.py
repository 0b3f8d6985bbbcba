"""Serve N simulated DLMS meters over the wrapper in this process, for `bench/dlms_read.py`.

Prints one JSON line `{"ports": {meter_id: port}}` when ready and serves until stdin closes, so the
benchmark can measure its own CPU time apart from the simulator's.
"""

from __future__ import annotations

import asyncio
import json
import sys

from drivers.sim.clock import SimClock
from drivers.sim.dlms_sim import DlmsSimulator
from drivers.sim.physics import SimulatedMeter


async def serve(count: int) -> None:
    clock = SimClock(factor=1.0)
    async with DlmsSimulator(clock) as sim:
        ports = {}
        for index in range(count):
            meter_id = f"m{index:05d}"
            sim.add_meter(SimulatedMeter(meter_id, clock, seed=index))
            ports[meter_id] = await sim.serve_wrapper(meter_id)
        print(json.dumps({"ports": ports}), flush=True)
        loop = asyncio.get_running_loop()
        # stdin reaching EOF means the benchmark is done (or died): stop serving
        await loop.run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]) if len(sys.argv) > 1 else 10))
