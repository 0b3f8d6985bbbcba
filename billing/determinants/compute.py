"""Billing determinants of one meter and period (`determinants_for`), pure code on `MeterData`.

Energy comes from the tariff registers at the period boundaries when the tariff maps every period
to a register that has both boundary reads and the tariff needs no intervals; otherwise from the
import profile split by the tariff calendar's labels. The profiles are built and validated
whenever they exist (their sums are checked against the daily tariff registers).

Export: by tariff period from the export profile when the meter keeps one; otherwise the whole
advance of 1.0.2.8.0.255 under the calendar's single period name when the tariff has one period,
else under the key "all" (the bill engine credits or nets it as a whole).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial

from billing.determinants.inputs import EXPORT_TOTAL, IMPORT_TOTAL, MeterData, Replacement
from billing.determinants.intervals import Labels, Runs, label_runs, max_demand, split_by_period
from billing.determinants.model import Determinants, Source
from billing.determinants.registers import Boundary, advance, boundary
from billing.determinants.replacement import apply_replacements, offset_at
from billing.determinants.shape import ProfileShape
from billing.vee.grid import grid_for
from billing.vee.model import RULE_BOUNDARY, Finding, Flag, IntervalSeries, RegisterRead
from billing.vee.register import EMPTY, Register, as_register
from billing.vee.series import vee_series
from billing.vee.settings import VeeSettings

ZERO = Decimal(0)
EXPORT_ALL = "all"


class DeterminantsError(ValueError):
    """The data cannot give the determinants the tariff needs (names the meter and the reason)."""

    def __init__(self, meter_id: str, reason: str) -> None:
        super().__init__(f"meter {meter_id}: {reason}")
        self.meter_id = meter_id
        self.reason = reason


def _rates(registers: Mapping[str, Register], total: str) -> dict[str, Register]:
    """The tariff registers beside a total (1.0.1.8.1.255.. beside 1.0.1.8.0.255)."""
    prefix = total[: total.rindex(".", 0, -4) + 1]  # "1.0.1.8."
    return {
        obis: register
        for obis, register in registers.items()
        if obis.startswith(prefix) and obis != total and obis.endswith(".255") and len(register)
    }


def determinants_for(
    data: MeterData,
    *,
    start: datetime,
    end: datetime,
    period_of: Callable[[datetime], str],
    labels: Labels,
    registers: Mapping[str, str],
    needs_intervals: bool,
    settings: VeeSettings,
    replacements: Sequence[Replacement] = (),
    tier_prior_kwh: Decimal = ZERO,
) -> Determinants:
    """Determinants of `data.meter_id` over [start, end); DeterminantsError when the data cannot.

    `labels` (the tariff calendar's period of each 15-minute interval) does all the splitting;
    `period_of` is part of the agreed call and not needed beside it. `max_demand_kw` is given
    whenever the meter has an import profile, whatever the source of the energy.
    """
    meter_id = data.meter_id
    interval = timedelta(minutes=settings.interval_minutes)
    grid = grid_for(start, end, interval)
    stored = {obis: as_register(values) for obis, values in data.registers.items()}
    regs, shifts, findings, notes = apply_replacements(meter_id, stored, replacements, start, end)

    imp = vee_series(
        meter_id,
        IMPORT_TOTAL,
        regs.get(IMPORT_TOTAL, EMPTY),
        grid,
        settings,
        history=as_register(data.history.get(IMPORT_TOTAL, ())),
        outages=data.outages,
        clock_adjustments=data.clock_adjustments,
        rates=_rates(regs, IMPORT_TOTAL),
    )
    exp = vee_series(
        meter_id,
        EXPORT_TOTAL,
        regs.get(EXPORT_TOTAL, EMPTY),
        grid,
        settings,
        outages=data.outages,
        clock_adjustments=data.clock_adjustments,
        rates=_rates(regs, EXPORT_TOTAL),
        check_zeros=settings.zeros_on_export,
    )
    for result in (imp, exp):
        if result is not None:
            findings.extend(result.findings)

    mapped = dict(registers)
    period_of_register = {obis: name for name, obis in mapped.items()}
    shaper = ProfileShape(regs[IMPORT_TOTAL], labels, interval) if imp is not None else None
    firsts: dict[str, Boundary] = {}
    lasts: dict[str, Boundary] = {}
    for obis in sorted(regs):
        register = regs[obis]
        entries = shifts.get(obis, ())
        name = period_of_register.get(obis)
        shape = partial(shaper.share, name) if shaper is not None and name is not None else None
        for at, inside_after, found in ((start, True, firsts), (end, False, lasts)):
            read = boundary(
                meter_id,
                obis,
                register,
                at,
                inside_after=inside_after,
                offset=offset_at(entries, at),
                settings=settings,
                shape=shape,
            )
            if read is not None:
                found[obis] = read
    for found_at in (firsts, lasts):
        for obis, bound in sorted(found_at.items()):
            estimate = bound.read
            if estimate.rule == RULE_BOUNDARY:
                # said as a finding too, so the bill's findings say why it is estimated
                findings.append(
                    Finding(
                        meter_id,
                        obis,
                        RULE_BOUNDARY,
                        estimate.at,
                        estimate.at,
                        estimate.flag,
                        f"no read of {obis} at {estimate.at.isoformat()}: {estimate.kwh} kWh "
                        "interpolated between the reads either side",
                    )
                )
    shaped = sorted({o for o, b in [*firsts.items(), *lasts.items()] if b.shaped})
    if shaped:
        notes.append(
            f"boundary reads of {', '.join(shaped)} interpolated in the shape of the load profile"
        )

    runs_cache: list[Runs] = []

    def runs() -> Runs:
        if not runs_cache:
            runs_cache.append(label_runs(labels(start, interval, grid.count)))
        return runs_cache[0]

    def register_advance(obis: str) -> Decimal:
        value, found = advance(meter_id, obis, firsts[obis], lasts[obis], settings)
        findings.extend(found)
        return value

    source: Source
    complete = bool(mapped) and all(o in firsts and o in lasts for o in mapped.values())
    if not needs_intervals and complete:
        source = "registers"
        import_kwh = {name: register_advance(obis) for name, obis in mapped.items()}
        estimated = sum(
            (b.estimated_inside for obis in mapped.values() for b in (firsts[obis], lasts[obis])),
            ZERO,
        )
        if (
            mapped
            and imp is None
            and not all(r.flag is Flag.ACTUAL for r in _reads(firsts, lasts, mapped))
        ):
            notes.append("boundary reads interpolated in time: no load profile to shape them")
    elif imp is not None:
        source = "intervals"
        import_kwh = split_by_period(imp.cumulative, runs())
        estimated = imp.estimated_kwh
        if not needs_intervals and mapped:
            missing = sorted(o for o in mapped.values() if o not in firsts or o not in lasts)
            notes.append(f"from intervals: no boundary read of {', '.join(missing)}")
    elif not mapped and IMPORT_TOTAL in firsts and IMPORT_TOTAL in lasts and not needs_intervals:
        names = list(runs()[0])
        if len(names) != 1:
            raise DeterminantsError(
                meter_id, f"no load profile to split {IMPORT_TOTAL} by the tariff periods {names}"
            )
        source = "registers"
        import_kwh = {names[0]: register_advance(IMPORT_TOTAL)}
        estimated = firsts[IMPORT_TOTAL].estimated_inside + lasts[IMPORT_TOTAL].estimated_inside
    else:
        missing = sorted(o for o in mapped.values() if o not in firsts or o not in lasts)
        why = (
            "the tariff needs interval data"
            if needs_intervals
            else (f"no boundary read of {', '.join(missing) or IMPORT_TOTAL}")
        )
        raise DeterminantsError(
            meter_id, f"{why} and there is no import load profile in the period"
        )

    if exp is not None:
        export_kwh = split_by_period(exp.cumulative, runs())
    elif EXPORT_TOTAL in firsts and EXPORT_TOTAL in lasts:
        names = list(runs()[0])
        export_kwh = {names[0] if len(names) == 1 else EXPORT_ALL: register_advance(EXPORT_TOTAL)}
    else:
        export_kwh = {}

    demand_kw: Decimal | None = None
    demand_at: datetime | None = None
    if imp is not None:
        demand_kw, demand_at = max_demand(imp.series.kwh, imp.peak, start, interval)

    series: tuple[IntervalSeries, ...] = tuple(r.series for r in (imp, exp) if r is not None)
    return Determinants(
        meter_id=meter_id,
        period_start=start,
        period_end=end,
        source=source,
        import_kwh=import_kwh,
        export_kwh=export_kwh,
        max_demand_kw=demand_kw,
        max_demand_at=demand_at,
        start_reads=tuple(b.read for b in firsts.values()),
        end_reads=tuple(b.read for b in lasts.values()),
        series=series,
        findings=tuple(findings),
        estimated_kwh=estimated,
        tier_prior_kwh=tier_prior_kwh,
        notes=tuple(notes),
    )


def _reads(
    firsts: Mapping[str, Boundary], lasts: Mapping[str, Boundary], mapped: Mapping[str, str]
) -> list[RegisterRead]:
    return [b.read for obis in mapped.values() for b in (firsts[obis], lasts[obis])]
