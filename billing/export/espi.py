"""ESPI / Green Button XML (NAESB REQ.21 ESPI 3.3): an Atom feed with, per meter, a UsagePoint,
a MeterReading and a ReadingType per interval series (import, export), an IntervalBlock per local
day of the period, and a UsageSummary (billing period, bill total, consumption, quality); and one
LocalTimeParameters for the period's time zone.

Values are ESPI integers: energy in Wh times 10^-powerOfTenMultiplier, the multiplier being the
coarsest of 0, -3, -6 that keeps every value of the series exact (finer values are rounded half
even to micro-Wh); money in hundred-thousandths of the currency (`billLastPeriod`). Times are
seconds since 1970 UTC; an IntervalReading's timePeriod starts at the interval's start.

Quality per IntervalReading, ESPI QualityOfReading: 0 valid (actual), 8 estimated using reference
day (average-of-matching-days), 9 estimated using linear interpolation, 11 derived (other estimates
and values substituted by a known value, e.g. a power outage as zero), 10 questionable (suspect);
a UsageSummary's qualityOfReading is the one quality of all its inputs, or 13 mixed.

Ids and links are derived from the site, period and meter id (`urn:uuid:` UUID-5 of the entry's
self link); published/updated times are the period end, never the wall clock.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from urllib.parse import quote
from xml.sax.saxutils import escape

from billing.export.atomic import HashingWriter
from billing.export.cim import quality_category
from billing.export.model import EXPORT_OBIS, IMPORT_OBIS, ExportError, ExportItem, ExportSite
from billing.export.text import epoch_seconds, iso_utc
from billing.period import BillingPeriod
from billing.vee.model import IntervalSeries

ATOM = "http://www.w3.org/2005/Atom"
ESPI = "http://naesb.org/espi"

# ISO 4217 numeric codes ESPI wants for `currency`; a currency not listed is left out.
CURRENCY_NUMBER = {
    "AUD": 36,
    "CAD": 124,
    "CHF": 756,
    "CNY": 156,
    "EUR": 978,
    "GBP": 826,
    "INR": 356,
    "JPY": 392,
    "USD": 840,
}
_DIRECTION = {IMPORT_OBIS: ("import", 1), EXPORT_OBIS: ("export", 19)}
_MAX_INT48 = 2**47 - 1


def power_of_ten(values: Iterable[Decimal]) -> int:
    """The coarsest multiplier (0, -3, -6) of Wh that writes every kWh value as an integer."""
    finest = 0
    for value in values:
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent < finest:
            finest = exponent
    wh_exponent = finest + 3
    if wh_exponent >= 0:
        return 0
    return -3 if wh_exponent >= -3 else -6


def scaled(kwh: Decimal, multiplier: int) -> int:
    number = int(kwh.scaleb(3 - multiplier).to_integral_value(ROUND_HALF_EVEN))
    if abs(number) > _MAX_INT48:
        raise ExportError(f"{kwh} kWh does not fit ESPI's 48-bit value at 10^{multiplier} Wh")
    return number


def dst_rule(at: datetime | None, zone_period: BillingPeriod) -> str:
    """ESPI DstRuleType of a transition instant (operator 0: that day of the month), as 8 hex
    digits; FFFFFFFF (no daylight saving) for None."""
    if at is None:
        return "FFFFFFFF"
    local = (at - timedelta(seconds=1)).astimezone(zone_period.zone) + timedelta(seconds=1)
    seconds = local.minute * 60 + local.second
    rule = seconds | local.hour << 12 | local.day << 20 | local.month << 28
    return f"{rule:08X}"


def _transitions(period: BillingPeriod) -> tuple[datetime | None, datetime | None, int]:
    """The year's DST start and end instants (UTC) and the DST offset in seconds."""
    zone = period.zone
    year = period.start.astimezone(zone).year
    start: datetime | None = None
    end: datetime | None = None
    saving = 0
    at = datetime(year, 1, 1, tzinfo=UTC)
    previous = at.astimezone(zone).dst() or timedelta(0)
    while at.year == year:  # hourly scan, then to the minute (Lord Howe changes on a half hour)
        step = at + timedelta(hours=1)
        dst = step.astimezone(zone).dst() or timedelta(0)
        if dst != previous:
            step = at + timedelta(minutes=1)
            while (step.astimezone(zone).dst() or timedelta(0)) == previous:
                step += timedelta(minutes=1)
            if dst > previous:
                start, saving = step, int(dst.total_seconds())
            else:
                end = step
            previous = dst
        at = step
    return start, end, saving


