"""Meter replacement: the new meter's readings carried onto the old meter's scale, so that every
advance across the exchange is (old final - start) + (end - new first) for registers and
intervals alike."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from billing.determinants.inputs import Replacement
from billing.vee.model import RULE_REPLACEMENT, Finding, Flag
from billing.vee.register import Register


def shifts_by_register(
    replacements: Sequence[Replacement],
) -> dict[str, list[tuple[datetime, Decimal]]]:
    """OBIS -> [(exchange time, offset added to readings after it)], offsets cumulative in time."""
    shifts: dict[str, list[tuple[datetime, Decimal]]] = {}
    for replacement in sorted(replacements, key=lambda r: r.at):
        for obis, old_final in replacement.old_final.items():
            new_first = replacement.new_first.get(obis)
            if new_first is None:
                raise ValueError(
                    f"replacement of meter {replacement.meter_id} at {replacement.at.isoformat()}: "
                    f"old_final names {obis} but new_first does not"
                )
            entries = shifts.setdefault(obis, [])
            before = entries[-1][1] if entries else Decimal(0)
            entries.append((replacement.at, before + old_final - new_first))
    return shifts


def offset_at(shifts: Sequence[tuple[datetime, Decimal]], at: datetime) -> Decimal:
    """The offset that carries a reading taken at `at` onto the first meter's scale."""
    offset = Decimal(0)
    for changed, total in shifts:
        if at > changed:
            offset = total
    return offset


def continuous(register: Register, shifts: Sequence[tuple[datetime, Decimal]]) -> Register:
    values = [
        value + offset_at(shifts, at)
        for at, value in zip(register.times, register.values, strict=True)
    ]
    return Register(register.times, values, register.flagged)


def apply_replacements(
    meter_id: str,
    registers: Mapping[str, Register],
    replacements: Sequence[Replacement],
    start: datetime,
    end: datetime,
) -> tuple[
    dict[str, Register],
    dict[str, list[tuple[datetime, Decimal]]],
    list[Finding],
    list[str],
]:
    """Registers on one continuous scale, the shifts applied, a finding and note per exchange."""
    mine = [r for r in replacements if r.meter_id == meter_id]
    if not mine:
        return dict(registers), {}, [], []
    shifts = shifts_by_register(mine)
    adjusted: dict[str, Register] = dict(registers)
    for obis, entries in shifts.items():
        if obis in adjusted:
            adjusted[obis] = continuous(adjusted[obis], entries)
    findings: list[Finding] = []
    notes: list[str] = []
    for replacement in sorted(mine, key=lambda r: r.at):
        if not start <= replacement.at < end:
            continue
        pairs = ", ".join(
            f"{obis} old final {value} new first {replacement.new_first[obis]}"
            for obis, value in sorted(replacement.old_final.items())
        )
        notes.append(
            f"meter replaced {replacement.at.isoformat()}: {pairs}"
            + (f"; {replacement.note}" if replacement.note else "")
        )
        for obis, value in sorted(replacement.old_final.items()):
            findings.append(
                Finding(
                    meter_id,
                    obis,
                    RULE_REPLACEMENT,
                    replacement.at,
                    replacement.at,
                    Flag.ACTUAL,
                    f"meter exchanged: consumption = (old final {value} - start) "
                    f"+ (end - new first "
                    f"{replacement.new_first[obis]}) kWh",
                )
            )
    return adjusted, shifts, findings, notes
