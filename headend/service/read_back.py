"""The readings of an on-demand read that a cluster's worker ran, read back from the shared store.

In one process the answer collects the readings as they are read. On a cluster the worker stores
them and reports only each meter's outcome, so the scheduler reads them back: per meter and
register the latest value received since the read began (a few seconds of slack for the
machines' clocks), and the profile rows captured in the read's window.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from drivers.contract import Reading
from headend.config.fleet import ReadingPlan
from headend.reading.report import MeterReport
from headend.store.base import Store

CLOCK_SLACK = timedelta(seconds=5)  # workers' clocks against the scheduler's (NTP'd machines)
# how far back a register's capture time may lie (a billing snapshot of the last month's end)
_REGISTER_PAST = timedelta(days=32)


async def read_back(
    store: Store,
    plan: ReadingPlan,
    meters: list[MeterReport],
    *,
    began: datetime,
    window: tuple[datetime, datetime],
) -> list[Reading]:
    """`began`: the wall-clock time the read was asked; `window`: its profile window."""
    received_from = began - CLOCK_SLACK
    floor = min(received_from, window[0]) - _REGISTER_PAST
    points = set(plan.points)
    found: list[Reading] = []
    for meter in meters:
        if meter.readings == 0:
            continue
        latest: dict[str, Reading] = {}
        for reading in await store.readings(meter_id=meter.meter_id, since=floor):
            obis = str(reading.obis)
            if obis == plan.profile and reading.capture_time is not None:
                if window[0] <= reading.capture_time <= window[1]:
                    found.append(reading)
            elif obis in points and reading.receive_time >= received_from:
                kept = latest.get(obis)
                if kept is None or reading.receive_time >= kept.receive_time:
                    latest[obis] = reading
        found.extend(latest.values())
    return found
