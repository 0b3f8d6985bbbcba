"""AEMO NEM12 interval data (Meter Data File Format): 100 header, a 200 record per NMI and data
stream (E1 import, B1 export), a 300 record per day with its interval values, 400 records for
days of mixed quality, a 500 record with the register's end reading, 900 end.

Days: NEM12 days have a fixed number of intervals (96 of 15 minutes), so they are counted in the
fixed standard offset of the period's time zone (UTC+10 for Australia/Sydney, as the NEM's market
time is; no daylight saving). A day only partly inside the interval series (a month of a zone
with daylight saving) has its missing intervals as 0 with quality N (null data).

Quality per interval, from the VEE flag and rule (AEMO quality flag + method flag, reason code,
reason description):
- actual: A
- suspect (measured, failed a validation, kept): A, reason 0 (free text), "suspect <rule>"
- estimated inside the series (a gap or rejected value filled in): S (substituted) with method
  17 linear (linear-interpolation), 15 average like day (average-of-matching-days), else 12
  calculated; reason 0, the VEE rule as description
- estimated after the last measured interval (nothing read yet): E (forward estimate), same methods
- substituted by a known value: F (final substituted); a power outage as zero is F19 (zero) with
  reason 79 (power outage); others F12, reason 0
A day whose intervals share one quality has it in its 300 record; otherwise the 300 record says V
and 400 records give each run of intervals its quality. After a stream's 300 records, a 500
record (TransCode N, normal read) carries its register's reading at the period end when that
reading is actual (IndexRead, kWh; ReadDateTime in NEM time).

The 100 record's DateTime and each 300 record's UpdateDateTime are the period end in NEM time
(no wall clock in the file). File name, as the MDFF asks: `NEM12#<UniqueID>#<From>#<To>.csv`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta, timezone

from billing.export.atomic import HashingWriter
from billing.export.model import EXPORT_OBIS, IMPORT_OBIS, ExportError, ExportItem, ExportSite
from billing.export.text import decimal_text
from billing.period import BillingPeriod
from billing.vee.model import (
    RULE_HISTORY,
    RULE_INTERPOLATE,
    RULE_OUTAGE,
    Flag,
    IntervalSeries,
)
from headend.store.scaled_ints import SMALL, decimal_table

# Data stream per register: NMI suffix (E import from the grid, B export to it), MDM identifier.
STREAMS = {IMPORT_OBIS: ("E1", "N1"), EXPORT_OBIS: ("B1", "N2")}
_METHOD = {RULE_INTERPOLATE: "17", RULE_HISTORY: "15"}
_NULL = ("N", "", "")
_ZERO = "0"  # a null interval's value

Quality = tuple[str, str, str]  # QualityMethod, ReasonCode, ReasonDescription


def nem_offset(period: BillingPeriod) -> timedelta:
    """The standard (non-daylight-saving) UTC offset of the period's zone at its start."""
    local = period.start.astimezone(period.zone)
    offset = local.utcoffset() or timedelta(0)
    return offset - (local.dst() or timedelta(0))


def file_name(site: ExportSite, period: BillingPeriod) -> str:
    unique = re.sub(r"[^A-Za-z0-9]", "", site.name)[:30] + period.name.replace("-", "")
    settings = site.settings
    return f"NEM12#{unique}#{settings.from_participant}#{settings.to_participant}.csv"


def _quality(flag: Flag, rule: str, forward: bool) -> Quality:
    text = (rule or flag.value).replace(",", ";")  # reason 0 needs a description
    if flag is Flag.ACTUAL:
        return ("A", "", "")
    if flag is Flag.SUSPECT:
        return ("A", "0", f"suspect {text}")
    if flag is Flag.ESTIMATED:
        return (("E" if forward else "S") + _METHOD.get(rule, "12"), "0", text)
    if rule == RULE_OUTAGE:
        return ("F19", "79", text)
    return ("F12", "0", text)


def interval_qualities(series: IntervalSeries) -> list[Quality]:
    """The NEM12 quality of each interval of `series` (see the module docstring)."""
    flags, rules = series.flags, series.rules
    if flags.count(Flag.ACTUAL) == len(flags):  # a clean month: one quality throughout
        return [_quality(Flag.ACTUAL, "", False)] * len(flags)
    last_measured = -1
    for index in range(len(flags) - 1, -1, -1):
        if flags[index] is not Flag.ESTIMATED:
            last_measured = index
            break
    cache: dict[tuple[Flag, str, bool], Quality] = {}
    result: list[Quality] = []
    for index, (flag, rule) in enumerate(zip(flags, rules, strict=True)):
        key = (flag, rule, index > last_measured)
        quality = cache.get(key)
        if quality is None:
            quality = cache[key] = _quality(*key)
        result.append(quality)
    return result


_TEXT_TABLES: dict[int, list[str]] = {}


def value_texts(series: IntervalSeries) -> list[str]:
    """Each interval value as written (plain notation); a clean month's whole-number steps are
    spelled from a table made once per exponent."""
    steps = series.steps
    if steps is not None:
        ints = steps.ints
        if not len(ints) or (int(ints.min()) >= 0 and int(ints.max()) < SMALL):
            table = _TEXT_TABLES.get(steps.exponent)
            if table is None:
                table = _TEXT_TABLES[steps.exponent] = list(
                    map(decimal_text, decimal_table(steps.exponent))
                )
            return list(map(table.__getitem__, ints.tolist()))
    texts = list(map(str, series.kwh))
    if "E" in "".join(texts):  # rare: a value str() writes with an exponent
        texts = list(map(decimal_text, series.kwh))
    return texts