class _Feed:
    def __init__(self, sink: HashingWriter, period: BillingPeriod, site: ExportSite) -> None:
        self.sink = sink
        self.period = period
        self.base = site.settings.espi_base_url
        self.updated = iso_utc(period.end)
        self.entries = 0

    def entry(
        self, self_href: str, up_href: str, related: Sequence[str], title: str, content: str
    ) -> None:
        links = [
            f'<link rel="self" href="{escape(self_href)}"/>',
            f'<link rel="up" href="{escape(up_href)}"/>',
        ]
        links += [f'<link rel="related" href="{escape(href)}"/>' for href in related]
        identity = uuid.uuid5(uuid.NAMESPACE_URL, self_href)
        self.sink.write(
            f"<entry><id>urn:uuid:{identity}</id>{''.join(links)}<title>{escape(title)}</title>"
            f"<content>{content}</content><published>{self.updated}</published>"
            f"<updated>{self.updated}</updated></entry>\n"
        )
        self.entries += 1


def _local_time(feed: _Feed) -> str:
    period = feed.period
    start, end, saving = _transitions(period)
    standard = period.start.astimezone(period.zone)
    offset = (standard.utcoffset() or timedelta(0)) - (standard.dst() or timedelta(0))
    return (
        f'<LocalTimeParameters xmlns="{ESPI}"><dstEndRule>{dst_rule(end, period)}</dstEndRule>'
        f"<dstOffset>{saving}</dstOffset><dstStartRule>{dst_rule(start, period)}</dstStartRule>"
        f"<tzOffset>{int(offset.total_seconds())}</tzOffset></LocalTimeParameters>"
    )


def _reading_type(series: IntervalSeries, flow: int, multiplier: int) -> str:
    return (
        f'<ReadingType xmlns="{ESPI}"><accumulationBehaviour>4</accumulationBehaviour>'
        f"<commodity>1</commodity><dataQualifier>12</dataQualifier>"
        f"<flowDirection>{flow}</flowDirection>"
        f"<intervalLength>{int(series.interval.total_seconds())}</intervalLength>"
        f"<kind>12</kind><powerOfTenMultiplier>{multiplier}</powerOfTenMultiplier>"
        f"<uom>72</uom></ReadingType>"
    )


def _interval_block(
    series: IntervalSeries, low: int, high: int, values: Sequence[int], qualities: Sequence[int]
) -> str:
    step = int(series.interval.total_seconds())
    first = epoch_seconds(series.start) + low * step
    parts = [
        f'<IntervalBlock xmlns="{ESPI}"><interval><duration>{(high - low) * step}</duration>'
        f"<start>{first}</start></interval>"
    ]
    start = first
    for index in range(low, high):
        parts.append(
            f"<IntervalReading><ReadingQuality><quality>{qualities[index]}</quality>"
            f"</ReadingQuality><timePeriod><duration>{step}</duration><start>{start}</start>"
            f"</timePeriod><value>{values[index]}</value></IntervalReading>"
        )
        start += step
    parts.append("</IntervalBlock>")
    return "".join(parts)


def _columns(series: IntervalSeries, multiplier: int) -> tuple[list[int], list[int]]:
    """The series' ESPI values and qualities, worked out once for all its blocks."""
    values = [scaled(value, multiplier) for value in series.kwh]
    keys = list(zip(series.flags, series.rules, strict=True))
    codes = {key: quality_category(*key) for key in set(keys)}
    return values, [codes[key] for key in keys]


