"""Interval consumption from cumulative captures: the difference of consecutive 15-minute captures
of a register, on the period's grid.

A clean month (every capture present, quality ok, never going backwards) takes the fast path:
columns and C-level maps, no per-interval objects. Anything else takes the careful path, which
finds the gaps (with the known captures either side, reaching into the day of margin), rollovers,
negative steps and captures the meter or the head-end flagged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import chain
from operator import itemgetter, sub
from typing import TypeVar

import numpy as np

from billing.vee.grid import Grid
from billing.vee.model import (
    RULE_CLOCK,
    RULE_NEGATIVE,
    RULE_ROLLOVER,
    Finding,
    Flag,
)
from billing.vee.register import Register
from billing.vee.settings import VeeSettings
from headend.store.scaled_ints import ScaledInts

# A capture the meter itself marked estimated or suspect (a status bit), not a head-end rule.
RULE_METER_STATUS = "meter-status"
_CLOCK_QUALITIES = frozenset({"clock-adjusted", "clock-suspect"})
_at = itemgetter(0)
_T = TypeVar("_T")
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Clean:
    """A fully captured, all-ok, never-decreasing month: grid values and their differences."""

    values: Sequence[Decimal]  # cumulative kWh at grid points 0..n
    diffs: list[Decimal]  # interval consumption 0..n-1
    # the differences as integers when the store had whole numbers: counts and maxima in C
    # rather than over Decimals
    steps: ScaledInts | None = None

    def nonzero(self) -> int:
        if self.steps is not None:
            return int(np.count_nonzero(self.steps.ints))
        return len(self.diffs) - self.diffs.count(ZERO)

    def peak(self) -> Decimal:
        if self.steps is not None:
            return self.diffs[int(self.steps.ints.argmax())]
        return max(self.diffs)


@dataclass(frozen=True, slots=True)
class Gap:
    """Intervals [first, stop) (grid indices; may reach outside the period) with no capture
    inside; `advance` is the register advance across them when captures on both sides are known."""

    first: int
    stop: int
    advance: Decimal | None


@dataclass(slots=True)
class Work:
    """Mutable per-interval columns while rules run; `kwh` None means still to estimate."""

    kwh: list[Decimal | None]
    raw: list[Decimal | None]
    flags: list[Flag]
    rules: list[str]
    gaps: list[Gap] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @classmethod
    def from_clean(cls, clean: Clean) -> Work:
        count = len(clean.diffs)
        kwh: list[Decimal | None] = list(clean.diffs)
        return cls(kwh, list(kwh), [Flag.ACTUAL] * count, [""] * count)

    def mark(self, i: int, flag: Flag, rule: str) -> bool:
        """Flag interval i unless an earlier rule already did; True when it was marked."""
        if self.flags[i] is Flag.ACTUAL:
            self.flags[i] = flag
            self.rules[i] = rule
            return True
        return False


def read_profile(
    meter_id: str, obis: str, register: Register, grid: Grid, settings: VeeSettings
) -> Clean | Work | None:
    """The register's intervals over the grid; None when it has no load profile in the period."""
    count = grid.count
    lo, hi = register.span(grid.times[0], grid.times[-1])
    if hi - lo >= count + 1 and not _flagged_on_grid(register, grid):
        times = tuple(register.times[lo:hi])
        values = register.values[lo:hi]
        if hi - lo > count + 1:
            # register reads between the profile's captures (a daily billing read at 00:05)
            keep = _without_reads(times, grid)
            if keep is not None:
                times = _pick(times, keep)
                if isinstance(values, ScaledInts):
                    values = ScaledInts.joined([values[a:b] for a, b in keep])
                else:
                    values = _pick(tuple(values), keep)
        if times == grid.times:
            if isinstance(values, ScaledInts):
                steps = values.differences()
                if int(steps.ints.min()) >= 0:
                    return Clean(values, steps.decimals(), steps)
            else:
                diffs = list(map(sub, values[1:], values[:-1]))
                if min(diffs) >= ZERO:
                    return Clean(tuple(values), diffs)
    return _careful(meter_id, obis, register, lo, hi, grid, settings)


def _flagged_on_grid(register: Register, grid: Grid) -> bool:
    index = grid.index
    return any(at in index for at in register.flagged)


def _without_reads(times: tuple[datetime, ...], grid: Grid) -> list[tuple[int, int]] | None:
    """Slices of `times` that leave out off-grid reads, when nothing else differs from the grid.

    Each extra read shifts every later capture by one place, so the first place where `times`
    and the grid part is found by bisection: a few probes per read instead of a pass per capture.
    None when a grid capture is missing (the careful path handles that).
    """
    expected = grid.times
    extras = len(times) - len(expected)
    slices: list[tuple[int, int]] = []
    first = 0  # times[first:] still to check; `len(slices)` reads dropped so far
    while len(slices) < extras:
        shift = len(slices)
        lo, hi = first, len(times)
        while lo < hi:
            mid = (lo + hi) // 2
            if mid - shift < len(expected) and times[mid] == expected[mid - shift]:
                lo = mid + 1
            else:
                hi = mid
        if lo == len(times) or grid.position(times[lo]) is not None:
            return None
        slices.append((first, lo))
        first = lo + 1
    slices.append((first, len(times)))
    return slices


