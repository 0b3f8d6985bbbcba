"""Billing profiles (class 7) of the simulated meter: daily values and monthly billing values.

- `1.0.99.2.0.255` daily values (IDIS "daily load profile"): one row per midnight (00:00 UTC),
  the last 62 days the meter has lived through;
- `0.0.98.1.0.255` billing profile (IDIS "data of billing period"): one row at the end of each
  billing period, 00:00 UTC on day 1 of a month, the last 15.

Columns of both: the clock, import total 1.0.1.8.0.255, import tariffs 1.0.1.8.1..4.255 and export
total 1.0.2.8.0.255, captured by the meter's integrator at those instants
(`SimulatedMeter.daily` / `.monthly`, drivers/sim/billing_log.py): a read encodes stored
integers, it never integrates again. The register columns carry the registers' resolution (a
re-parametrised scaler re-expresses them, as for the load profile).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from drivers.dlms.server import values as v
from drivers.sim import physics as ph
from drivers.sim.billing_log import BillingLog
from drivers.sim.cosem.profiles import (
    CLOCK_COLUMN,
    REGISTER_CLASS,
    Column,
    ProfileSpec,
    Row,
    clock_cell,
    raw_value,
)
from drivers.sim.physics import SimulatedMeter
from drivers.sim.profile_log import from_us

DAILY_VALUES = "1.0.99.2.0.255"
BILLING_PERIOD_VALUES = "0.0.98.1.0.255"

_REGISTERS = (ph.IMPORT_TOTAL, *ph.IMPORT_TARIFF, ph.EXPORT_TOTAL)
COLUMNS = (CLOCK_COLUMN, *(Column(REGISTER_CLASS, obis) for obis in _REGISTERS))


def _encode(meter: SimulatedMeter, raw: tuple[int, ...]) -> list[bytes]:
    clock_us, t1, t2, t3, t4, export = raw
    scalers = [meter.scalers.get(obis, 0) for obis in _REGISTERS]
    dlu = v.double_long_unsigned_bytes
    wh = (t1 + t2 + t3 + t4, t1, t2, t3, t4, export)
    return [clock_cell(clock_us)] + [
        dlu(raw_value(value, scaler)) for value, scaler in zip(wh, scalers, strict=True)
    ]


def _spec(log_of: Callable[[SimulatedMeter], BillingLog], capture_period: int) -> ProfileSpec:
    def rows(meter: SimulatedMeter) -> list[Row]:
        meter.sync()
        log = log_of(meter)
        return [(from_us(raw[0]), _encode(meter, raw)) for raw in map(log.raw, range(len(log)))]

    def between(meter: SimulatedMeter, start: datetime, end: datetime) -> list[list[bytes]]:
        meter.sync()
        return [_encode(meter, raw) for raw in log_of(meter).raw_between(start, end)]

    def entries(meter: SimulatedMeter) -> int:
        meter.sync()
        return len(log_of(meter))

    return ProfileSpec(
        columns=COLUMNS,
        capture_period=capture_period,
        rows=rows,
        depth=lambda meter: log_of(meter).maxlen,
        rows_between=between,
        entries=entries,
    )


DAILY_VALUES_SPEC = _spec(lambda meter: meter.daily, 86_400)
# captured by the end of a billing period, not on a period: 0 as IDIS meters report it
BILLING_PERIOD_SPEC = _spec(lambda meter: meter.monthly, 0)
