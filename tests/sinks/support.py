"""Test helpers for the sinks: a fleet, readings, outbox entries and an MQTT subscriber that
collects what the broker delivers (reconnecting, with a persistent session if asked).

A grouped reading message (`readings_per_message` > 1) is recorded as one `Received` per reading,
so tests count and check readings the same way whichever form the sink publishes; `raw` keeps
the messages as they came."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import aiomqtt

from drivers.contract import Reading
from headend.config.fleet import Fleet
from headend.store.base import OutboxEntry
from tests.brokers import MQTT_PASSWORD, MQTT_USER

SITE = "north"
T0 = datetime(2025, 3, 1, tzinfo=UTC)


def fleet(meters: int = 3, sinks: dict[str, Any] | None = None) -> Fleet:
    data: dict[str, Any] = {
        "site": {"name": SITE},
        "channels": [{"id": f"gw{i}", "host": "127.0.0.1", "port": 4059 + i} for i in range(2)],
        "meters": [
            {"id": f"m{i}", "protocol": "dlms", "channel": f"gw{i % 2}"} for i in range(meters)
        ],
    }
    if sinks is not None:
        data["sinks"] = sinks
    return Fleet.model_validate(data)


def energy(meter: str, step: int, value: int | None = None) -> Reading:
    """A 15-minute profile value of meter `meter`, `step` quarter-hours after T0."""
    at = T0 + timedelta(minutes=15 * step)
    return Reading(
        meter_id=meter,
        obis="1.0.1.8.0.255",
        value=Decimal(1000 + step if value is None else value) / 10,
        unit="kWh",
        capture_time=at,
        receive_time=at + timedelta(seconds=30),
    )


def entries(readings: list[Reading], first_seq: int = 1) -> list[OutboxEntry]:
    return [
        OutboxEntry(seq=first_seq + i, kind="reading", created_at=r.receive_time, reading=r)
        for i, r in enumerate(readings)
    ]


@dataclass
class Received:
    topic: str
    payload: dict[str, Any]


def ungrouped(message: Received) -> list[Received]:
    """A grouped reading message as its readings (same topic); any other message as it is."""
    readings = message.payload.get("readings")
    if message.topic.endswith("/reading") and isinstance(readings, list):
        return [Received(message.topic, reading) for reading in readings]
    return [message]


@dataclass
class Subscriber:
    """Subscribes to `topic` (QoS 1) and keeps every message, reconnecting when the broker goes.

    With `persistent=True` the broker keeps its session (clean_session off), so what is published
    while it reconnects is queued for it, provided the broker keeps sessions across restarts."""

    port: int
    topic: str
    persistent: bool = False
    messages: list[Received] = field(default_factory=list)
    raw: list[Received] = field(default_factory=list)  # one per MQTT message, groups whole
    _task: asyncio.Task[None] | None = None
    _subscribed: asyncio.Event = field(default_factory=asyncio.Event)
    _client: aiomqtt.Client | None = None
    connections: int = 0  # how many times it has (re)subscribed
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def __aenter__(self) -> Subscriber:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._subscribed.wait(), 30)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    "127.0.0.1",
                    self.port,
                    username=MQTT_USER,
                    password=MQTT_PASSWORD,
                    identifier="test-subscriber",
                    clean_session=not self.persistent,
                ) as client:
                    await client.subscribe(self.topic, qos=1)
                    self._client = client
                    self.connections += 1
                    self._subscribed.set()
                    self._changed.set()
                    async for message in client.messages:
                        payload = json.loads(bytes(message.payload))  # type: ignore[arg-type]
                        received = Received(str(message.topic), payload)
                        self.raw.append(received)
                        self.messages.extend(ungrouped(received))
                        self._changed.set()
            except aiomqtt.MqttError:
                self._client = None
                await asyncio.sleep(0.1)

    async def wait_for(self, count: int, timeout: float = 60) -> list[Received]:
        """At least `count` messages (a hang guard, not a timing assertion)."""
        await self._until(lambda: len(self.messages) >= count, timeout)
        return self.messages

    async def reconnected(self, connections: int, timeout: float = 60) -> None:
        """Subscribed `connections` times in all (a hang guard, not a timing assertion)."""
        await self._until(lambda: self.connections >= connections, timeout)

    async def _until(self, done: Callable[[], bool], timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not done():
                self._changed.clear()
                await self._changed.wait()

    async def settle(self) -> None:
        """A round trip through the broker on the subscriber's own connection: the broker has
        then handled every PUBACK the subscriber sent before (so stopping it now loses none)."""
        marker = f"{self.topic.rstrip('#').rstrip('/')}/sync"
        before = len(self.messages)
        assert self._client is not None
        await self._client.publish(marker, b'{"sync": true}', qos=1)
        await self._until(lambda: any(m.topic == marker for m in self.messages[before:]), 30)
        self.messages = [m for m in self.messages if m.topic != marker]
        self.raw = [m for m in self.raw if m.topic != marker]
