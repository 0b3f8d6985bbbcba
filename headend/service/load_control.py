"""The load manager inside `headend run`: how it reads feeder meters, sends its commands and
publishes its cycles.

* A feeder meter is read on the priority lane of its channel, like any on-demand read (import and
  export active power, 1.7.0 and 2.7.0; the feeder's net load is import - export), and the
  readings are stored, so the feeder's measured load is in the site database beside the cycles.
* Commands go to the command service (persisted, audited, confirmed by read-back); a load command
  that fails or expires is handed back to the manager, which decides about that household again.
* Each cycle's record is stored (`load_cycles`) and, with a `[sinks.mqtt]` broker, published on
  `<prefix>/feeder/<feeder>/cycle` (JSON, QoS 1). Publishing is best effort over one connection
  kept open with a backoff: a cycle that cannot be published while the broker is down is dropped
  from the queue of what to publish (it stays in the store), so a dead broker never holds up a
  control cycle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from decimal import Decimal, InvalidOperation

import aiomqtt

from headend.config.load import FeederSettings
from headend.config.sinks import MqttSink
from headend.load.metrics import LoadCycle
from headend.service.mqtt_link import stay_connected
from headend.service.requests import ReadRequest, ReadResult
from headend.service.runtime import HeadendService

LOG = logging.getLogger("headend.service.load")

IMPORT_POWER = "1.0.1.7.0.255"
EXPORT_POWER = "1.0.2.7.0.255"
_QUEUE = 1000  # cycles waiting to be published while the broker is away


class FeederMeters:
    """Reads feeder meters through the running service (priority lane, stored)."""

    def __init__(self, service: HeadendService) -> None:
        self.service = service

    async def read(self, feeder: FeederSettings) -> float | None:
        """The feeder's net load in kW; None when the meter did not give both powers."""
        result = await self.service.read(
            ReadRequest(
                meters=[feeder.meter],
                points=[IMPORT_POWER, EXPORT_POWER],
                requester=f"load-manager:{feeder.id}",
            )
        )
        powers = _powers_w(result)
        if IMPORT_POWER not in powers:
            why = result.error or _meter_reason(result) or "no import power in the answer"
            raise RuntimeError(f"feeder meter {feeder.meter} not read: {why}")
        return (powers[IMPORT_POWER] - powers.get(EXPORT_POWER, 0.0)) / 1000


def _powers_w(result: ReadResult) -> dict[str, float]:
    powers: dict[str, float] = {}
    for row in result.readings:
        if row.obis in (IMPORT_POWER, EXPORT_POWER):
            try:
                value = Decimal(row.value)
            except InvalidOperation:
                continue
            scale = Decimal(1000) if (row.unit or "W") == "kW" else Decimal(1)
            powers[row.obis] = float(value * scale)
    return powers


def _meter_reason(result: ReadResult) -> str:
    for meter in result.meters:
        if meter.error:
            return str(meter.error)
    return ""


class CyclePublisher:
    """Publishes cycle records on `<prefix>/feeder/<feeder>/cycle`, best effort."""

    def __init__(
        self, config: MqttSink, site: str, *, password: str | None, backoff_max_s: float = 30.0
    ) -> None:
        self.config = config
        self.prefix = config.prefix(site)
        self._site = site
        self._password = password
        self._backoff_max_s = backoff_max_s
        self._queue: asyncio.Queue[LoadCycle] = asyncio.Queue(maxsize=_QUEUE)
        self._task: asyncio.Task[None] | None = None
        self.published = 0

    def topic(self, feeder: str) -> str:
        return f"{self.prefix}/feeder/{feeder}/cycle"

    async def publish(self, cycle: LoadCycle) -> None:
        if self._queue.full():
            self._queue.get_nowait()  # the oldest goes: it is in the store
        self._queue.put_nowait(cycle)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="load-cycle-publisher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _run(self) -> None:
        await stay_connected(
            self.config,
            self._publish_all,
            password=self._password,
            identifier=f"headend-{self._site}-load",
            what="load cycles",
            log=LOG,
            backoff_max_s=self._backoff_max_s,
        )

    async def _publish_all(self, client: aiomqtt.Client) -> None:
        while True:
            cycle = await self._queue.get()
            await client.publish(self.topic(cycle.feeder), cycle.model_dump_json(), qos=1)
            self.published += 1
