"""Billing determinants: the quantities a tariff prices, per meter and billing period.

Energy is kWh by tariff period name (the tariff's time-of-use periods, e.g. sharp, peak, flat,
valley; a flat tariff has the one period "all"). They come from the registers at the period
boundaries when the meter keeps them (preferred), otherwise from 15-minute interval data split by
the tariff calendar. Every figure keeps the quality of what it was worked from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal

from billing.vee.model import Finding, Flag, IntervalSeries, RegisterRead, worst

Source = Literal["registers", "intervals"]


@dataclass(frozen=True, slots=True)
class Determinants:
    meter_id: str
    period_start: datetime  # aware UTC, inclusive
    period_end: datetime  # aware UTC, exclusive
    source: Source
    import_kwh: dict[str, Decimal]  # by tariff period name; sums to the import register advance
    export_kwh: dict[str, Decimal]  # by tariff period name (empty when the meter exports nothing)
    max_demand_kw: Decimal | None = None  # highest 15-minute average import demand in the period
    max_demand_at: datetime | None = None  # start of that interval
    start_reads: tuple[RegisterRead, ...] = ()  # registers at period_start (register source)
    end_reads: tuple[RegisterRead, ...] = ()  # registers at period_end
    series: tuple[IntervalSeries, ...] = ()  # interval data used or checked, after VEE
    findings: tuple[Finding, ...] = ()  # VEE findings (validation and estimation)
    estimated_kwh: Decimal = Decimal(0)  # import energy that is estimated, not measured
    tier_prior_kwh: Decimal = Decimal(0)  # import billed earlier in the tier year
    notes: tuple[str, ...] = field(default=())  # e.g. "meter replaced 2026-10-14 09:30"

    @property
    def import_total(self) -> Decimal:
        return sum(self.import_kwh.values(), Decimal(0))

    @property
    def export_total(self) -> Decimal:
        return sum(self.export_kwh.values(), Decimal(0))

    @property
    def flag(self) -> Flag:
        """Worst quality of anything the determinants were worked from."""
        flags = [r.flag for r in (*self.start_reads, *self.end_reads)]
        flags += [f.flag for f in self.findings]
        for series in self.series:
            flags += set(series.flags)  # thousands of intervals, a handful of distinct flags
        return worst(flags)
