"""The fleet file's reading plans (what to read: points, profile, event logs, schedule, re-reads,
clock check) and reading policy (how hard to try: retries, breakers, process-wide limits)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, ValidationInfo, field_validator

from drivers.obis import ObisCode
from headend.config.base import FrozenModel, Identifier
from headend.service.schedule import parse_schedule


class ReadingPlan(FrozenModel):
    """What to read: points by OBIS code, optionally a load profile over a window before now.

    One plan serves a fleet that mixes protocols: with `skip_unsupported` (the default) a point or
    profile that a meter's driver can never provide (not in a Modbus register map, not in the
    DL/T 645 table, a profile Modbus does not have) is skipped for that meter and listed in its
    report as skipped, not failed. DLMS meters are always asked: only the meter knows its objects.
    A plan with neither points nor a profile reads each meter's standard register set.
    """

    name: Identifier
    points: list[ObisCode] = Field(default_factory=list)
    profile: ObisCode | None = None
    skip_unsupported: bool = Field(
        default=True, description="skip points a meter's protocol or register map cannot provide"
    )
    profile_window: timedelta = Field(
        default=timedelta(days=1), description="ISO 8601 duration such as PT6H or P1D"
    )
    schedule: str | None = Field(
        default=None, description="for the scheduler, e.g. 'every 15 minutes', 'daily at 00:05'"
    )
    gap_fill: bool = Field(
        default=True,
        description="start a meter's profile read after its last stored capture (bounded by "
        "`horizon`), so an outage longer than `profile_window` leaves no gap",
    )
    horizon: timedelta = Field(
        default=timedelta(days=7), description="how far back a gap-filling read may start"
    )
    rereads: int = Field(
        default=2, ge=0, le=20, description="re-read rounds later in the run for failed meters"
    )
    reread_spacing: timedelta = Field(
        default=timedelta(minutes=1), description="wait before each re-read round"
    )
    event_logs: list[ObisCode] = Field(
        default_factory=list,
        description="also collect these event logs (DLMS: standard 0.0.99.98.0.255, fraud "
        "detection 0.0.99.98.1.255, disconnector control 0.0.99.98.2.255) since the last entry "
        "stored; meters that keep none (Modbus, DL/T 645) skip them",
    )
    clock_sync_beyond_s: float | None = Field(
        default=None,
        gt=0,
        description="clock check: synchronise a meter whose clock is further than this from "
        "the head-end's (needs the clock 0.0.1.0.0.255 among the points)",
    )

    @field_validator("profile_window", "horizon", "reread_spacing")
    @classmethod
    def _window(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be a positive duration")
        return value

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Parsed at load time so a typo is a config error naming the plan, not a scheduler crash.
        if value is not None:
            try:
                parse_schedule(value)
            except ValueError as exc:
                name = info.data.get("name")  # validated before `schedule`: declared first
                raise ValueError(f"plan {name!r}: {exc}" if name else str(exc)) from None
        return value


class ReadingPolicy(FrozenModel):
    """How hard to try: per-meter retries with exponential backoff (a failed meter goes to the back
    of its channel's queue), the circuit breaker of each channel, and process-wide limits.

    `max_channels` bounds the channel jobs in progress at once (memory for their queues; a job no
    longer holds anything while a meter waits for its retry); the sessions themselves are bounded
    by each channel, its segment and `max_sessions`, the sessions in flight in the whole process
    (file descriptors): a larger fleet is read in waves.
    """

    retries: int = Field(default=2, ge=0, le=10)
    backoff_s: float = Field(default=0.5, ge=0, le=300)
    backoff_max_s: float = Field(default=30.0, ge=0)
    meter_budget_s: float = Field(
        default=120.0, gt=0, description="hang guard: one meter's whole attempt"
    )
    max_channels: int = Field(default=4096, ge=1, le=100_000)
    max_sessions: int = Field(default=512, ge=1, le=100_000)
    breaker_failures: int = Field(
        default=3, ge=1, le=1000, description="channel-level failures in a row that open it"
    )
    breaker_backoff_s: float = Field(default=30.0, gt=0, description="first open period")
    breaker_backoff_max_s: float = Field(default=600.0, gt=0)
    clock_drift_max_s: float = Field(
        default=60.0,
        gt=0,
        description="a meter clock further than this from the head-end's time makes the values "
        "read with it clock-suspect, keyed on the receive time",
    )
