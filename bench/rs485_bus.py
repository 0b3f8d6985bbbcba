"""Reads/s on a simulated RS-485 bus paced to 9600 baud, against the frame-time limit.

    python bench/rs485_bus.py N        (N meter reads; default 40)

Eight units (alternately CHINT DTSU666 and Eastron SDM630 maps) share one pty paced to 9600 8N1.
The simulated bus runs in its own process (as a real line would), so its pacing does not compete
with the head-end for the event loop.
Each read fetches everything the meter's map defines. The frame-time limit for the same requests
is, per request, (request bytes + reply bytes) × 10 bits / baud + two 3.5-character silences
+ turnaround (0 here): what a perfect master could do on this line. Utilisation = achieved / limit;
"ms over limit / req" is the time per request above that limit (event-loop wake-ups, pty hops).
The last line printed is one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import sys
import time
from datetime import timedelta
from multiprocessing.connection import Connection

from drivers.modbus import load_map, open_session, parse_url
from drivers.sim.clock import SimClock
from drivers.sim.modbus import ModbusSimServer, SimModbusDevice
from drivers.sim.physics import SimulatedMeter
from drivers.transport.pty import open_pty

BAUD = 9600
BITS = 10
UNITS = 8


def model_of(unit: int) -> str:
    return "dtsu666" if unit % 2 else "sdm630"


async def serve_bus(master_fd: int, control: Connection) -> None:
    clock = SimClock(factor=1.0)
    devices = {
        u: SimModbusDevice(
            SimulatedMeter(f"b{u}", clock, seed=u, history=timedelta(hours=1)),
            load_map(model_of(u)),
        )
        for u in range(1, UNITS + 1)
    }
    server = ModbusSimServer(devices, baud=BAUD, bits=BITS)
    await server.serve_pty(master_fd)
    control.send("ready")
    loop = asyncio.get_running_loop()
    while True:
        command = await loop.run_in_executor(None, control.recv)
        if command == "clear":
            server.wire.clear()
        elif command == "stop":
            control.send([(e.request_bytes, e.response_bytes) for e in server.wire])
            await server.close()
            return


def bus_process(master_fd: int, control: Connection) -> None:
    asyncio.run(serve_bus(master_fd, control))


async def run(reads: int) -> dict[str, float | int]:
    pair = open_pty()
    control, child_end = multiprocessing.Pipe()
    bus = multiprocessing.get_context("fork").Process(
        target=bus_process, args=(pair.master_fd, child_end), daemon=True
    )
    bus.start()
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, control.recv)
    base = f"modbus+rtu://{pair.slave_path}?baud={BAUD}"
    sessions = [
        await open_session(parse_url(f"{base}&unit={u}&model={model_of(u)}"), meter_id=f"b{u}")
        for u in range(1, UNITS + 1)
    ]
    try:
        # warm-up: opens the port
        await sessions[0].read(sessions[0].points())
        control.send("clear")
        started = time.perf_counter()
        done = 0
        while done < reads:
            batch = sessions[: min(len(sessions), reads - done)]
            await asyncio.gather(*(s.read(s.points()) for s in batch))
            done += len(batch)
        elapsed = time.perf_counter() - started
    finally:
        for s in sessions:
            await s.close()
        control.send("stop")
        wire: list[tuple[int, int]] = await loop.run_in_executor(None, control.recv)
        bus.join(5)
        pair.close()
    char_s = BITS / BAUD
    limit_s = sum((req + resp + 2 * 3.5) * char_s for req, resp in wire)
    wire_bytes = sum(req + resp for req, resp in wire)
    reads_per_s = done / elapsed
    frame_limit = done / limit_s
    return {
        "reads": done,
        "requests": len(wire),
        "wire_bytes": wire_bytes,
        "elapsed_s": round(elapsed, 3),
        "frame_limit_s": round(limit_s, 3),
        "reads_per_s": round(reads_per_s, 2),
        "frame_limit_reads_per_s": round(frame_limit, 2),
        "utilisation": round(reads_per_s / frame_limit, 3),
        "overhead_ms_per_request": round((elapsed - limit_s) / max(len(wire), 1) * 1e3, 2),
        "baud": BAUD,
    }


def main() -> None:
    reads = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    result = asyncio.run(run(reads))
    print(f"RS-485 bus, {UNITS} units, {BAUD} baud 8N1 (paced simulator), {reads} meter reads")
    print(f"{'':20}{'achieved':>12}{'frame limit':>14}")
    print(f"{'seconds':20}{result['elapsed_s']:>12}{result['frame_limit_s']:>14}")
    print(f"{'reads/s':20}{result['reads_per_s']:>12}{result['frame_limit_reads_per_s']:>14}")
    print(f"{'requests':20}{result['requests']:>12}")
    print(f"{'bytes on the wire':20}{result['wire_bytes']:>12}")
    print(f"{'utilisation':20}{float(result['utilisation']):>12.1%}")
    print(f"{'ms over limit / req':20}{result['overhead_ms_per_request']:>12}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
