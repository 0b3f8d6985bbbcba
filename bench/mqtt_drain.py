"""Outbox drain rate of the MQTT sink: readings/s from a SqliteStore through the forwarder to a
real mosquitto (tests/brokers.py, on a free loopback port, with a password).

    .venv/bin/python -m bench.mqtt_drain [--meters 1000] [--per-meter 100]
        [--readings-per-message 200] [--interleave] [--batch 2000]

Stores `--meters` x `--per-meter` quarter-hour readings (each meter's readings together, as a
profile run saves them; `--interleave` mixes the meters step by step instead), then starts the
forwarder with the MQTT sink only and times it from start until the broker has acknowledged
(PUBACK) the last entry. Nobody subscribes: the broker keeps up, the head-end is
what is measured. Prints the wall rate and the rate per CPU second of this process (less
disturbed by other processes on a shared machine); the last line is a JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from pydantic import SecretStr

from drivers.contract import Reading
from headend.config.fleet import Fleet
from headend.config.sinks import MqttSink as MqttConfig
from headend.sinks.forwarder import Forwarder
from headend.sinks.mqtt import MqttSink
from headend.store import SqliteStore
from headend.store.base import OutboxEntry
from tests.brokers import MQTT_PASSWORD, MQTT_USER, Mosquitto
from tests.conftest import free_port

T0 = datetime(2025, 1, 1, tzinfo=UTC)
QUARTER = timedelta(minutes=15)


def profile(meter: int, count: int) -> list[Reading]:
    received = T0 + count * QUARTER
    return [
        Reading(
            meter_id=f"m{meter:06d}",
            obis="1.0.1.8.0.255",
            value=Decimal(slot * 125) / 1000,
            unit="kWh",
            capture_time=T0 + slot * QUARTER,
            receive_time=received,
        )
        for slot in range(count)
    ]


async def fill(store: SqliteStore, meters: int, per_meter: int, interleave: bool) -> int:
    per = [profile(m, per_meter) for m in range(meters)]
    if interleave:
        flat = [per[m][slot] for slot in range(per_meter) for m in range(meters)]
    else:
        flat = [r for readings in per for r in readings]
    for start in range(0, len(flat), 2000):
        await store.save_batch(flat[start : start + 2000])
    return len(flat)


class WatchedSink(MqttSink):
    """The MQTT sink, telling when the entry `last` has been acknowledged by the broker (watched
    here rather than by polling the outbox status, which would add reads on the store)."""

    def __init__(self, config: MqttConfig, last: int) -> None:
        super().__init__(config, site="bench", password=SecretStr(MQTT_PASSWORD))
        self.last = last
        self.done = asyncio.Event()
        self.deliveries = 0

    async def deliver(self, entries: Sequence[OutboxEntry]) -> None:
        await super().deliver(entries)
        self.deliveries += 1
        if entries and entries[-1].seq >= self.last:
            self.done.set()


async def drain(
    store: SqliteStore, port: int, per_message: int, last: int, batch: int
) -> dict[str, float]:
    """Wall and CPU seconds of this process until entry `last` is delivered, and deliveries."""
    config = MqttConfig(
        host="127.0.0.1",
        port=port,
        username=MQTT_USER,
        readings_per_message=per_message,
        batch=batch,
    )
    sink = WatchedSink(config, last)
    started, cpu = time.perf_counter(), time.process_time()
    async with Forwarder(store, [sink], Fleet(), poll_s=0.05, prune_every_s=3600) as forwarder:
        await asyncio.wait_for(sink.done.wait(), 600)  # a hang guard
        wall, used = time.perf_counter() - started, time.process_time() - cpu
    # stopping waits for the last ack: everything is acknowledged now
    depth = (await forwarder.status())[0].depth
    return {"wall": wall, "cpu": used, "deliveries": sink.deliveries, "depth": depth}


async def main(
    meters: int, per_meter: int, per_message: int, interleave: bool, batch: int
) -> dict[str, object]:
    broker = Mosquitto(free_port(), users={MQTT_USER: MQTT_PASSWORD})
    await asyncio.to_thread(broker.start)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            async with await SqliteStore.open(Path(tmp) / "drain.sqlite3") as store:
                readings = await fill(store, meters, per_meter, interleave)
                measured = await drain(store, broker.port, per_message, readings, batch)
    finally:
        await asyncio.to_thread(broker.remove)
    return {
        "readings": readings,
        "meters": meters,
        "per_meter": per_meter,
        "readings_per_message": per_message,
        "interleave": interleave,
        "batch": batch,
        "deliveries": measured["deliveries"],  # batches delivered
        "depth_after_stop": measured["depth"],
        "drain_s": round(measured["wall"], 2),
        "readings_per_s": round(readings / measured["wall"]),
        "readings_per_cpu_s": round(readings / measured["cpu"]),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=1000)
    parser.add_argument("--per-meter", type=int, default=100)
    parser.add_argument("--readings-per-message", type=int, default=200)
    parser.add_argument("--interleave", action="store_true")
    parser.add_argument("--batch", type=int, default=MqttConfig.model_fields["batch"].default)
    args = parser.parse_args()
    result = asyncio.run(
        main(args.meters, args.per_meter, args.readings_per_message, args.interleave, args.batch)
    )
    print(f"drained {result['readings']:,} readings in {result['drain_s']} s")
    print(f"{result['readings_per_s']:>9,} readings/s")
    print(f"{result['readings_per_cpu_s']:>9,} readings per CPU second")
    print(json.dumps(result))
