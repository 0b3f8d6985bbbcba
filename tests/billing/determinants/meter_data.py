"""Builders of hand-made meter data for the VEE and determinants tests: cumulative captures
from interval uses, the simulator's tariff periods by UTC hour, and a call of determinants_for."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from billing.determinants.compute import determinants_for
from billing.determinants.inputs import Capture, MeterData, RegisterInput, Replacement
from billing.determinants.model import Determinants
from billing.vee.settings import VeeSettings

STEP = timedelta(minutes=15)
DAY1 = datetime(2026, 10, 1, tzinfo=UTC)  # a Thursday
DAY2 = DAY1 + timedelta(days=1)
IMPORT = "1.0.1.8.0.255"
EXPORT = "1.0.2.8.0.255"
SIM_REGISTERS = {
    "night": "1.0.1.8.1.255",
    "day": "1.0.1.8.2.255",
    "peak": "1.0.1.8.3.255",
    "shoulder": "1.0.1.8.4.255",
}


def D(text: str | int) -> Decimal:
    return Decimal(text)


def period_name(at: datetime) -> str:
    """The simulator's registers by UTC hour: night 23-07, day 07-17, peak 17-21, shoulder 21-23."""
    hour = at.hour
    if hour >= 23 or hour < 7:
        return "night"
    if hour < 17:
        return "day"
    return "peak" if hour < 21 else "shoulder"


def labels(start: datetime, interval: timedelta, count: int) -> list[str]:
    return [period_name(start + interval * i) for i in range(count)]


def flat_labels(start: datetime, interval: timedelta, count: int) -> list[str]:
    return ["all"] * count


def cumulative(
    at: datetime,
    base: Decimal,
    uses: Sequence[Decimal],
    *,
    missing: Sequence[int] = (),
    quality: Mapping[int, str] | None = None,
    step: timedelta = STEP,
) -> list[Capture]:
    """Captures at `at + i*step` for i = 0..len(uses): base plus the uses so far; capture i is
    left out when i is in `missing`, and stored with `quality[i]` when given."""
    out: list[Capture] = []
    value = base
    skip = set(missing)
    for i in range(len(uses) + 1):
        if i not in skip:
            out.append((at + step * i, value, (quality or {}).get(i, "ok")))
        if i < len(uses):
            value += uses[i]
    return out


def run(
    registers: Mapping[str, RegisterInput],
    *,
    start: datetime = DAY1,
    end: datetime = DAY2,
    tariff_registers: Mapping[str, str] | None = None,
    needs_intervals: bool = False,
    settings: VeeSettings | None = None,
    history: Mapping[str, RegisterInput] | None = None,
    outages: Sequence[tuple[datetime, datetime]] = (),
    clock_adjustments: Sequence[datetime] = (),
    replacements: Sequence[Replacement] = (),
    flat: bool = False,
) -> Determinants:
    data = MeterData("m1", registers, history or {}, outages, clock_adjustments)
    return determinants_for(
        data,
        start=start,
        end=end,
        period_of=(lambda _at: "all") if flat else period_name,
        labels=flat_labels if flat else labels,
        registers=tariff_registers if tariff_registers is not None else {},
        needs_intervals=needs_intervals,
        settings=settings or VeeSettings(),
        replacements=replacements,
    )
