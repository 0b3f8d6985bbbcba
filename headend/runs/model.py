"""Statistics of a collection: what a plan run attempted and achieved, and daily success rates.

A run's statistics count each meter once, by its outcome after the run's re-reads (a meter that
failed at first and was read on a re-read counts as ok), so the daily collection rate of a plan is
what the utility sees: meters collected over meters attempted.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

RunTrigger = Literal["schedule", "catch-up", "on-demand", "manual"]


class RunStats(BaseModel):
    model_config = ConfigDict(frozen=True)

    run_id: str
    plan: str
    trigger: RunTrigger = "schedule"
    scheduled_for: datetime | None = Field(
        default=None, description="the schedule's fire time this run serves (None: on demand)"
    )
    started_at: datetime
    duration_s: float = Field(ge=0)
    attempted: int = Field(ge=0)
    ok: int = Field(ge=0)
    partial: int = Field(ge=0)
    failed: int = Field(ge=0)
    failed_by_cause: dict[str, int] = Field(default_factory=dict)
    rereads: int = Field(default=0, ge=0, description="re-read rounds after the first pass")
    readings: int = Field(default=0, ge=0)
    stored: int = Field(default=0, ge=0, description="readings new to the store")

    @property
    def collected(self) -> int:
        return self.ok + self.partial


class DailyRate(BaseModel):
    """Collection success of one plan on one (UTC) day, over all its runs that started that day."""

    model_config = ConfigDict(frozen=True)

    plan: str
    day: date
    runs: int
    attempted: int
    collected: int  # ok + partial

    @property
    def rate(self) -> float:
        return self.collected / self.attempted if self.attempted else 1.0
