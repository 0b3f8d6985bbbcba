"""Serve N simulated DLMS meters over the wrapper in this process, for `bench/dlms_read.py`.

    python bench/dlms_sim_server.py N [--latency-ms MS]

Prints one JSON line `{"ports": {meter_id: port}, "cpu_s": ...}` when ready and serves until
stdin closes, so the benchmark can measure its own CPU time apart from the simulator's.
`--latency-ms` holds every reply back that long (a real meter's processing time plus the modem's
round trip), on the event loop's timers; the default 0 answers at once. The last line on
stderr, at exit, is the simulator's own CPU time as JSON `{"sim_cpu_s": ...}`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from drivers.sim.clock import SimClock
from drivers.sim.dlms_sim import DlmsSimulator
from drivers.sim.physics import SimulatedMeter


async def serve(count: int, latency_ms: float) -> None:
    clock = SimClock(factor=1.0)
    async with DlmsSimulator(clock, response_delay_s=latency_ms / 1000) as sim:
        ports = {}
        for index in range(count):
            meter_id = f"m{index:05d}"
            sim.add_meter(SimulatedMeter(meter_id, clock, seed=index))
            ports[meter_id] = await sim.serve_wrapper(meter_id)
        print(json.dumps({"ports": ports, "cpu_s": time.process_time()}), flush=True)
        loop = asyncio.get_running_loop()
        # stdin reaching EOF means the benchmark is done (or died): stop serving
        await loop.run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("meters", type=int, nargs="?", default=10)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    asyncio.run(serve(args.meters, args.latency_ms))
    print(json.dumps({"sim_cpu_s": round(time.process_time(), 3)}), file=sys.stderr)
