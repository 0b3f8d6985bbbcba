"""What one control cycle of the load manager did on one feeder: the record that is stored in the
site database and published, and from which the demo's summary and plots are drawn."""

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
