"""What determinants are worked from: the stored data of one meter around a billing period
(`MeterData`, loaded by the caller) and meter replacements (`Replacement`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

# (capture time aware UTC, cumulative kWh, stored quality text: ok, estimated, suspect,
# clock-adjusted, clock-suspect)
Capture = tuple[datetime, Decimal, str]


@runtime_checkable
class ColumnsLike(Protocol):
    """One register as columns: the store's `RegisterColumns` has this shape (values in kWh)."""

    @property
    def times(self) -> Sequence[datetime]: ...  # aware UTC, increasing

    @property
    def values(self) -> Sequence[Decimal]: ...  # cumulative kWh

    @property
    def flagged(self) -> Mapping[datetime, str]: ...  # quality of the values that are not "ok"


@dataclass(frozen=True, slots=True)
class Columns:
    """A register as columns, for a loader that converts the store's values to kWh."""

    times: Sequence[datetime]
    values: Sequence[Decimal]
    flagged: Mapping[datetime, str] = field(default_factory=dict)


# either form: (time, kWh, quality) tuples sorted by time, or columns (cheaper: no tuples)
RegisterInput = Sequence[Capture] | ColumnsLike

IMPORT_TOTAL = "1.0.1.8.0.255"
EXPORT_TOTAL = "1.0.2.8.0.255"


@dataclass(frozen=True, slots=True)
class MeterData:
    """One meter's stored data for a period and a day's margin either side.

    `registers` maps OBIS to its values in time order: the load profile's 15-minute captures of
    the cumulative registers 1.0.1.8.0.255 and 1.0.2.8.0.255 (when the meter keeps a profile),
    the daily registers (1.0.1.8.0.255, 1.0.1.8.1..4.255, 1.0.2.8.0.255) and any register reads,
    all in one list (or one set of columns) per OBIS, in kWh. `history` holds the import
    profile's captures over the `typical_days` before the period (key 1.0.1.8.0.255).
    """

    meter_id: str
    registers: Mapping[str, RegisterInput]
    history: Mapping[str, RegisterInput] = field(default_factory=dict)
    outages: Sequence[tuple[datetime, datetime]] = ()  # power down .. power up
    clock_adjustments: Sequence[datetime] = ()


class Replacement(BaseModel):
    """A meter exchanged at `at`: the old meter's final and the new meter's first reading."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    meter_id: str
    at: datetime
    old_final: dict[str, Decimal]  # OBIS -> cumulative kWh of the old meter when removed
    new_first: dict[str, Decimal]  # OBIS -> cumulative kWh of the new meter when fitted
    note: str = ""

    @field_validator("at")
    @classmethod
    def _aware(cls, at: datetime) -> datetime:
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError("needs a time zone (e.g. 2026-10-14T09:30:00+00:00)")
        return at

    @model_validator(mode="after")
    def _same_registers(self) -> Replacement:
        if set(self.old_final) != set(self.new_first):
            raise ValueError(
                f"old_final names {sorted(self.old_final)} but new_first {sorted(self.new_first)}:"
                " give both readings of every register"
            )
        return self
