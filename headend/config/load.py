"""The `[load]` section: the load manager's control cycle, its feeders, per-household overrides and
demand-response events.

Durations are in service time (the simulated clock in a demo). Powers in the households' section
are in W, as on a meter's limiter; feeder capacities and demand-response reductions in kW.
`problems()` checks the cross-references (a household on two feeders, an override or an event
naming a household no feeder has, meters the fleet does not define): the Fleet calls it, so its
errors carry the whole key path (`load.feeders[1].households[3]`); whoever builds a LoadSettings
alone calls it too.

    [load]
    cycle = "PT5M"                 # control cycle, service time
    lease = "PT15M"                # a limit lapses on the meter unless renewed (> 2 cycles)
    ramp_up_kw_per_cycle = 0.5     # limits rise at most this much a cycle, after hold_cycles
    hold_cycles = 2
    default_max_w = 9200           # contractual maximum, 40 A x 230 V
    usage_obis = "1.0.1.7.0.255"   # households' recent use (or a profile channel + usage_period)

    [[load.feeders]]
    id = "f1"
    kind = "transformer"
    capacity_kw = 250
    margin = 0.1                   # kept free: usable = 225 kW
    meter = "feeder-1"             # the meter at the transformer
    households = ["m0001", "m0002"]

    [load.households.m0002]
    priority = "medical"           # or "critical": never limited nor disconnected
    limiter = false                # only a disconnection can act on it (last resort)
    min_w = 1000

    [[load.demand_response]]
    id = "evening-1"
    version = 1                    # a higher version replaces it; cancelled = true ends it
    feeder = "f1"                  # or households = [...], a group
    start = 2026-11-30T17:00:00Z
    end = 2026-11-30T19:00:00Z
    reduction_kw = 20
    spread = "PT10M"               # each household starts and ends up to 10 minutes late
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta
from enum import StrEnum
from typing import Literal

from pydantic import (
    AwareDatetime,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from drivers.obis import ObisCode
from headend.config.base import FrozenModel, Identifier


class PriorityClass(StrEnum):
    NORMAL = "normal"
    MEDICAL = "medical"
    CRITICAL = "critical"

    @property
    def protected(self) -> bool:
        """Never limited, never disconnected for load."""
        return self is not PriorityClass.NORMAL


class FeederSettings(FrozenModel):
    """A feeder or a transformer: its capacity, the margin kept below it, the meter that measures
    it and the households it supplies."""

    id: Identifier
    kind: Literal["feeder", "transformer"] = "feeder"
    capacity_kw: float = Field(gt=0, allow_inf_nan=False)
    margin: float = Field(
        default=0.1, ge=0, lt=1, description="safety margin, a fraction of the capacity"
    )
    meter: Identifier = Field(description="the feeder meter at the transformer")
    households: list[Identifier] = Field(default_factory=list, description="household meter ids")

    @property
    def margin_kw(self) -> float:
        return self.capacity_kw * self.margin

    @property
    def usable_kw(self) -> float:
        return self.capacity_kw - self.margin_kw


class HouseholdSettings(FrozenModel):
    """Overrides for one household (by meter id); unset values come from the section's defaults."""

    min_w: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    max_w: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    priority: PriorityClass = PriorityClass.NORMAL
    limiter: bool = Field(default=True, description="false: the meter can only be disconnected")
    weight: float = Field(default=1.0, gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _min_within_max(self) -> HouseholdSettings:
        if self.min_w is not None and self.max_w is not None and self.min_w > self.max_w:
            raise ValueError(f"min_w ({self.min_w:g} W) exceeds max_w ({self.max_w:g} W)")
        return self


class DemandResponseEvent(FrozenModel):
    """A reduction of a feeder's (or a group of households') load between a start and an end.

    A newer `version` of the same `id` replaces the older one; `cancelled` ends it. Each household
    starts and ends the event late by its own offset in [0, spread), so the feeder sees a ramp,
    not a step."""

    id: Identifier
    version: int = Field(default=1, ge=1)
    feeder: Identifier | None = None
    households: list[Identifier] | None = Field(default=None, description="a group, not a feeder")
    start: AwareDatetime
    end: AwareDatetime
    reduction_kw: float = Field(gt=0, allow_inf_nan=False)
    spread: timedelta = Field(default=timedelta(0))
    cancelled: bool = False

    @field_validator("spread")
    @classmethod
    def _spread(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError("must not be negative")
        return value

    @field_validator("households")
    @classmethod
    def _group(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("a group needs at least one household")
        return value

    @model_validator(mode="after")
    def _target_and_window(self) -> DemandResponseEvent:
        if (self.feeder is None) == (self.households is None):
            raise ValueError("name exactly one target: feeder or households")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class LoadSettings(FrozenModel):
    cycle: timedelta = Field(default=timedelta(minutes=5), description="control cycle")
    lease: timedelta = Field(
        default=timedelta(minutes=15), description="a limit's lifetime unless renewed"
    )
    ramp_up_kw_per_cycle: float = Field(default=0.5, gt=0, allow_inf_nan=False)
    hold_cycles: int = Field(default=2, ge=0, le=1000)
    limit_step_w: int = Field(
        default=100,
        ge=1,
        le=10_000,
        description="limits in whole steps, rounded down: a larger step means fewer changes "
        "for a little less energy served",
    )
    default_max_w: float = Field(
        default=9200.0, gt=0, allow_inf_nan=False, description="contractual maximum (40 A x 230 V)"
    )
    default_min_w: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    usage_obis: ObisCode = Field(
        default="1.0.1.7.0.255", description="households' recent use: instantaneous or profile"
    )
    usage_period: timedelta | None = Field(
        default=None,
        description="when usage_obis is the energy of a profile period (Wh, e.g. 1.0.1.29.0.255), "
        "the period that turns it into a mean power",
    )
    usage_max_age: timedelta = Field(
        default=timedelta(minutes=30), description="older usage readings are not used"
    )
    feeders: list[FeederSettings] = Field(default_factory=list)
    households: dict[Identifier, HouseholdSettings] = Field(default_factory=dict)
    demand_response: list[DemandResponseEvent] = Field(default_factory=list)

    @field_validator("cycle", "usage_max_age", "usage_period")
    @classmethod
    def _positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError("must be a positive duration")
        return value

    @field_validator("lease")
    @classmethod
    def _lease(cls, value: timedelta, info: ValidationInfo) -> timedelta:
        cycle = info.data.get("cycle")  # validated before `lease`: declared first
        if isinstance(cycle, timedelta) and value <= 2 * cycle:
            raise ValueError(
                f"must exceed two cycles ({(2 * cycle).total_seconds():g} s), so a limit is "
                "renewed before it lapses"
            )
        return value

    @field_validator("default_min_w")
    @classmethod
    def _min(cls, value: float, info: ValidationInfo) -> float:
        maximum = info.data.get("default_max_w")
        if isinstance(maximum, float) and value > maximum:
            raise ValueError(f"exceeds default_max_w ({maximum:g} W)")
        return value

    def household(self, meter_id: str) -> HouseholdSettings:
        """The household's overrides, or the defaults."""
        return self.households.get(meter_id, _DEFAULT_HOUSEHOLD)

    def min_w(self, meter_id: str) -> float:
        value = self.household(meter_id).min_w
        return self.default_min_w if value is None else value

    def max_w(self, meter_id: str) -> float:
        value = self.household(meter_id).max_w
        return self.default_max_w if value is None else value

    def feeder(self, feeder_id: str) -> FeederSettings:
        for feeder in self.feeders:  # a handful of feeders: a scan is fine
            if feeder.id == feeder_id:
                return feeder
        raise KeyError(feeder_id)

    def problems(
        self, meters: Collection[str] | None = None, prefix: str = ""
    ) -> list[tuple[str, str]]:
        """(key path, reason) for each cross-reference that does not hold; with `meters`, the
        fleet's meter ids, also feeder meters and households that are not fleet meters."""
        out: list[tuple[str, str]] = []
        at = f"{prefix}." if prefix else ""
        feeder_ids: dict[str, int] = {}
        home_of: dict[str, int] = {}
        feeder_meters: dict[str, int] = {}
        for i, feeder in enumerate(self.feeders):
            where = f"{at}feeders[{i}]"
            if feeder.id in feeder_ids:
                out.append((f"{where}.id", f"duplicate feeder {feeder.id!r}"))
            feeder_ids.setdefault(feeder.id, i)
            if meters is not None and feeder.meter not in meters:
                out.append((f"{where}.meter", f"no meter {feeder.meter!r} is defined"))
            feeder_meters.setdefault(feeder.meter, i)
            for j, hid in enumerate(feeder.households):
                if meters is not None and hid not in meters:
                    out.append((f"{where}.households[{j}]", f"no meter {hid!r} is defined"))
                other = home_of.get(hid)
                if other is not None:
                    name = self.feeders[other].id
                    out.append(
                        (
                            f"{where}.households[{j}]",
                            f"household {hid!r} is already on feeder {name!r} "
                            f"({at}feeders[{other}]): a household is on one feeder only",
                        )
                    )
                else:
                    home_of[hid] = i
        for hid, i in home_of.items():
            if hid in feeder_meters:
                out.append(
                    (
                        f"{at}feeders[{i}].households",
                        f"{hid!r} is the feeder meter of {at}feeders[{feeder_meters[hid]}]",
                    )
                )
        for hid in self.households:
            if hid not in home_of:
                out.append((f"{at}households.{hid}", f"household {hid!r} is on no feeder"))
        versions: set[tuple[str, int]] = set()
        for i, event in enumerate(self.demand_response):
            where = f"{at}demand_response[{i}]"
            if (event.id, event.version) in versions:
                out.append(
                    (f"{where}.version", f"event {event.id!r} has version {event.version} twice")
                )
            versions.add((event.id, event.version))
            if event.feeder is not None and event.feeder not in feeder_ids:
                out.append((f"{where}.feeder", f"no feeder {event.feeder!r} is defined"))
            for j, hid in enumerate(event.households or ()):
                if hid not in home_of:
                    out.append((f"{where}.households[{j}]", f"household {hid!r} is on no feeder"))
        return out


_DEFAULT_HOUSEHOLD = HouseholdSettings()