def _runs(qualities: Sequence[Quality]) -> list[tuple[int, int, Quality]]:
    """Runs of equal quality as (first, last) 1-based interval numbers."""
    runs: list[tuple[int, int, Quality]] = []
    first = 0
    for index in range(1, len(qualities) + 1):
        if index == len(qualities) or qualities[index] != qualities[first]:
            runs.append((first + 1, index, qualities[first]))
            first = index
    return runs


def check_series(series: IntervalSeries, zone: timezone) -> int:
    """The interval length in minutes; ExportError when NEM12 cannot carry the series."""
    minutes = int(series.interval.total_seconds() // 60)
    if series.interval != timedelta(minutes=minutes) or minutes not in (5, 15, 30):
        raise ExportError(
            f"meter {series.meter_id} {series.obis}: NEM12 takes 5, 15 or 30 minute "
            f"intervals, not {series.interval}"
        )
    anchor = datetime(2000, 1, 1, tzinfo=zone)
    if (anchor - series.start).total_seconds() % series.interval.total_seconds():
        raise ExportError(
            f"meter {series.meter_id} {series.obis}: intervals do not start on the NEM12 "
            f"day's {minutes}-minute grid"
        )
    return minutes


def streams_of(item: ExportItem) -> dict[str, IntervalSeries]:
    """The item's interval series NEM12 carries (import, export), by OBIS."""
    return {s.obis: s for s in item.det.series if s.obis in STREAMS and len(s)}


def check_items(items: Sequence[ExportItem], period: BillingPeriod) -> None:
    """Refuse, before anything is written, what NEM12 cannot carry."""
    zone = timezone(nem_offset(period))
    for item in items:
        for series in item.det.series:
            if series.obis in STREAMS and len(series):
                check_series(series, zone)


class _Stream:
    """Writes one NMI data stream's 300/400 records, day by day."""

    def __init__(self, series: IntervalSeries, zone: timezone, stamp: str) -> None:
        minutes = check_series(series, zone)
        self.series = series
        self.minutes = minutes
        self.per_day = 1440 // minutes
        self.zone = zone
        self.stamp = stamp
        self.qualities = interval_qualities(series)
        self.texts = value_texts(series)

    def days(self) -> list[date]:
        if not len(self.series):
            return []
        first = self.series.start.astimezone(self.zone).date()
        last = (self.series.end - timedelta(microseconds=1)).astimezone(self.zone).date()
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]

    def write(self, sink: HashingWriter) -> int:
        series, per_day, count = self.series, self.per_day, len(self.series)
        step = series.interval.total_seconds()
        records = 0
        for day in self.days():
            day_start = datetime(day.year, day.month, day.day, tzinfo=self.zone)
            base = round((day_start - series.start).total_seconds() / step)
            low, high = max(base, 0), min(base + per_day, count)
            values = self.texts[low:high]
            qualities: list[Quality] = self.qualities[low:high]
            if low - base or base + per_day - high:  # a day partly outside the series
                head, tail = low - base, base + per_day - high
                values = [_ZERO] * head + values + [_ZERO] * tail
                qualities = [_NULL] * head + qualities + [_NULL] * tail
            first = qualities[0]
            mixed = qualities.count(first) != len(qualities)
            method, reason, description = ("V", "", "") if mixed else first
            sink.write(
                f"300,{day:%Y%m%d},{','.join(values)},{method},{reason},{description},"
                f"{self.stamp},\n"
            )
            if mixed:
                for start, end, (q_method, q_reason, q_text) in _runs(qualities):
                    sink.write(f"400,{start},{end},{q_method},{q_reason},{q_text}\n")
            records += 1
        return records


def write_nem12(
    items: Iterable[ExportItem],
    sink: HashingWriter,
    period: BillingPeriod,
    site: ExportSite,
    nmis: dict[str, str],
    on_item: Callable[[int], None] | None = None,
) -> int:
    """Write the file; returns the number of 300 records. Meters without interval data are left
    out (NEM12 carries interval data only)."""
    zone = timezone(nem_offset(period))
    end_local = period.end.astimezone(zone)
    settings = site.settings
    sink.write(
        f"100,NEM12,{end_local:%Y%m%d%H%M},{settings.from_participant},{settings.to_participant}\n"
    )
    stamp = f"{end_local:%Y%m%d%H%M%S}"
    records = 0
    for number, item in enumerate(items, 1):
        by_obis = streams_of(item)
        streams = [obis for obis in (IMPORT_OBIS, EXPORT_OBIS) if obis in by_obis]
        configuration = "".join(STREAMS[obis][0] for obis in streams)
        serial = item.meter_id if len(item.meter_id) <= 12 else ""
        ends = {read.obis: read for read in item.det.end_reads}
        for obis in streams:
            suffix, mdm = STREAMS[obis]
            sink.write(
                f"200,{nmis[item.meter_id]},{configuration},{suffix},{suffix},{mdm},{serial},"
                f"KWH,{int(by_obis[obis].interval.total_seconds() // 60)},\n"
            )
            records += _Stream(by_obis[obis], zone, stamp).write(sink)
            end_read = ends.get(obis)
            if end_read is not None and end_read.flag is Flag.ACTUAL:
                sink.write(
                    f"500,N,,{end_read.at.astimezone(zone):%Y%m%d%H%M%S},"
                    f"{decimal_text(end_read.kwh)}\n"
                )
        if on_item is not None:
            on_item(number)
    sink.write("900\n")
    return records
