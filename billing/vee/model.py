"""What validation, estimation and editing (VEE) says of each value: its quality flag, the rule that
set it, the raw value kept beside an estimate, and the findings a report lists.

Interval data is columnar (`IntervalSeries`): a month of 15-minute values for one meter and register
is 2,976 values, and the exports and the bill walk thousands of them per meter-month.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from headend.store.scaled_ints import ScaledInts


class Flag(StrEnum):
    """Quality of a billing value, worst last (a bill's flag is the worst of its inputs)."""

    ACTUAL = "actual"  # measured, passed validation
    ESTIMATED = "estimated"  # missing or rejected, filled in by an estimation rule
    SUBSTITUTED = "substituted"  # replaced by a known value (e.g. a power outage as zero use)
    SUSPECT = "suspect"  # measured, failed a validation rule, kept as measured

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Flag.ACTUAL: 0, Flag.SUBSTITUTED: 1, Flag.ESTIMATED: 2, Flag.SUSPECT: 3}


def worst(flags: object) -> Flag:
    """The worst flag of an iterable of flags (ACTUAL for none)."""
    result = Flag.ACTUAL
    for flag in flags:  # type: ignore[attr-defined]
        if _RANK[flag] > _RANK[result]:
            result = flag
    return result


# VEE rule names: stable strings, written into bills, reports and export files.
RULE_ACTUAL = ""  # no rule touched the value
RULE_NEGATIVE = "negative-consumption"
RULE_SPIKE = "spike"
RULE_ZEROS = "consecutive-zeros"
RULE_GAP = "gap"
RULE_CLOCK = "clock-adjusted"
RULE_SUM = "interval-sum-mismatch"
RULE_INTERPOLATE = "linear-interpolation"
RULE_HISTORY = "average-of-matching-days"
RULE_OUTAGE = "power-outage-zero"
RULE_BOUNDARY = "boundary-interpolation"
RULE_ROLLOVER = "register-rollover"
RULE_REPLACEMENT = "meter-replacement"


@dataclass(frozen=True, slots=True)
class IntervalSeries:
    """Interval consumption of one meter and one register over a period, after VEE.

    `obis` names the cumulative register whose advance each interval is: 1.0.1.8.0.255 import,
    1.0.2.8.0.255 export. Interval i covers [start + i*interval, start + (i+1)*interval).
    All tuples have one entry per interval.
    """

    meter_id: str
    obis: str
    start: datetime  # aware UTC
    interval: timedelta  # 15 minutes
    kwh: tuple[Decimal, ...]  # the value to bill: measured, or the estimate
    raw: tuple[Decimal | None, ...]  # as measured; None when nothing was measured
    flags: tuple[Flag, ...]
    rules: tuple[str, ...]  # the rule that set each flag (RULE_ACTUAL for an actual value)
    # `kwh` as integers times a power of ten, when every value was measured as a whole number
    # of the stored unit (a clean month): writers spell them from a table
    steps: ScaledInts | None = None

    def __len__(self) -> int:
        return len(self.kwh)

    @property
    def end(self) -> datetime:
        return self.start + self.interval * len(self.kwh)

    def interval_start(self, i: int) -> datetime:
        return self.start + self.interval * i

    def total(self) -> Decimal:
        return sum(self.kwh, Decimal(0))


@dataclass(frozen=True, slots=True)
class RegisterRead:
    """A cumulative register value at an instant (a period boundary), in kWh, after VEE."""

    meter_id: str
    obis: str  # e.g. 1.0.1.8.0.255, 1.0.1.8.1.255, 1.0.2.8.0.255
    at: datetime  # aware UTC
    kwh: Decimal
    raw: Decimal | None  # as read (None: estimated with nothing read at that instant)
    flag: Flag
    rule: str


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing VEE found or did: which meter, register and time span, which rule, and why."""

    meter_id: str
    obis: str
    rule: str
    start: datetime
    end: datetime
    flag: Flag  # what the affected values were flagged
    detail: str  # what a person reads: the values, the threshold, what was done


@dataclass(frozen=True, slots=True)
class VeeReport:
    """Everything VEE found for one meter and period."""

    meter_id: str
    findings: tuple[Finding, ...]
    estimated_kwh: Decimal  # energy that is an estimate rather than a measurement

    @property
    def flag(self) -> Flag:
        return worst(f.flag for f in self.findings)
