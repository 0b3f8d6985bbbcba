"""The clock check: compare each meter's clock read by a plan with the head-end's, and
synchronise the meters that drifted beyond the plan's threshold.

The meter's clock value was read at `receive_time` (wall clock); the head-end's time at that
instant is the service clock's (which runs faster than the wall clock in an accelerated
simulation), so the drift is `meter clock - service time at receive`. A synchronisation is a
command (time sync) sent on the priority lane of the meter's channel; who asked (the scheduler
and the plan), what was done (the drift and the new time) and when are recorded as events, with
the outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from drivers.channel import ChannelRegistry
from drivers.contract import Command, CommandKind, CommandResult, CounterStore, Reading
from headend.config.loader import HeadendConfig
from headend.events.model import Event, EventOrigin, HeadendEvent
from headend.reading.channels import channel_spec
from headend.reading.meter import SettingsResolver, reason_of
from headend.service.clock import ServiceClock

LOG = logging.getLogger("headend.service")

CLOCK_OBIS = "0.0.1.0.0.255"


class ClockWatch:
    """Collects the clock values a run reads: meter id -> drift in seconds (meter - head-end)."""

    def __init__(self, clock: ServiceClock) -> None:
        self.clock = clock
        self.drift_s: dict[str, float] = {}

    def observe(self, readings: Sequence[Reading]) -> None:
        for reading in readings:
            if reading.obis != CLOCK_OBIS or not isinstance(reading.value, datetime):
                continue
            self.drift_s[reading.meter_id] = (
                reading.value - self.service_time_at(reading.receive_time)
            ).total_seconds()

    def service_time_at(self, wall: datetime) -> datetime:
        behind = (datetime.now(UTC) - wall).total_seconds()
        return self.clock.now() - timedelta(seconds=behind * self.clock.factor)


async def synchronise(
    config: HeadendConfig,
    channels: ChannelRegistry,
    counters: CounterStore,
    resolve: SettingsResolver,
    meter_id: str,
    clock: ServiceClock,
) -> CommandResult:
    """Set the meter's clock to the head-end's time, on the priority lane of its channel."""
    fleet = config.fleet
    meter = fleet.meter(meter_id)
    channel = channels.channel(channel_spec(fleet, meter.channel))
    settings = resolve(meter_id)
    async with channel.session(
        settings, meter_id=meter_id, counters=counters, lane="priority"
    ) as session:
        return await session.execute(Command(kind=CommandKind.TIME_SYNC, time=clock.now()))


async def check_clocks(
    watch: ClockWatch,
    threshold_s: float,
    *,
    synchronise: Callable[[str], Awaitable[CommandResult]],
    requester: str,
    source: str,
) -> list[Event]:
    """Synchronise every meter whose drift exceeds `threshold_s`; the events that say so."""
    events: list[Event] = []
    for meter_id, drift in sorted(watch.drift_s.items()):
        if abs(drift) <= threshold_s:
            continue
        now = watch.clock.now()
        events.append(
            _event(
                HeadendEvent.CLOCK_DRIFT,
                "clock_drift",
                f"meter {meter_id}: clock off by {drift:+.1f} s (threshold {threshold_s:g} s)",
                meter_id,
                now,
                source,
            )
        )
        try:
            result = await synchronise(meter_id)
            ok, detail = result.ok, result.detail
        except Exception as exc:  # one meter's failed sync must not stop the others
            ok, detail = False, reason_of(exc)
        done = watch.clock.now()
        outcome = "done" if ok else f"failed: {detail}"
        LOG.info(
            "meter %s: clock sync by %s (drift %+.1f s): %s", meter_id, requester, drift, outcome
        )
        events.append(
            _event(
                HeadendEvent.CLOCK_SYNCHRONISED,
                "clock_synchronised" if ok else "clock_sync_failed",
                f"meter {meter_id}: time sync requested by {requester} at {now.isoformat()} "
                f"(drift {drift:+.1f} s): {outcome}",
                meter_id,
                done,
                source,
                cause=None if ok else "command failed",
            )
        )
    return events


def _event(
    code: HeadendEvent,
    name: str,
    text: str,
    meter_id: str,
    now: datetime,
    source: str,
    cause: str | None = None,
) -> Event:
    return Event(
        origin=EventOrigin.HEADEND,
        meter_id=meter_id,
        code=int(code),
        name=name,
        text=text,
        time=now,
        received_at=now,
        source=source,
        cause=cause,
    )
