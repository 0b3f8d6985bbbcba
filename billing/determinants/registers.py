"""Register reads at the period boundaries and the advance between them.

A capture at the boundary is actual; otherwise the value is interpolated in time between the last
read before and the first after, both within `boundary_window_hours` (estimated, RULE_BOUNDARY).
Values here are on the continuous scale (replacements carried over, see replacement.py); the
`RegisterRead` reports what the meter showed (or would have shown).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from billing.vee.captures import RULE_METER_STATUS
from billing.vee.model import (
    RULE_BOUNDARY,
    RULE_CLOCK,
    RULE_NEGATIVE,
    RULE_ROLLOVER,
    Finding,
    Flag,
    RegisterRead,
)
from billing.vee.register import Register
from billing.vee.settings import VeeSettings

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Boundary:
    read: RegisterRead
    value: Decimal  # on the continuous scale
    estimated_inside: Decimal  # energy between the boundary and the nearest read inside the period
    shaped: bool = False  # interpolated in the shape of the load profile, not of time


def boundary(
    meter_id: str,
    obis: str,
    register: Register,
    at: datetime,
    *,
    inside_after: bool,
    offset: Decimal,
    settings: VeeSettings,
    shape: Callable[[datetime, datetime, datetime], Decimal | None] | None = None,
) -> Boundary | None:
    """The register at `at`; `inside_after` says the period lies after `at` (a start boundary).

    Between two reads the value is shared by `shape(before, at, after)` (the share of the
    advance before `at`) when it can say, else in proportion to time."""
    times, values = register.times, register.values
    i = bisect_left(times, at)
    modulus = settings.rollover_kwh
    if i < len(times) and times[i] == at:
        value, quality = values[i], register.quality(at)
        if quality == "ok":
            flag, rule = Flag.ACTUAL, ""
        else:
            flag = Flag.SUSPECT
            rule = RULE_CLOCK if quality.startswith("clock") else RULE_METER_STATUS
        native = value - offset
        return Boundary(RegisterRead(meter_id, obis, at, native, native, flag, rule), value, ZERO)
    window = timedelta(hours=settings.boundary_window_hours)
    if i == 0 or i == len(times):
        return None
    t0, v0 = times[i - 1], values[i - 1]
    t1, v1 = times[i], values[i]
    if at - t0 > window or t1 - at > window:
        return None
    if v1 < v0 and modulus is not None and v0 - v1 > modulus / 2:
        v1 += modulus
    share = shape(t0, at, t1) if shape is not None else None
    shaped = share is not None
    if share is None:
        share = Decimal((at - t0) // timedelta(microseconds=1)) / Decimal(
            (t1 - t0) // timedelta(microseconds=1)
        )
    value = (v0 + (v1 - v0) * share).quantize(settings.estimate_resolution_kwh, ROUND_HALF_EVEN)
    native = value - offset
    if modulus is not None and native >= modulus:
        native -= modulus
    estimated_inside = v1 - value if inside_after else value - v0
    read = RegisterRead(meter_id, obis, at, native, None, Flag.ESTIMATED, RULE_BOUNDARY)
    return Boundary(read, value, estimated_inside, shaped)


def advance(
    meter_id: str, obis: str, first: Boundary, last: Boundary, settings: VeeSettings
) -> tuple[Decimal, list[Finding]]:
    """Register advance between two boundaries, with a rollover or a negative advance found."""
    step = last.value - first.value
    if step >= ZERO:
        return step, []
    modulus = settings.rollover_kwh
    at0, at1 = first.read.at, last.read.at
    if modulus is not None and -step > modulus / 2:
        wrapped = step + modulus
        detail = (
            f"register went from {first.read.kwh} to {last.read.kwh} kWh: rolled over at {modulus} "
            f"kWh, advance {wrapped} kWh"
        )
        return wrapped, [Finding(meter_id, obis, RULE_ROLLOVER, at0, at1, Flag.ACTUAL, detail)]
    detail = f"register went backwards from {first.read.kwh} to {last.read.kwh} kWh ({step} kWh)"
    return step, [Finding(meter_id, obis, RULE_NEGATIVE, at0, at1, Flag.SUSPECT, detail)]
