"""A simulated meter at a transformer or feeder head: the sum of its households' meters.

`FeederMeter` is a `SimulatedMeter`, so the DLMS simulator serves it with the same COSEM object
table as any household meter. What it measures is computed from its households
(`SimulatedMeter`s, limits, disconnections and rooftop PV included), never from a model of its own:

- power: the feeder's net power is the sum over the households of import − export at the
  instant read (`power_at`, no integration of history, so a read every few seconds with a few
  thousand households stays cheap); import power is its positive part, export power the negative.
- energy: at each sync every household is integrated up to the same instant (splitting at the
  15-minute boundaries, where the feeder captures its own load-profile row) and the change of
  the households' summed net energy (import − export registers, whole Wh) goes into the
  feeder's import register when positive, its export register when negative. So the feeder's
  import − export equals the households' summed import − export exactly, and import is the
  positive part of the net flow as resolved by the feeder's reads. A household that was already
  integrated past a boundary counts with its newer value: totals stay exact, only the split
  between two adjacent periods may shift.

The feeder's own disconnect control and limiter are served (a head-end may read them) but have
no effect on the households: a transformer meter switches nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from drivers.sim.clock import SimClock
from drivers.sim.consumption import HouseholdProfile
from drivers.sim.control import TARIFF_PROGRAMMES
from drivers.sim.physics import SimulatedMeter
from drivers.sim.profile_log import ONE_US, to_us

_PERIOD_US = 15 * 60 * 1_000_000
_HOUR_US = 3_600 * 1_000_000
_NO_LOAD = HouseholdProfile(base_w=0.0, morning_peak_w=0.0, evening_peak_w=0.0, pv_peak_w=0.0)


def net_wh(meter: SimulatedMeter) -> int:
    """A meter's import − export registers (whole Wh) as integrated so far."""
    return sum(meter.import_wh) - meter.export_wh


class FeederMeter(SimulatedMeter):
    """The meter at a feeder head; `households` are the meters it supplies (fixed at creation)."""

    def __init__(
        self,
        meter_id: str,
        clock: SimClock,
        households: Sequence[SimulatedMeter],
        profile_depth: int = 96 * 40,
    ) -> None:
        if not households:
            raise ValueError("a feeder meter needs at least one household")
        self.households = tuple(households)
        start_us = to_us(clock.now())
        for household in self.households:
            household.integrate_to(start_us)
        self._net_wh = sum(net_wh(h) for h in self.households)
        # the feeder starts now with empty registers: it measures from its installation on
        super().__init__(
            meter_id,
            clock,
            profile=_NO_LOAD,
            history=timedelta(0),
            profile_depth=profile_depth,
            initial_import_wh=0.0,
        )

    def power_at(self, at: datetime) -> tuple[float, float]:
        """(import W, export W) of the feeder: the households' summed net power at `at`."""
        net = 0.0
        for household in self.households:
            imp, exp = household.power_at(at)
            net += imp - exp
        return (net, 0.0) if net >= 0 else (0.0, -net)

    def _integrate(self, end_us: int) -> None:
        by_hour = TARIFF_PROGRAMMES[self.tariff_programme]
        households = self.households
        t = self.integrated_to
        exported = self.export_wh
        offset_us, billing_us = self.clock_offset // ONE_US, self.billing_offset // ONE_US
        while t < end_us:
            boundary = (t // _PERIOD_US + 1) * _PERIOD_US
            stop = min(end_us, boundary)
            total = 0
            for household in households:
                household.integrate_to(stop)
                total += sum(household.import_wh) - household.export_wh
            delta, self._net_wh = total - self._net_wh, total
            if delta >= 0:
                self.import_wh[by_hour[(t // _HOUR_US) % 24]] += delta
            else:
                exported -= delta
            t = stop
            if t == boundary:
                self._capture(t, exported, offset_us, billing_us)
        self.export_wh = exported
        self._t_us = t
