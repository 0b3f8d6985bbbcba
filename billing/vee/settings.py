"""VEE settings: the `[billing.vee]` section of the configuration (thresholds a utility sets)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field


class VeeSettings(BaseModel):
    """Thresholds of validation, estimation and editing; every field has a utility default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    interval_minutes: int = Field(
        15, gt=0, le=60, description="Length of a load-profile interval (the capture period)."
    )
    spike_multiple: Decimal = Field(
        Decimal(10),
        gt=0,
        description=(
            "An interval above this multiple of typical use is a spike (suspect). Typical use "
            "is the "
            "mean of the period's own non-zero measured intervals; with fewer than "
            "`min_typical_intervals` of them, the mean of the history's non-zero intervals."
        ),
    )
    min_typical_intervals: int = Field(
        96, ge=1, description="Non-zero measured intervals needed before a typical use is trusted."
    )
    typical_days: int = Field(
        28, ge=1, description="Days of history before the period loaded for estimation."
    )
    max_zero_intervals: int = Field(
        96,
        ge=1,
        description=(
            "More consecutive zero intervals than this are suspect (96 = a whole day without use), "
            "unless they lie inside a power outage: then they are substituted as zero."
        ),
    )
    zeros_on_export: bool = Field(
        False,
        description=(
            "Check consecutive zeros on export registers too (PV exports nothing at night)."
        ),
    )
    interpolate_max_intervals: int = Field(
        8,
        ge=1,
        description=(
            "Gaps of up to this many intervals are linearly interpolated; longer gaps take the "
            "average of matching past days (same weekday type, same slot)."
        ),
    )
    sum_tolerance_kwh: Decimal = Field(
        Decimal("0.05"),
        ge=0,
        description="Largest difference between a day's interval sum and its register advance.",
    )
    rollover_kwh: Decimal | None = Field(
        Decimal(1000000),
        gt=0,
        description=(
            "Register modulus (a six-digit kWh register rolls over at 1,000,000). A register that "
            "drops by more than half of it has rolled over; None: registers never roll over."
        ),
    )
    boundary_window_hours: int = Field(
        24,
        gt=0,
        description=(
            "A boundary read is interpolated only between reads this close to the boundary."
        ),
    )
    clock_window_minutes: int = Field(
        15,
        ge=0,
        description="Intervals this close to a clock adjustment are suspect.",
    )
    profile_min_coverage: Decimal = Field(
        Decimal("0.25"),
        ge=0,
        le=1,
        description=(
            "Share of the period's 15-minute captures present before a register is treated as "
            "having a load profile (a meter with daily reads only has none)."
        ),
    )
    estimate_resolution_kwh: Decimal = Field(
        Decimal("0.001"), gt=0, description="Estimates are rounded to this (1 Wh)."
    )
