"""The "without load management" curve: each feeder's load had nobody limited anyone.

Computed from the same load model the simulated meters integrate (drivers/sim/consumption.py, one
`HouseholdProfile.random(seed + index, pv_share)` per fleet meter, as the simulator seeds them),
so it is what the feeder meter would have measured with every limiter open. PV export counts
against the load, as at the feeder meter.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import numpy.typing as npt

from headend.config.fleet import Fleet
from headend.simulation.grid import household_profile

FloatArray = npt.NDArray[np.float64]


def hours_of(times: Sequence[datetime]) -> FloatArray:
    return np.array([t.hour + t.minute / 60 + t.second / 3600 for t in times], dtype=np.float64)


def unmanaged_kw(fleet: Fleet, times: Sequence[datetime]) -> dict[str, FloatArray]:
    """Feeder id -> its unmanaged net load (kW) at each of `times`."""
    load, simulation = fleet.load, fleet.simulation
    if load is None or simulation is None or not times:
        return {}
    index = {m.id: i for i, m in enumerate(fleet.meters)}
    hours = hours_of(times)
    morning = np.exp(-(((hours - 7.5) / 1.2) ** 2))
    evening = np.exp(-(((hours - 19.0) / 2.0) ** 2))
    sun = np.where(
        (hours > 6.0) & (hours < 18.0), np.sin(np.pi * (hours - 6.0) / 12.0), 0.0
    ).astype(np.float64)
    out: dict[str, FloatArray] = {}
    for feeder in load.feeders:
        profiles = [
            household_profile(simulation.seed, index[h], simulation.pv_share)
            for h in feeder.households
        ]
        base = sum(p.base_w for p in profiles)
        morning_w = sum(p.morning_peak_w for p in profiles)
        evening_w = sum(p.evening_peak_w for p in profiles)
        pv_w = sum(p.pv_peak_w for p in profiles)
        # the model is linear in each household's parameters: sum them, then evaluate once
        net_w = base + morning_w * morning + evening_w * evening - pv_w * sun
        out[feeder.id] = np.asarray(net_w / 1000.0, dtype=np.float64)
    return out
