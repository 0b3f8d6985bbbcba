"""What one control cycle of the load manager did on one feeder: the record that is stored in the
site database and published, and from which the demo's summary and plots are drawn; and the
accounting of the interval between two cycles (overload time, energy served and demanded)."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class LoadCycle(BaseModel):
    """One feeder's control cycle: its load against capacity, what was limited, and how fairly."""

    model_config = ConfigDict(frozen=True)

    feeder: str
    at: AwareDatetime = Field(description="service time of the cycle")
    load_kw: float | None = Field(description="the feeder meter's net load; None: not read")
    capacity_kw: float = Field(description="capacity less the safety margin")
    forecast_kw: float = Field(description="forecast load of the next interval, before limits")
    limit_kw_total: float = Field(default=0.0, description="sum of the limits in force")
    overloaded: bool = Field(description="the measured load is above the usable capacity")
    overload_s: float = Field(default=0.0, ge=0, description="overload time since the last cycle")
    served_kwh: float = Field(default=0.0, ge=0, description="energy served since the last cycle")
    demanded_kwh: float = Field(default=0.0, ge=0, description="energy demanded since then")
    fairness: float | None = Field(default=None, description="Jain's index of curtailment")
    limited: int = Field(default=0, ge=0, description="households with a limit in force")
    disconnected: int = Field(default=0, ge=0, description="households disconnected for load")
    limit_changes: int = Field(default=0, ge=0, description="limits set, changed or released")
    infeasible: bool = Field(default=False, description="the minimums alone exceed the capacity")
    report: str = Field(default="", description="one line saying what the cycle did and why")

    def key(self) -> tuple[str, datetime]:
        return (self.feeder, self.at)


class Interval:
    """Overload time and energy between one feeder's successive cycles, the load taken as moving
    linearly between the two measurements."""

    def __init__(self, usable_kw: float) -> None:
        self.usable_kw = usable_kw
        self._previous: tuple[datetime, float | None, float] | None = None

    def close(
        self, now: datetime, load_kw: float | None, wanted_kw: float
    ) -> tuple[float, float, float]:
        """(overload seconds, kWh served, kWh demanded) since the previous call; zeros at the
        first one. `wanted_kw` is what the households would draw without limits."""
        previous, self._previous = self._previous, (now, load_kw, wanted_kw)
        if previous is None:
            return 0.0, 0.0, 0.0
        at, before, wanted_before = previous
        seconds = max(0.0, (now - at).total_seconds())
        overload_s = served = 0.0
        if before is not None and load_kw is not None:
            overload_s = seconds * _fraction_above(before, load_kw, self.usable_kw)
            served = max(0.0, (before + load_kw) / 2) * seconds / 3600
        demanded = max(served, (wanted_before + wanted_kw) / 2 * seconds / 3600)
        return overload_s, served, demanded


def _fraction_above(start: float, end: float, level: float) -> float:
    """The share of an interval, with the load moving linearly from start to end, spent above
    the level."""
    if start > level and end > level:
        return 1.0
    if start <= level and end <= level:
        return 0.0
    return (max(start, end) - level) / abs(end - start)
