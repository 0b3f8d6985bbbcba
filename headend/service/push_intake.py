"""Meters' event pushes into the store: the DLMS push listener, restricted to the fleet's meters.

Each pushed event is stored as a meter event (the same key as the entry read later from the
meter's event log, so it is stored once) and goes out through the outbox like any other event.
A push from a device that is not in the fleet file is refused by the listener (one log line).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from drivers.contract import MeterEvent
from headend.config.loader import HeadendConfig
from headend.events.model import Event
from headend.events.push import PushListener, meter_by_flagged_name
from headend.store.base import Store, StoreError

LOG = logging.getLogger("headend.service")


class PushIntake:
    def __init__(self, config: HeadendConfig, store: Store, host: str, port: int) -> None:
        self.config = config
        self.store = store
        self.listener = PushListener(self._store, host, port, identify=self._identify)
        self.stored = 0

    @property
    def port(self) -> int:
        return self.listener.port

    async def start(self) -> None:
        await self.listener.start()

    async def stop(self) -> None:
        await self.listener.close()

    def _identify(self, name: bytes, source: int, peer: str) -> str | None:
        meter_id = meter_by_flagged_name(name, source, peer)
        if meter_id is None or meter_id not in self.config.fleet.index.meters:
            return None
        return meter_id

    async def _store(self, event: MeterEvent) -> None:
        channel = self.config.fleet.meter(event.meter_id).channel
        stored = Event.of_meter(event, channel_id=channel, received_at=datetime.now(UTC))
        try:
            self.stored += await self.store.save_events([stored])
        except StoreError as exc:
            # the meter will not push it again; its event log still holds it for the next read
            LOG.error("push from meter %s (%s) not stored: %s", event.meter_id, event.name, exc)
            return
        LOG.info("meter %s pushed %s at %s", event.meter_id, event.name, event.time.isoformat())