def _pick(column: tuple[_T, ...], slices: list[tuple[int, int]]) -> tuple[_T, ...]:
    return tuple(chain.from_iterable(column[a:b] for a, b in slices))


def _careful(
    meter_id: str,
    obis: str,
    register: Register,
    lo: int,
    hi: int,
    grid: Grid,
    settings: VeeSettings,
) -> Work | None:
    count = grid.count
    index = grid.index
    known: list[tuple[int, Decimal, str]] = []
    quality_of = register.quality
    for at, value in zip(register.times[lo:hi], register.values[lo:hi], strict=True):
        k = index.get(at)
        if k is not None:
            known.append((k, value, quality_of(at)))
    if len(known) < settings.profile_min_coverage * (count + 1) or not known:
        return None
    window = timedelta(hours=settings.boundary_window_hours)
    if known[0][0] != 0:
        anchor = _anchor(register, range(lo - 1, -1, -1), grid, grid.times[0] - window)
        if anchor is not None:
            known.insert(0, anchor)
    if known[-1][0] != count:
        anchor = _anchor(register, range(hi, len(register)), grid, grid.times[-1] + window)
        if anchor is not None:
            known.append(anchor)

    work = Work([None] * count, [None] * count, [Flag.ACTUAL] * count, [""] * count)
    if known[0][0] > 0:
        work.gaps.append(Gap(0, min(known[0][0], count), None))
    modulus = settings.rollover_kwh
    offset = ZERO  # modulus times the rollovers so far: values continue past the modulus
    prev_k, prev_v, _ = known[0]
    for k, native, _quality in known[1:]:
        value = native + offset
        step = value - prev_v
        if step < ZERO and modulus is not None and -step > modulus / 2:
            offset += modulus
            value += modulus
            step += modulus
            why = (
                f"register went from {prev_v - offset + modulus} to {native} kWh: "
                "rolled over at "
                f"{modulus} kWh, advance {step} kWh"
            )
            work.findings.append(
                grid.finding(meter_id, obis, RULE_ROLLOVER, prev_k, k, Flag.ACTUAL, why)
            )
        if k == prev_k + 1:
            if 0 <= prev_k < count:
                work.kwh[prev_k] = step
                work.raw[prev_k] = step
                if step < ZERO:
                    _negative(work, meter_id, obis, grid, prev_k, prev_v, value, step)
        else:
            work.gaps.append(Gap(prev_k, k, step))
        prev_k, prev_v = k, value
    if prev_k < count:
        work.gaps.append(Gap(max(prev_k, 0), count, None))
    for k, _value, quality in known:
        if quality != "ok":
            _flag_quality(work, meter_id, obis, grid, k, quality)
    return work


def _anchor(
    register: Register, positions: range, grid: Grid, limit: datetime
) -> tuple[int, Decimal, str] | None:
    """The nearest on-grid capture outside the period, no further than `limit`."""
    before = positions.step < 0
    for i in positions:
        at = register.times[i]
        if (at < limit) if before else (at > limit):
            return None
        k = grid.position(at)
        if k is not None:
            return k, register.values[i], register.quality(at)
    return None


def _negative(
    work: Work,
    meter_id: str,
    obis: str,
    grid: Grid,
    k: int,
    before: Decimal,
    after: Decimal,
    step: Decimal,
) -> None:
    work.mark(k, Flag.SUSPECT, RULE_NEGATIVE)
    why = (
        f"register went backwards from {before} to {after} kWh ({step} kWh), not a rollover: "
        "kept as measured"
    )
    work.findings.append(grid.finding(meter_id, obis, RULE_NEGATIVE, k, k + 1, Flag.SUSPECT, why))


def _flag_quality(work: Work, meter_id: str, obis: str, grid: Grid, k: int, quality: str) -> None:
    """Both intervals a flagged capture bounds are suspect (the difference uses it)."""
    rule = RULE_CLOCK if quality in _CLOCK_QUALITIES else RULE_METER_STATUS
    marked = [i for i in (k - 1, k) if 0 <= i < len(work.kwh) and work.raw[i] is not None]
    for i in marked:
        work.mark(i, Flag.SUSPECT, rule)
    if marked:
        why = (
            f"capture at {(grid.start + grid.interval * k).isoformat()} stored with quality "
            f"{quality!r}: {len(marked)} interval(s) kept as measured"
        )
        work.findings.append(
            grid.finding(meter_id, obis, rule, marked[0], marked[-1] + 1, Flag.SUSPECT, why)
        )
