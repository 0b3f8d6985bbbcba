"""Weighted max-min fair (water-filling) allocation of a feeder's usable capacity.

Sans-IO: `allocate` takes a feeder, its households' forecast demand and the load not attributable
to households, and says which households to limit (and to what), which must be disconnected as a
last resort, and by how much the guaranteed minimums alone overrun the capacity.

Rules, in order:

* priority households (medical) draw their demand and are never limited nor disconnected;
* rooftop PV export frees capacity and is never limited;
* households without a limiter cannot be limited, only disconnected: they draw their full demand,
  and are disconnected (largest demand first, so as few as possible) only when the limitable
  households at their guaranteed minimums cannot absorb the overload;
* the limitable households share what is left by weighted water-filling between
  floor = min(minimum, demand) and ceiling = min(demand, maximum);
* when even the floors do not fit, every limitable household is held at its floor and the
  overrun is reported as `shortfall_kw`.

A limit is reported only where it binds (allocation below the demand); this includes a demand above
the contractual maximum, which is limited to the maximum.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Household(BaseModel):
    """One household on a feeder, with its forecast demand for the next interval."""

    model_config = ConfigDict(frozen=True)

    id: str
    demand_kw: float = Field(ge=0, allow_inf_nan=False)
    weight: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    minimum_kw: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    maximum_kw: float = Field(gt=0, allow_inf_nan=False)
    priority: bool = False
    has_limiter: bool = True
    pv_export_kw: float = Field(default=0.0, ge=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _minimum_within_maximum(self) -> Household:
        if self.minimum_kw > self.maximum_kw:
            raise ValueError("minimum_kw must not exceed maximum_kw")
        return self

    @property
    def floor_kw(self) -> float:
        """What the household is guaranteed: its minimum, or less if it wants less."""
        return min(self.minimum_kw, self.demand_kw)

    @property
    def ceiling_kw(self) -> float:
        """What the household takes when nothing is short: its demand up to its maximum."""
        return min(self.demand_kw, self.maximum_kw)


class Feeder(BaseModel):
    """A feeder (or transformer) with its capacity and the safety margin kept below it."""

    model_config = ConfigDict(frozen=True)

    id: str
    capacity_kw: float = Field(gt=0, allow_inf_nan=False)
    margin_kw: float = Field(default=0.0, ge=0, allow_inf_nan=False)

    @property
    def usable_kw(self) -> float:
        return self.capacity_kw - self.margin_kw


class Allocation(BaseModel):
    """The result of one allocation of a feeder's capacity."""

    model_config = ConfigDict(frozen=True)

    feeder_id: str
    usable_kw: float
    allocated_kw: dict[str, float]
    """What each household may draw; its demand for priority and unlimited ones, 0 if cut."""
    floor_kw: dict[str, float]
    """min(minimum, demand) per household: what it is guaranteed."""
    ceiling_kw: dict[str, float]
    """min(demand, maximum) per household: above this a limit no longer binds."""
    limit_kw: dict[str, float | None]
    """The limit to send, None where it would not bind (or cannot be sent: no limiter)."""
    binding: list[str]
    shortfall_kw: float = 0.0
    disconnect: list[str] = Field(default_factory=list)
    load_kw: float
    """Expected feeder load after limits and disconnections (PV export subtracted)."""


