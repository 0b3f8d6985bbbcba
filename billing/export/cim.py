"""IEC 61968-9 `MeterReadings` XML: a MeterReading per meter with

- Readings: each register at the period start and end (the determinants' boundary reads), with
  its 18-field CIM ReadingType code: `0.0.0.1.1.1.12.0.0.0.0.0.0.0.0.3.72.0` bulk (cumulative)
  forward active energy kWh for 1.8.0, the same with the TOU field (field 12) set to T for the
  tariff register 1.8.T, and flow direction 19 (reverse) for 2.8.x;
- IntervalBlocks: the interval series after VEE, `0.0.2.4.1.1.12.0.0.0.0.0.0.0.0.3.72.0`
  (15-minute delta forward energy kWh; flow 19 for export), one IntervalReading per interval
  stamped with the interval's END (the CIM convention);
- ReadingQualities on every value, IEC 61968-9 ReadingQualityType `system.category.index` with
  system 1 (61968-9): 1.0.0 valid (actual), 1.8.0 estimated using reference day
  (average-of-matching-days), 1.9.0 estimated using linear interpolation, 1.11.0 derived (other
  estimates, and values substituted by a known value such as a power outage's zero), 1.10.0
  questionable (suspect); a boundary read interpolated between neighbouring reads is 1.9.0.
  The ReadingQuality's comment carries the VEE rule, and the raw value beside an estimate or
  a suspect value ("<rule>; raw <value>").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape

from billing.export.atomic import HashingWriter
from billing.export.model import ExportError, ExportItem, ExportSite
from billing.export.text import decimal_text, epoch_seconds, iso_utc
from billing.period import BillingPeriod
from billing.vee.model import (
    RULE_BOUNDARY,
    RULE_HISTORY,
    RULE_INTERPOLATE,
    Flag,
    IntervalSeries,
    RegisterRead,
)

NAMESPACE = "http://iec.ch/TC57/2011/MeterReadings#"

# IEC 61968-9 TimeAttributeKind of the measuring period, by interval length in minutes.
_MEASURING_PERIOD = {5: 6, 15: 2, 30: 5, 60: 7}


def quality_category(flag: Flag, rule: str) -> int:
    """The IEC 61968-9 reading quality category (ESPI's QualityOfReading uses the same numbers)."""
    if flag is Flag.ACTUAL:
        return 0
    if flag is Flag.SUSPECT:
        return 10
    if flag is Flag.ESTIMATED and rule == RULE_HISTORY:
        return 8
    if flag is Flag.ESTIMATED and rule in (RULE_INTERPOLATE, RULE_BOUNDARY):
        return 9
    return 11


def reading_type(obis: str, *, interval: timedelta | None = None) -> str | None:
    """The CIM ReadingType code of an energy register (bulk) or its intervals (delta); None for
    registers this export does not carry."""
    parts = obis.split(".")
    if len(parts) != 6 or parts[:2] != ["1", "0"] or parts[3] != "8" or parts[2] not in ("1", "2"):
        return None
    flow = 1 if parts[2] == "1" else 19
    tou = int(parts[4])
    if interval is None:
        return f"0.0.0.1.{flow}.1.12.0.0.0.0.{tou}.0.0.0.3.72.0"
    minutes = int(interval.total_seconds() // 60)
    if minutes not in _MEASURING_PERIOD or interval != timedelta(minutes=minutes):
        raise ExportError(f"{obis}: no CIM measuring period for {interval} intervals")
    return f"0.0.{_MEASURING_PERIOD[minutes]}.4.{flow}.1.12.0.0.0.0.{tou}.0.0.0.3.72.0"


def _quality(flag: Flag, rule: str, raw: object) -> str:
    category = quality_category(flag, rule)
    comment = rule
    if flag is not Flag.ACTUAL and raw is not None:
        comment = f"{rule}; raw {raw}"
    text = f"<comment>{escape(comment)}</comment>" if comment else ""
    return f'<ReadingQualities>{text}<ReadingQualityType ref="1.{category}.0"/></ReadingQualities>'


def _comment(text: str) -> str:
    return escape(text).replace("--", "-")


def _reading(read: RegisterRead) -> str:
    code = reading_type(read.obis)
    raw = None if read.raw is None else decimal_text(read.raw)
    return (
        f"<Readings><timeStamp>{iso_utc(read.at)}</timeStamp>"
        f"<value>{decimal_text(read.kwh)}</value>{_quality(read.flag, read.rule, raw)}"
        f'<ReadingType ref="{code}"/></Readings>\n'
    )


class _Stamps:
    """ISO 8601 UTC text of whole-second instants, fast: day and time-of-day texts are cached
    (a month of 15-minute stamps is 31 day texts and 96 time texts)."""

    def __init__(self) -> None:
        self.days: dict[int, str] = {}
        self.times: dict[int, str] = {}

    def text(self, epoch: int) -> str:
        day, second = divmod(epoch, 86400)
        day_text = self.days.get(day)
        if day_text is None:
            day_text = self.days[day] = f"{datetime.fromtimestamp(day * 86400, UTC):%Y-%m-%d}"
        time_text = self.times.get(second)
        if time_text is None:
            hour, rest = divmod(second, 3600)
            time_text = self.times[second] = f"{hour:02d}:{rest // 60:02d}:{rest % 60:02d}"
        return f"{day_text}T{time_text}Z"


def _interval_block(series: IntervalSeries, sink: HashingWriter, stamps: _Stamps) -> None:
    code = reading_type(series.obis, interval=series.interval)
    sink.write("<IntervalBlocks>\n")
    cache: dict[tuple[Flag, str], str] = {}
    step = int(series.interval.total_seconds())
    end = epoch_seconds(series.start)
    chunk: list[str] = []
    for value, raw, flag, rule in zip(
        series.kwh, series.raw, series.flags, series.rules, strict=True
    ):
        end += step
        if flag is Flag.ACTUAL or raw is None:
            quality = cache.get((flag, rule))
            if quality is None:
                quality = cache[(flag, rule)] = _quality(flag, rule, None)
        else:
            quality = _quality(flag, rule, decimal_text(raw))
        chunk.append(
            f"<IntervalReadings><timeStamp>{stamps.text(end)}</timeStamp>"
            f"<value>{decimal_text(value)}</value>{quality}</IntervalReadings>\n"
        )
        if len(chunk) == 96:  # write a day's worth at a time: few calls, no big strings
            sink.write("".join(chunk))
            chunk.clear()
    sink.write("".join(chunk))
    sink.write(f'<ReadingType ref="{code}"/>\n</IntervalBlocks>\n')


def write_cim(
    items: Iterable[ExportItem],
    sink: HashingWriter,
    period: BillingPeriod,
    site: ExportSite,
    on_item: Callable[[int], None] | None = None,
) -> int:
    """Write the document; returns the number of MeterReading elements."""
    sink.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<MeterReadings xmlns="{NAMESPACE}">\n')
    sink.write(
        f"<!-- {_comment(site.generator)} {_comment(site.version)}, site {site.name}, "
        f"period {period.name} -->\n"
    )
    stamps = _Stamps()
    number = 0
    for number, item in enumerate(items, 1):
        det = item.det
        meter = escape(item.meter_id)
        sink.write(
            f"<MeterReading>\n<valuesInterval><end>{iso_utc(det.period_end)}</end>"
            f"<start>{iso_utc(det.period_start)}</start></valuesInterval>\n"
            f"<Meter><mRID>{meter}</mRID><Names><name>{meter}</name></Names></Meter>\n"
        )
        for read in (*det.start_reads, *det.end_reads):
            if reading_type(read.obis) is not None:
                sink.write(_reading(read))
        for series in det.series:
            if reading_type(series.obis) is not None and len(series):
                _interval_block(series, sink, stamps)
        sink.write("</MeterReading>\n")
        if on_item is not None:
            on_item(number)
    sink.write("</MeterReadings>\n")
    return number
