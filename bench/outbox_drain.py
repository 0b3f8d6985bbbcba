"""Outbox drain: how fast the forwarder moves stored readings to each sink when the sink keeps up.

    .venv/bin/python -m bench.outbox_drain [--readings 100000] [--meters 1000] [--store sqlite]

Stores `--readings` readings (`--meters` meters, quarter-hour energy values) in a fresh SQLite
store (or `--store postgresql://...`), then drains them through the forwarder to one sink at a
time: a mosquitto broker (MQTT, QoS 1, every PUBACK awaited) and a VictoriaMetrics server
(InfluxDB line protocol on /api/v2/write), both started here on free loopback ports. Prints per
sink the readings/s (wall clock, from the first fetch to the last acknowledgement) and the
head-end's CPU per reading; the last line is a JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from drivers.contract import Reading
from headend.config.fleet import DlmsMeter, Fleet, Site, TcpChannel
from headend.config.sinks import INFLUXDB_TOKEN_ENV, MQTT_PASSWORD_ENV, Sinks
from headend.sinks.forwarder import Forwarder
from headend.store import Store, open_store
from tests.brokers import MQTT_PASSWORD, MQTT_USER, Mosquitto, VictoriaMetrics
from tests.conftest import free_port

T0 = datetime(2026, 1, 1, tzinfo=UTC)
QUARTER = timedelta(minutes=15)


def readings(meters: int, per_meter: int) -> list[list[Reading]]:
    """One batch per meter: its quarter-hour energy values, as a profile read stores them."""
    return [
        [
            Reading(
                meter_id=f"m{m:06d}",
                obis="1.0.1.8.0.255",
                value=Decimal(slot * 125) / 1000,
                unit="kWh",
                capture_time=T0 + slot * QUARTER,
                receive_time=T0 + per_meter * QUARTER,
            )
            for slot in range(per_meter)
        ]
        for m in range(meters)
    ]


def fleet(meters: int, sinks: dict[str, Any]) -> Fleet:
    return Fleet.model_validate(
        {
            "site": Site(name="bench"),
            "channels": [TcpChannel(id="c", host="127.0.0.1", port=1)],
            "meters": [
                DlmsMeter(id=f"m{m:06d}", protocol="dlms", channel="c") for m in range(meters)
            ],
            "sinks": Sinks.model_validate(sinks),
        }
    )


async def drain(store: Store, site: Fleet, total: int) -> tuple[float, float]:
    """(wall s, CPU s) for the forwarder to deliver `total` entries to the fleet's one sink."""
    forwarder = Forwarder(store, site.sinks, site, poll_s=0.01, prune_every_s=3600)
    started, cpu = time.perf_counter(), time.process_time()
    async with forwarder:
        while True:
            [status] = await forwarder.status()
            if status.delivered >= total:
                break
            if status.failing:
                raise SystemExit(f"sink {status.sink} failed: {status.last_error}")
            await asyncio.sleep(0.02)
    return time.perf_counter() - started, time.process_time() - cpu


async def main(total: int, meters: int, store_url: str | None) -> dict[str, Any]:
    per_meter = max(1, total // meters)
    total = per_meter * meters
    broker = Mosquitto(free_port(), users={MQTT_USER: MQTT_PASSWORD})
    victoria = VictoriaMetrics(free_port())
    os.environ[MQTT_PASSWORD_ENV] = MQTT_PASSWORD
    os.environ[INFLUXDB_TOKEN_ENV] = "bench"
    results: dict[str, Any] = {"readings": total, "meters": meters}
    with tempfile.TemporaryDirectory() as tmp:
        broker.start()
        victoria.start()
        try:
            mqtt = {"host": "127.0.0.1", "port": broker.port, "username": MQTT_USER}
            influxdb = {"url": victoria.url, "org": "o", "bucket": "b"}
            for name, sinks in (("mqtt", {"mqtt": mqtt}), ("influxdb", {"influxdb": influxdb})):
                store = await open_store(store_url or str(Path(tmp) / f"{name}.sqlite3"))
                try:
                    for batch in readings(meters, per_meter):
                        await store.save_batch(batch)
                    wall, cpu = await drain(store, fleet(meters, sinks), total)
                finally:
                    await store.close()
                results[f"{name}_readings_per_s"] = round(total / wall)
                results[f"{name}_cpu_us_per_reading"] = round(cpu / total * 1e6, 1)
                print(
                    f"{name:9s} {total:>9,} readings in {wall:6.2f} s: {total / wall:>9,.0f}/s, "
                    f"head-end CPU {cpu / total * 1e6:5.1f} us per reading"
                )
        finally:
            broker.remove()
            victoria.remove()
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readings", type=int, default=100_000)
    parser.add_argument("--meters", type=int, default=1_000)
    parser.add_argument("--store", default=None, help="a store URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    print(f"outbox drain: {args.readings:,} readings of {args.meters:,} meters, one sink at a time")
    figures = asyncio.run(main(args.readings, args.meters, args.store))
    print(json.dumps(figures))
