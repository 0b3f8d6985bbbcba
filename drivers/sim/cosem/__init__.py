"""The simulated meter's COSEM objects: `MeterObjects(meter)` is the `CosemObjectModel` that
drivers/dlms/server serves for a `SimulatedMeter` (objects.py: registers, clock, disconnector,
limiter, identity; profiles.py: load profile and event log with selective access)."""

from drivers.sim.cosem.objects import MeterObjects, set_register_scaler

__all__ = ["MeterObjects", "set_register_scaler"]
