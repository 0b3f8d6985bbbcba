"""Consistency checks of a tariff, each problem as (key path in the file, reason).

Runs inside `Tariff` validation, so no tariff that fails them can be built. Key paths follow the
TOML file: `periods.weekday[2].end`, `seasons[1].start`, `tiers[1].up_to_kwh`, `rates.sharp`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from billing.tariff.model import (
    FLAT_PERIOD,
    MINUTES_PER_DAY,
    Band,
    DayBands,
    obis_problem,
    zone_problem,
)

if TYPE_CHECKING:
    from billing.tariff.model import Tariff

Problem = tuple[str, str]


def first_problem(tariff: Tariff) -> Problem | None:
    return next(problems(tariff), None)


def problems(tariff: Tariff) -> Iterator[Problem]:
    reason = zone_problem(tariff.timezone)
    if reason:
        yield "timezone", reason
    if len(set(tariff.weekend)) != len(tariff.weekend):
        yield "weekend", "a day is listed twice"
    yield from _band_tables(tariff)
    yield from _seasons(tariff)
    yield from _rates(tariff)
    yield from _tiers(tariff)
    yield from _demand(tariff)
    yield from _export(tariff)
    yield from _registers(tariff)


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _band_tables(tariff: Tariff) -> Iterator[Problem]:
    tables: list[tuple[str, DayBands | None]] = [("periods", tariff.periods)]
    tables += [(f"seasons[{i}].periods", s.periods) for i, s in enumerate(tariff.seasons)]
    for prefix, table in tables:
        if table is None:
            continue
        for day_type, bands in table.given():
            yield from _day_coverage(f"{prefix}.{day_type}", bands)


def _day_coverage(key: str, bands: list[Band]) -> Iterator[Problem]:
    """Each minute of the day in exactly one band."""
    if not bands:
        yield key, "no bands: a day type needs bands covering 00:00 to 24:00"
        return
    owner: list[int | None] = [None] * MINUTES_PER_DAY
    for j, band in enumerate(bands):
        for start, end in band.minutes():
            for minute in range(start, end):
                k = owner[minute]
                if k is not None:
                    stop = minute
                    while stop < end and owner[stop] == k:
                        stop += 1
                    which = "start" if minute == start else "end"
                    yield (
                        f"{key}[{j}].{which}",
                        f"band {band.text()} overlaps {key}[{k}] ({bands[k].text()}) "
                        f"from {_hhmm(minute)} to {_hhmm(stop)}",
                    )
                    return
                owner[minute] = j
    if None in owner:
        first = owner.index(None)
        stop = first
        while stop < MINUTES_PER_DAY and owner[stop] is None:
            stop += 1
        yield key, f"the day is not fully covered: no band from {_hhmm(first)} to {_hhmm(stop)}"


def _seasons(tariff: Tariff) -> Iterator[Problem]:
    if not tariff.seasons:
        return
    names: dict[str, int] = {}
    owner: dict[tuple[int, int], int] = {}
    for i, season in enumerate(tariff.seasons):
        if season.name in names:
            yield f"seasons[{i}].name", f"season {season.name!r} is named twice"
            return
        names[season.name] = i
        if season.periods is None and tariff.periods is None:
            yield (
                f"seasons[{i}].periods",
                "no bands: give this season periods or the tariff a top-level [periods]",
            )
            return
        for day in season.days():
            if day in owner:
                other = tariff.seasons[owner[day]].name
                yield (
                    f"seasons[{i}].start",
                    f"season {season.name!r} ({season.start} to {season.end}) overlaps season "
                    f"{other!r} on {day[0]:02d}-{day[1]:02d}",
                )
                return
            owner[day] = i
    if len(owner) < 366:
        missing = [d for d in _leap_year_days() if d not in owner]
        first, last = missing[0], missing[0]
        for day in missing[1:]:
            if _next_day(last) != day:
                break
            last = day
        yield (
            "seasons",
            f"the year is not fully covered: no season covers {first[0]:02d}-{first[1]:02d} "
            f"to {last[0]:02d}-{last[1]:02d}",
        )


def _leap_year_days() -> list[tuple[int, int]]:
    from billing.tariff.model import Season

    return Season(name="all", start="01-01", end="12-31").days()


def _next_day(day: tuple[int, int]) -> tuple[int, int]:
    days = _leap_year_days()
    return days[(days.index(day) + 1) % len(days)]


def _band_names(tariff: Tariff) -> dict[str, str]:
    """Period name -> the first key path of a band that names it."""
    found: dict[str, str] = {}
    tables: list[tuple[str, DayBands | None]] = [("periods", tariff.periods)]
    tables += [(f"seasons[{i}].periods", s.periods) for i, s in enumerate(tariff.seasons)]
    for prefix, table in tables:
        if table is None:
            continue
        for day_type, bands in table.given():
            for j, band in enumerate(bands):
                found.setdefault(band.period, f"{prefix}.{day_type}[{j}]")
    return found


def _rates(tariff: Tariff) -> Iterator[Problem]:
    if tariff.tier_mode == "price":
        if tariff.is_time_of_use:
            yield (
                "tier_mode",
                'tiers are the price only in a flat tariff (no periods): use tier_mode = "adder" '
                "with [rates] for time-of-use",
            )
        elif tariff.rates:
            yield "rates", 'a tariff whose tiers are the price (tier_mode = "price") has no rates'
        elif not tariff.tiers:
            yield "tiers", 'tier_mode = "price" needs [[tiers]]'
        return
    used = _band_names(tariff) if tariff.is_time_of_use else {FLAT_PERIOD: "the flat tariff"}
    for name in tariff.rates:
        if name not in used:
            known = ", ".join(used)
            yield f"rates.{name}", f"unknown period {name!r}: no band names it (periods: {known})"
            return
    for name, where in used.items():
        if name not in tariff.rates:
            yield f"rates.{name}", f"missing: no rate for period {name!r} (named by {where})"
            return


def _tiers(tariff: Tariff) -> Iterator[Problem]:
    if tariff.tiers and tariff.tier_basis is None:
        yield "tier_basis", 'tiers need tier_basis = "month" or "year"'
        return
    if tariff.tier_basis is not None and not tariff.tiers:
        yield "tier_basis", "tier_basis is set but there are no [[tiers]]"
        return
    below = None
    for i, tier in enumerate(tariff.tiers):
        key = f"tiers[{i}].up_to_kwh"
        last = i == len(tariff.tiers) - 1
        if tier.up_to_kwh is None:
            if not last:
                yield key, "only the last tier may be open-ended (no up_to_kwh)"
                return
            continue
        if last:
            yield (
                key,
                f"the last tier must be open-ended (no up_to_kwh): energy above {tier.up_to_kwh} "
                "kWh would have no price",
            )
            return
        if below is None and tier.up_to_kwh <= 0:
            yield key, f"{tier.up_to_kwh} kWh: the first tier must end above 0 kWh"
            return
        if below is not None and tier.up_to_kwh <= below:
            yield (
                key,
                f"tiers out of order: {tier.up_to_kwh} kWh is not above tiers[{i - 1}].up_to_kwh "
                f"({below} kWh)",
            )
            return
        below = tier.up_to_kwh


def _demand(tariff: Tariff) -> Iterator[Problem]:
    if tariff.demand is None:
        return
    for i, name in enumerate(tariff.demand.periods):
        if name not in tariff.period_names:
            known = ", ".join(tariff.period_names)
            yield f"demand.periods[{i}]", f"unknown period {name!r} (periods: {known})"
            return


def _export(tariff: Tariff) -> Iterator[Problem]:
    export = tariff.export
    if export is None:
        return
    if export.mode == "net-metering":
        if export.rate is not None or export.rates:
            key = "export.rate" if export.rate is not None else "export.rates"
            yield key, "net metering prices net energy at the import rates: no export rate"
        elif export.excess == "credit" and tariff.tier_mode == "price":
            yield (
                "export.excess",
                'a net export cannot be credited when tiers are the price: use excess = "zero"',
            )
        return
    if export.rate is None and not export.rates:
        yield "export.rate", "net billing needs an export rate (rate, or rates per period)"
        return
    if export.rate is not None and export.rates:
        yield "export.rates", "give either rate or rates per period, not both"
        return
    for name in export.rates:
        if name not in tariff.period_names:
            known = ", ".join(tariff.period_names)
            yield f"export.rates.{name}", f"unknown period {name!r} (periods: {known})"
            return
    if export.rates:
        for name in tariff.period_names:
            if name not in export.rates:
                yield f"export.rates.{name}", f"missing: no export rate for period {name!r}"
                return


def _registers(tariff: Tariff) -> Iterator[Problem]:
    seen: dict[str, str] = {}
    for name, code in tariff.registers.items():
        key = f"registers.{name}"
        if name not in tariff.period_names:
            known = ", ".join(tariff.period_names)
            yield key, f"unknown period {name!r} (periods: {known})"
            return
        reason = obis_problem(code)
        if reason:
            yield key, reason
            return
        if code in seen:
            yield (
                key,
                f"register {code} is also registers.{seen[code]}: one register cannot be split "
                "between two periods",
            )
            return
        seen[code] = name