def _summary(item: ExportItem, period: BillingPeriod) -> str:
    det = item.det
    categories = {
        quality_category(flag, rule)
        for s in det.series
        for flag, rule in set(zip(s.flags, s.rules, strict=True))
    }
    categories |= {quality_category(r.flag, r.rule) for r in (*det.start_reads, *det.end_reads)}
    quality = categories.pop() if len(categories) == 1 else (0 if not categories else 13)
    multiplier = power_of_ten([det.import_total])
    start, end = epoch_seconds(det.period_start), epoch_seconds(det.period_end)
    parts = [
        f'<UsageSummary xmlns="{ESPI}"><billingPeriod><duration>{end - start}</duration>'
        f"<start>{start}</start></billingPeriod>"
    ]
    bill = item.bill
    if bill is not None:
        parts.append(f"<billLastPeriod>{int(bill.total.scaleb(5))}</billLastPeriod>")
        if bill.currency in CURRENCY_NUMBER:
            parts.append(f"<currency>{CURRENCY_NUMBER[bill.currency]}</currency>")
    parts.append(
        f"<overallConsumptionLastPeriod><powerOfTenMultiplier>{multiplier}</powerOfTenMultiplier>"
        f"<timeStamp>{end}</timeStamp><uom>72</uom><value>{scaled(det.import_total, multiplier)}"
        f"</value></overallConsumptionLastPeriod><qualityOfReading>{quality}</qualityOfReading>"
        f"<statusTimeStamp>{end}</statusTimeStamp><commodity>1</commodity>"
    )
    if bill is not None:
        parts.append(f"<tariffProfile>{escape(bill.tariff_id[:256])}</tariffProfile>")
    parts.append("</UsageSummary>")
    return "".join(parts)


def _day_slices(series: IntervalSeries, period: BillingPeriod) -> list[tuple[int, int]]:
    """Index ranges of the series per local day of the period (days outside it are skipped)."""
    step = series.interval.total_seconds()
    slices: list[tuple[int, int]] = []
    for day in period.days():
        day_start, day_end = period.day_bounds(day)
        low = max(0, round((day_start - series.start).total_seconds() / step))
        high = min(len(series), round((day_end - series.start).total_seconds() / step))
        if high > low:
            slices.append((low, high))
    return slices


def write_espi(
    items: Iterable[ExportItem],
    sink: HashingWriter,
    period: BillingPeriod,
    site: ExportSite,
    on_item: Callable[[int], None] | None = None,
) -> int:
    """Write the feed; returns the number of Atom entries."""
    feed = _Feed(sink, period, site)
    base = feed.base
    feed_self = f"{base}/Batch/Subscription/{quote(site.name, safe='')}/{period.name}"
    sink.write(
        f'<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="{ATOM}">'
        f"<id>urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, feed_self)}</id>"
        f"<title>{escape(site.name)} {period.name} Green Button data</title>"
        f'<updated>{feed.updated}</updated><link rel="self" href="{escape(feed_self)}"/>\n'
    )
    local_time = f"{base}/LocalTimeParameters/{quote(site.name, safe='')}"
    feed.entry(
        local_time,
        f"{base}/LocalTimeParameters",
        [],
        f"{period.timezone} local time",
        _local_time(feed),
    )
    for number, item in enumerate(items, 1):
        meter = quote(item.meter_id, safe="")
        point = f"{base}/RetailCustomer/{meter}/UsagePoint/{meter}"
        feed.entry(
            point,
            f"{base}/RetailCustomer/{meter}/UsagePoint",
            [f"{point}/MeterReading", f"{point}/UsageSummary", local_time],
            f"Meter {item.meter_id}",
            f'<UsagePoint xmlns="{ESPI}"><ServiceCategory><kind>0</kind>'
            f"</ServiceCategory></UsagePoint>",
        )
        for series in item.det.series:
            if series.obis not in _DIRECTION or not len(series):
                continue
            name, flow = _DIRECTION[series.obis]
            reading = f"{point}/MeterReading/{name}"
            reading_type = f"{base}/ReadingType/{meter}-{name}"
            multiplier = power_of_ten(series.kwh)
            feed.entry(
                reading,
                f"{point}/MeterReading",
                [f"{reading}/IntervalBlock", reading_type],
                f"{item.meter_id} {name}",
                f'<MeterReading xmlns="{ESPI}"/>',
            )
            feed.entry(
                reading_type,
                f"{base}/ReadingType",
                [],
                f"{name} energy, {series.interval} intervals",
                _reading_type(series, flow, multiplier),
            )
            values, qualities = _columns(series, multiplier)
            for low, high in _day_slices(series, period):
                block = f"{reading}/IntervalBlock/{epoch_seconds(series.interval_start(low))}"
                feed.entry(
                    block,
                    f"{reading}/IntervalBlock",
                    [],
                    f"{item.meter_id} {name} day",
                    _interval_block(series, low, high, values, qualities),
                )
        feed.entry(
            f"{point}/UsageSummary/{period.name}",
            f"{point}/UsageSummary",
            [],
            f"{item.meter_id} {period.name} summary",
            _summary(item, period),
        )
        if on_item is not None:
            on_item(number)
    sink.write("</feed>\n")
    return feed.entries
