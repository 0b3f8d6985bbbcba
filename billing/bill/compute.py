"""The bill engine: price one meter's determinants for a billing period by a tariff.

`compute_bill` is pure: the same tariff, determinants and period give the same bill, line for
line, with the same `bill_id`. Each line is rounded by the tariff's `MoneyRule`; the total is the
sum of the rounded lines.

Lines, in order: energy (or net energy under net metering) per period, tier blocks, demand,
export credit (net billing), fixed charges.

Rules a tariff file cannot say by itself:
- Part of a period (e.g. a prepaid account's month-to-date): `det` may cover only part of
  `period`. The share is covered local days / days of the period (a partly covered day counts
  by its covered fraction). Monthly fixed charges, the demand charge (a rate per month) and the
  block limits of monthly tiers are multiplied by that share (prorated limits rounded to 0.001
  kWh); daily charges count the covered days. A full period has a share of exactly 1.
- Tiers price the energy billed at the import rates: gross import, or under net metering the sum
  of the periods' positive net energy. Annual tiers start from `det.tier_prior_kwh` (import
  already billed in the tier year); monthly tiers start from zero.
- Net metering: per period, import minus export at that period's import rate; a period whose
  export exceeds import is credited at the import rate (`excess = "credit"`) or gives nothing
  (`excess = "zero"`), and is never carried to another period or month.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from billing.bill.identity import bill_id
from billing.bill.model import Bill, LineItem
from billing.determinants.model import Determinants
from billing.money import MoneyRule
from billing.period import BillingPeriod
from billing.tariff.calendar import TariffCalendar
from billing.tariff.model import Tariff

ZERO = Decimal(0)
ONE = Decimal(1)
KWH_DISPLAY = Decimal("0.001")
SHARE_DISPLAY = Decimal("0.000001")
IMPORT_PROFILE_OBIS = "1.0.1.8.0.255"

_calendars: dict[str, TariffCalendar] = {}


def calendar_for(tariff: Tariff) -> TariffCalendar:
    """One calendar per tariff content (its label cache is worth keeping across bills)."""
    found = _calendars.get(tariff.digest)
    if found is None:
        found = _calendars[tariff.digest] = TariffCalendar(tariff)
    return found


@dataclass(frozen=True, slots=True)
class Coverage:
    """How much of the billing period the determinants cover."""

    days: Decimal  # covered local days (fractional for a partly covered day)
    period_days: int

    @property
    def share(self) -> Decimal:
        return ONE if self.full else self.days / self.period_days

    @property
    def full(self) -> bool:
        return self.days == self.period_days


def compute_bill(tariff: Tariff, det: Determinants, period: BillingPeriod) -> Bill:
    _check(tariff, det, period)
    coverage = coverage_of(det, period)
    money = tariff.money
    quality = det.flag
    lines: list[LineItem] = []
    energy_lines, billed_kwh = _energy(tariff, det, money)
    lines += energy_lines
    lines += _tier_lines(tariff, det, billed_kwh, coverage, money)
    lines += _demand_lines(tariff, det, coverage, money)
    lines += _export_lines(tariff, det, money)
    lines += _fixed_lines(tariff, coverage, money)
    notes = list(det.notes)
    if not coverage.full:
        notes.append(
            f"part of the period: {_num(coverage.days)} of {coverage.period_days} days billed "
            f"({det.period_start.isoformat()} to {det.period_end.isoformat()}); monthly "
            "charges and monthly tier blocks prorated"
        )
    return Bill(
        bill_id=bill_id(tariff, det, period, quality.value),
        meter_id=det.meter_id,
        period=period.name,
        period_start=det.period_start,
        period_end=det.period_end,
        tariff_id=tariff.id,
        tariff_digest=tariff.digest,
        currency=money.currency,
        lines=lines,
        total=sum((line.amount for line in lines), ZERO),
        import_kwh=det.import_total,
        export_kwh=det.export_total,
        source=det.source,
        quality=quality.value,
        estimated_kwh=det.estimated_kwh,
        notes=notes,
    )


def _check(tariff: Tariff, det: Determinants, period: BillingPeriod) -> None:
    where = f"meter {det.meter_id}, period {period.name}"
    if period.timezone != tariff.timezone:
        raise ValueError(
            f"{where}: the period is in {period.timezone} but tariff {tariff.id} in "
            f"{tariff.timezone}: make the period with the tariff's time zone"
        )
    if not period.start <= det.period_start < det.period_end <= period.end:
        raise ValueError(
            f"{where}: determinants cover {det.period_start.isoformat()} to "
            f"{det.period_end.isoformat()}, not a non-empty part of the period "
            f"{period.start.isoformat()} to {period.end.isoformat()}"
        )
    known = set(tariff.period_names)
    unknown = [name for name in det.import_kwh if name not in known]
    if _export_by_period(tariff):
        unknown += [name for name in det.export_kwh if name not in known]
    if unknown:
        raise ValueError(
            f"{where}: determinants name periods {sorted(set(unknown))} that tariff {tariff.id} "
            f"does not have (periods: {', '.join(tariff.period_names)})"
        )


def _export_by_period(tariff: Tariff) -> bool:
    export = tariff.export
    if export is None:
        return False
    if export.mode == "net-metering":
        return len(tariff.period_names) > 1
    return bool(export.rates)


def coverage_of(det: Determinants, period: BillingPeriod) -> Coverage:
    days = period.days()
    if det.period_start == period.start and det.period_end == period.end:
        return Coverage(Decimal(len(days)), len(days))
    covered = ZERO
    for day in days:
        start, end = period.day_bounds(day)
        lo, hi = max(start, det.period_start), min(end, det.period_end)
        if hi <= lo:
            continue
        if lo == start and hi == end:
            covered += ONE
        else:
            covered += Decimal(int((hi - lo).total_seconds())) / int((end - start).total_seconds())
    return Coverage(covered, len(days))


def _energy(tariff: Tariff, det: Determinants, money: MoneyRule) -> tuple[list[LineItem], Decimal]:
    """Energy (or net energy) lines, and the energy the tiers price."""
    cur = money.currency
    export = tariff.export
    lines: list[LineItem] = []
    if export is not None and export.mode == "net-metering":
        exports = det.export_kwh if _export_by_period(tariff) else {}
        billed = ZERO
        for name in tariff.period_names:
            imported = det.import_kwh.get(name, ZERO)
            exported = exports.get(name, ZERO) if exports else det.export_total
            net = imported - exported
            billed += max(net, ZERO)
            if tariff.tier_mode == "price":
                continue  # the tiers are the price of the net energy
            if name not in det.import_kwh and not net:
                continue  # a period the billed span never had (e.g. another season's)
            rate = tariff.rates[name]
            working = f"import {_num(imported)} - export {_num(exported)} = {_num(net)} kWh"
            if net >= 0:
                text, amount = f"Net energy, {name}: {working} at {rate} {cur}/kWh", net * rate
            elif export.excess == "credit":
                text, amount = (
                    f"Net export, {name}: {working}, credited at {rate} {cur}/kWh",
                    net * rate,
                )
            else:
                text, amount = f"Net export, {name}: {working}, not credited", ZERO
                rate = ZERO
            lines.append(_line("net", text, name, net, "kWh", rate, amount, money))
        return lines, billed
    if tariff.tier_mode == "price":
        return [], det.import_total
    for name in tariff.period_names:
        if name not in det.import_kwh:
            continue  # a period the billed span never had (e.g. another season's)
        kwh = det.import_kwh[name]
        rate = tariff.rates[name]
        text = f"Energy, {name}: {_num(kwh)} kWh at {rate} {cur}/kWh"
        lines.append(_line("energy", text, name, kwh, "kWh", rate, kwh * rate, money))
    return lines, det.import_total


def _tier_lines(
    tariff: Tariff, det: Determinants, billed: Decimal, coverage: Coverage, money: MoneyRule
) -> list[LineItem]:
    if not tariff.tiers or billed <= 0:
        return []
    per = "year" if tariff.tier_basis == "year" else "month"
    prior = det.tier_prior_kwh if per == "year" else ZERO
    scale = ONE if per == "year" else coverage.share
    plus = "+" if tariff.tier_mode == "adder" else ""
    what = "net energy" if tariff.export and tariff.export.mode == "net-metering" else "import"
    lines: list[LineItem] = []
    low = ZERO
    for i, tier in enumerate(tariff.tiers):
        high = None
        if tier.up_to_kwh is not None:
            high = (
                tier.up_to_kwh if scale == ONE else (tier.up_to_kwh * scale).quantize(KWH_DISPLAY)
            )
        start = max(prior, low)
        stop = prior + billed if high is None else min(prior + billed, high)
        if stop > start:
            kwh = stop - start
            block = f"above {_num(low)}" if high is None else f"{_num(low)}-{_num(high)}"
            if scale != ONE:
                block += f" (prorated for {_num(coverage.days)} of {coverage.period_days} days)"
            text = (
                f"Tier {i + 1}, {block} kWh per {per} of {what}: {_num(kwh)} kWh at "
                f"{plus}{tier.rate} {money.currency}/kWh"
            )
            lines.append(
                _line("tier", text, f"tier-{i + 1}", kwh, "kWh", tier.rate, kwh * tier.rate, money)
            )
        if high is None:
            break
        low = high
    return lines


def _demand_lines(
    tariff: Tariff, det: Determinants, coverage: Coverage, money: MoneyRule
) -> list[LineItem]:
    demand = tariff.demand
    if demand is None:
        return []
    kw, at = max_demand(tariff, det)
    where = f" in {', '.join(demand.periods)}" if demand.periods else ""
    when = f" on {at.isoformat()}" if at is not None else ""
    text = (
        f"Demand charge: maximum demand{where} {_num(kw)} kW{when} at {demand.rate} "
        f"{money.currency}/kW per month"
    )
    if not coverage.full:
        text += f", prorated for {_num(coverage.days)} of {coverage.period_days} days"
    amount = kw * demand.rate * coverage.days / coverage.period_days
    period = ",".join(demand.periods) or None
    return [_line("demand", text, period, kw, "kW", demand.rate, amount, money)]


def max_demand(tariff: Tariff, det: Determinants) -> tuple[Decimal, datetime | None]:
    """Maximum demand (kW) that the demand charge prices, and the start of its interval."""
    assert tariff.demand is not None
    periods = set(tariff.demand.periods)
    series = next((s for s in det.series if s.obis == IMPORT_PROFILE_OBIS and len(s)), None)
    if series is not None and (periods or det.max_demand_kw is None):
        if periods:
            labels = calendar_for(tariff).labels(series.start, series.interval, len(series))
        else:
            labels = [""] * len(series)
            periods = {""}
        best_i, best = -1, ZERO
        for i, (label, kwh) in enumerate(zip(labels, series.kwh, strict=True)):
            if label in periods and (best_i < 0 or kwh > best):
                best_i, best = i, kwh
        if best_i < 0:
            return ZERO, None
        per_hour = Decimal(3600) / Decimal(int(series.interval.total_seconds()))
        return (best * per_hour).quantize(KWH_DISPLAY), series.interval_start(best_i)
    if det.max_demand_kw is not None:
        at = det.max_demand_at
        if not periods or (at is not None and calendar_for(tariff).period_of(at) in periods):
            return det.max_demand_kw, at
    raise ValueError(
        f"meter {det.meter_id}: tariff {tariff.id} has a demand charge"
        + (f" over {sorted(periods)}" if periods else "")
        + " but the determinants have no maximum demand for it (no import interval series)"
    )


def _export_lines(tariff: Tariff, det: Determinants, money: MoneyRule) -> list[LineItem]:
    export = tariff.export
    if export is None or export.mode != "net-billing":
        return []
    cur = money.currency
    if export.rate is not None:
        kwh = det.export_total
        text = f"Export credit: {_num(kwh)} kWh at {export.rate} {cur}/kWh"
        return [_line("export", text, None, kwh, "kWh", export.rate, -kwh * export.rate, money)]
    lines = []
    for name in tariff.period_names:
        kwh = det.export_kwh.get(name, ZERO)
        rate = export.rates[name]
        text = f"Export credit, {name}: {_num(kwh)} kWh at {rate} {cur}/kWh"
        lines.append(_line("export", text, name, kwh, "kWh", rate, -kwh * rate, money))
    return lines


def _fixed_lines(tariff: Tariff, coverage: Coverage, money: MoneyRule) -> list[LineItem]:
    lines = []
    cur = money.currency
    for charge in tariff.fixed:
        if charge.per == "day":
            days = coverage.days
            text = f"{charge.name}: {_num(days)} days at {charge.rate} {cur}/day"
            lines.append(
                _line("fixed", text, None, days, "day", charge.rate, days * charge.rate, money)
            )
            continue
        months = coverage.share.quantize(SHARE_DISPLAY) if not coverage.full else ONE
        text = f"{charge.name}: {charge.rate} {cur}/month"
        if not coverage.full:
            text += f", prorated for {_num(coverage.days)} of {coverage.period_days} days"
        amount = charge.rate * coverage.days / coverage.period_days
        lines.append(_line("fixed", text, None, months, "month", charge.rate, amount, money))
    return lines


def _line(
    kind: str,
    text: str,
    period: str | None,
    quantity: Decimal,
    unit: str,
    rate: Decimal,
    amount: Decimal,
    money: MoneyRule,
) -> LineItem:
    return LineItem(
        kind=kind,  # type: ignore[arg-type]
        description=text,
        tariff_period=period,
        quantity=quantity,
        unit=unit,
        rate=rate,
        amount=money.round(amount),
    )


def _num(value: Decimal) -> str:
    """A quantity for a description: at most 3 decimals when it has more, no exponent."""
    if value.as_tuple().exponent < -3:  # type: ignore[operator]
        value = value.quantize(KWH_DISPLAY)
    return f"{value:f}"
