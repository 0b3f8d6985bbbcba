"""A simulated month of stored readings, straight from the simulator's physics: what a month of
15-minute profile collection and daily billing reads would have stored, without running the month.

For trying billing and exports on a fresh database (`headend simulate --history MONTH`), for the
billing benchmark and for tests. Each meter is a `SimulatedMeter` (the household model of the
demo, rooftop PV for `pv_share` of them by seed) integrated over the month: its 15-minute load
profile (cumulative import 1.0.1.8.0.255 and export 1.0.2.8.0.255 in Wh) and its daily billing
values at 00:00 UTC (import total, import per tariff register 1.0.1.8.1..4.255, export total),
stored as the head-end stores what it reads: capture time from the meter, unit Wh, quality ok.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from drivers.contract import Quality, Reading, trusted_reading
from drivers.sim.clock import SimClock
from drivers.sim.consumption import HouseholdProfile
from drivers.sim.physics import SimulatedMeter
from drivers.sim.profile_log import from_us

IMPORT = "1.0.1.8.0.255"
EXPORT = "1.0.2.8.0.255"
TARIFF_REGISTERS = ("1.0.1.8.1.255", "1.0.1.8.2.255", "1.0.1.8.3.255", "1.0.1.8.4.255")
MARGIN = timedelta(days=1)
QUARTER = timedelta(minutes=15)


def simulated_month(
    meter_ids: Sequence[str],
    start: datetime,
    end: datetime,
    *,
    seed: int = 0,
    pv_share: float = 0.03,
) -> Iterator[list[Reading]]:
    """Each meter's readings from a day before `start` to a day after `end`, meter by meter
    (one list each, so a caller can store them in batches without holding the month at once)."""
    received = end + MARGIN + timedelta(hours=1)
    for index, meter_id in enumerate(meter_ids):
        clock = SimClock(start=end + MARGIN, factor=0.0)  # frozen: integrated once, here
        meter = SimulatedMeter(
            meter_id,
            clock,
            profile=HouseholdProfile.random(seed + index, pv_share),
            seed=seed + index,
            # a quarter-hour earlier than the margin: the meter captures at the end of each
            # quarter, so its first row would otherwise come at start - MARGIN + 15 minutes
            history=end - start + 2 * MARGIN + QUARTER,
            profile_depth=96 * ((end - start).days + 3) + 1,
        )
        yield meter_readings(meter, start - MARGIN, end + MARGIN, received)


def meter_readings(
    meter: SimulatedMeter, since: datetime, until: datetime, received: datetime
) -> list[Reading]:
    """The meter's profile rows and daily billing rows in [since, until] as stored readings."""
    out: list[Reading] = []
    add = out.append
    meter_id = meter.meter_id
    ok = Quality.OK
    for row in meter.load_profile.between(since, until):
        add(trusted_reading(meter_id, IMPORT, row.import_wh, "Wh", row.clock, received, ok))
        add(trusted_reading(meter_id, EXPORT, row.export_wh, "Wh", row.clock, received, ok))
    for raw in meter.daily.raw_between(since, until):
        clock_us, t1, t2, t3, t4, export = raw
        at = from_us(clock_us)
        add(trusted_reading(meter_id, IMPORT, Decimal(t1 + t2 + t3 + t4), "Wh", at, received, ok))
        for obis, wh in zip(TARIFF_REGISTERS, (t1, t2, t3, t4), strict=True):
            add(trusted_reading(meter_id, obis, Decimal(wh), "Wh", at, received, ok))
        add(trusted_reading(meter_id, EXPORT, Decimal(export), "Wh", at, received, ok))
    return out