def water_fill(
    floors: Sequence[float],
    ceilings: Sequence[float],
    weights: Sequence[float],
    available: float,
) -> list[float]:
    """Weighted max-min fair shares: x_i = clamp(w_i * L, floor_i, ceiling_i) with the level L
    chosen so the shares sum to `available` (or every ceiling if they all fit, every floor if
    not even those fit). Exact up to float rounding, O(n log n): a sweep over the levels where a
    household starts or stops rising."""
    if sum(ceilings) <= available:
        return list(ceilings)
    if sum(floors) >= available:
        return list(floors)
    # At level L every household sits at its floor until w*L reaches it, then rises with slope w
    # until it reaches its ceiling; the total is piecewise linear: constant + slope * L.
    # Starts and stops are sorted apart (float keys sort several times faster than tuples) and
    # merged in the sweep, a start before a stop at the same level, ties in household order.
    rising = [i for i, (low, high) in enumerate(zip(floors, ceilings, strict=True)) if high > low]
    start_at = [floors[i] / weights[i] for i in rising]
    stop_at = [ceilings[i] / weights[i] for i in rising]
    starts = [rising[k] for k in sorted(range(len(rising)), key=start_at.__getitem__)]
    stops = [rising[k] for k in sorted(range(len(rising)), key=stop_at.__getitem__)]
    start_at.sort()
    stop_at.sort()
    constant = math.fsum(floors)
    slope = 0.0
    level = math.inf  # not reached: after the last stop every household is at its ceiling
    n, s, e = len(rising), 0, 0
    while e < n:
        starting = s < n and start_at[s] <= stop_at[e]
        at = start_at[s] if starting else stop_at[e]
        if constant + slope * at >= available:
            level = (available - constant) / slope if slope > 0 else at
            break
        if starting:
            i = starts[s]
            constant -= floors[i]
            slope += weights[i]
            s += 1
        else:
            i = stops[e]
            constant += ceilings[i]
            slope -= weights[i]
            e += 1
    # clamp(w * level, low, high), spelt out: builtin min/max calls cost twice as much here.
    return [
        high if x > high else (low if x < low else x)
        for low, high, x in zip(floors, ceilings, [w * level for w in weights], strict=True)
    ]


def allocate(
    feeder: Feeder, households: Sequence[Household], other_load_kw: float = 0.0
) -> Allocation:
    """Share the feeder's usable capacity among its households for the next interval."""
    ids = [h.id for h in households]
    if len(set(ids)) != len(ids):
        raise ValueError("household ids must be unique on a feeder")
    usable = feeder.usable_kw
    # Floors and ceilings inlined once per household (not the properties, several times each):
    # this function runs every control cycle on feeders of 10,000 households.
    demands = [h.demand_kw for h in households]
    floor_of = [
        d if d < h.minimum_kw else h.minimum_kw for h, d in zip(households, demands, strict=True)
    ]
    ceiling_of = [
        h.maximum_kw if h.maximum_kw < d else d for h, d in zip(households, demands, strict=True)
    ]
    pv = math.fsum(h.pv_export_kw for h in households)
    fixed = other_load_kw - pv + math.fsum(h.demand_kw for h in households if h.priority)
    unlimited = [h for h in households if not h.priority and not h.has_limiter]
    limitable = [k for k, h in enumerate(households) if not h.priority and h.has_limiter]
    floors = [floor_of[k] for k in limitable]
    floor_total = math.fsum(floors)

    # Disconnecting is the last resort: only what the limitable floors cannot absorb, and with
    # the largest demands first so that as few households as possible lose supply.
    drawing = math.fsum(h.demand_kw for h in unlimited)
    disconnect: list[str] = []
    excess = fixed + drawing + floor_total - usable
    if excess > 0:
        for h in sorted(unlimited, key=lambda h: (-h.demand_kw, h.id)):
            if excess <= 0:
                break
            if h.demand_kw <= 0:
                break
            disconnect.append(h.id)
            drawing -= h.demand_kw
            excess -= h.demand_kw
    cut = set(disconnect)

    available = usable - fixed - drawing
    shortfall = max(0.0, floor_total - available)
    shares = water_fill(
        floors,
        [ceiling_of[k] for k in limitable],
        [households[k].weight for k in limitable],
        available,
    )

    # Everyone draws their demand (0 if cut) but the limitable households, who get their share.
    allocated = [0.0 if i in cut else d for i, d in zip(ids, demands, strict=True)]
    limits: list[float | None] = [None] * len(households)
    for k, share in zip(limitable, shares, strict=True):
        allocated[k] = share
        if share < demands[k]:
            limits[k] = share
    binding = [i for i, limit in zip(ids, limits, strict=True) if limit is not None]
    load = other_load_kw - pv + math.fsum(allocated)
    # Built here from validated households: re-validating 10,000-entry dicts would cost a good
    # share of the control cycle's time budget for nothing.
    return Allocation.model_construct(
        feeder_id=feeder.id,
        usable_kw=usable,
        allocated_kw=dict(zip(ids, allocated, strict=True)),
        floor_kw=dict(zip(ids, floor_of, strict=True)),
        ceiling_kw=dict(zip(ids, ceiling_of, strict=True)),
        limit_kw=dict(zip(ids, limits, strict=True)),
        binding=binding,
        shortfall_kw=shortfall,
        disconnect=disconnect,
        load_kw=load,
    )
