"""A residential consumption model: base load, morning and evening peaks, optional rooftop PV.

Deterministic for a given seed, so tests can compute expected energies independently of timing.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class HouseholdProfile:
    base_w: float = 250.0
    morning_peak_w: float = 1200.0
    evening_peak_w: float = 2500.0
    pv_peak_w: float = 0.0

    @classmethod
    def random(cls, seed: int, pv_share: float = 0.2) -> HouseholdProfile:
        rng = random.Random(seed)
        has_pv = rng.random() < pv_share
        return cls(
            base_w=rng.uniform(120, 400),
            morning_peak_w=rng.uniform(500, 2000),
            evening_peak_w=rng.uniform(1200, 4000),
            pv_peak_w=rng.uniform(2000, 6000) if has_pv else 0.0,
        )


def _bump(hour: float, centre: float, width: float) -> float:
    return math.exp(-(((hour - centre) / width) ** 2))


def _hour(at: datetime) -> float:
    return at.hour + at.minute / 60 + at.second / 3600


def demand_at(profile: HouseholdProfile, hour: float) -> float:
    """Household demand (W) at an hour of the day (0 <= hour < 24)."""
    return (
        profile.base_w
        + profile.morning_peak_w * _bump(hour, 7.5, 1.2)
        + profile.evening_peak_w * _bump(hour, 19.0, 2.0)
    )


def pv_at(profile: HouseholdProfile, hour: float) -> float:
    """PV generation (W) at an hour of the day: a clear-sky half sine between 06:00 and 18:00."""
    if profile.pv_peak_w <= 0 or not 6.0 < hour < 18.0:
        return 0.0
    return profile.pv_peak_w * math.sin(math.pi * (hour - 6.0) / 12.0)


def net_at(profile: HouseholdProfile, hour: float) -> float:
    """Demand less PV (W) at an hour of the day: positive imports, negative exports.

    The integrator's inner loop: one call per sample, so the two terms are inlined here.
    """
    net = (
        profile.base_w
        + profile.morning_peak_w * math.exp(-(((hour - 7.5) / 1.2) ** 2))
        + profile.evening_peak_w * math.exp(-(((hour - 19.0) / 2.0) ** 2))
    )
    if profile.pv_peak_w > 0 and 6.0 < hour < 18.0:
        net -= profile.pv_peak_w * math.sin(math.pi * (hour - 6.0) / 12.0)
    return net


# The model's shapes sampled every 7.5 minutes: the ends and middles of the 15-minute profile
# periods, where history is integrated. Sampling a table instead of exp() and sin() at each of
# ~200 points per meter-day roughly halves the cost of building a simulated fleet.
GRID_PER_HOUR = 8
GRID_PER_DAY = 24 * GRID_PER_HOUR
_MORNING = tuple(_bump(k / GRID_PER_HOUR, 7.5, 1.2) for k in range(GRID_PER_DAY))
_EVENING = tuple(_bump(k / GRID_PER_HOUR, 19.0, 2.0) for k in range(GRID_PER_DAY))
_SUN = tuple(pv_at(HouseholdProfile(pv_peak_w=1.0), k / GRID_PER_HOUR) for k in range(GRID_PER_DAY))


def net_on_grid(profile: HouseholdProfile, k: int) -> float:
    """`net_at(profile, k / GRID_PER_HOUR)` for 0 <= k < GRID_PER_DAY, from the sampled shapes."""
    return (
        profile.base_w
        + profile.morning_peak_w * _MORNING[k]
        + profile.evening_peak_w * _EVENING[k]
        - profile.pv_peak_w * _SUN[k]
    )


def demand_w(profile: HouseholdProfile, at: datetime) -> float:
    """Household demand (W) at an instant, before any limiter or disconnect."""
    return demand_at(profile, _hour(at))


def pv_w(profile: HouseholdProfile, at: datetime) -> float:
    """PV generation (W) at an instant."""
    return pv_at(profile, _hour(at))
