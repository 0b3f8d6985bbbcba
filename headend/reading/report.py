"""What a reading run reports: per meter ok / partial / failed with reasons, counts, duration."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class MeterStatus(StrEnum):
    OK = "ok"  # every point (and the profile) read
    PARTIAL = "partial"  # some values read and kept, some failed
    FAILED = "failed"  # nothing read


class PointFailure(BaseModel):
    model_config = ConfigDict(frozen=True)

    obis: str
    reason: str


class MeterReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    meter_id: str
    channel_id: str
    status: MeterStatus
    readings: int = 0
    stored: int = Field(default=0, description="new rows in the store (re-reads are not new)")
    conflicts: int = Field(
        default=0, description="readings whose key is stored with another value (kept apart)"
    )
    attempts: int = 0
    failures: list[PointFailure] = Field(default_factory=list)
    skipped: list[str] = Field(
        default_factory=list, description="plan points this meter's driver cannot provide"
    )
    error: str | None = Field(default=None, description="why the last attempt failed")
    cause: str | None = Field(
        default=None,
        description="the kind of the final error: 'timeout', 'channel down', 'authentication "
        "failed', 'object unavailable', 'config', ... (None when ok)",
    )
    duration_s: float = 0.0
    last_capture: datetime | None = Field(
        default=None, description="the latest capture time of the profile rows read"
    )
    last_event: datetime | None = Field(
        default=None, description="the time of the latest event log entry read"
    )


class ChannelReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    job_id: str
    channel_id: str
    meters: list[MeterReport]


class RunReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    plan: str
    started_at: datetime
    duration_s: float
    meters: list[MeterReport]

    def count(self, status: MeterStatus) -> int:
        return sum(1 for m in self.meters if m.status is status)

    @property
    def readings(self) -> int:
        return sum(m.readings for m in self.meters)

    @property
    def stored(self) -> int:
        return sum(m.stored for m in self.meters)

    @property
    def conflicts(self) -> int:
        return sum(m.conflicts for m in self.meters)

    @property
    def all_ok(self) -> bool:
        return all(m.status is MeterStatus.OK for m in self.meters)
