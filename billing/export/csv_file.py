"""CSV export: one row per meter, billing period and register.

Columns (header row first; UTF-8, comma-separated, `\\n` line ends, RFC 4180 quoting):

- meter: the meter id
- obis: the register: 1.0.1.8.0.255 total import, 1.0.1.8.T.255 tariff register T,
  1.0.2.8.0.255 total export
- period_start, period_end: the billing period, UTC, ISO 8601 (start inclusive, end exclusive)
- start_reading, end_reading: the register's value at period_start and period_end, kWh (empty:
  no reading of this register)
- consumption: energy in the period, kWh (import: taken from the grid; export: fed to it)
- unit: always kWh
- quality: worst VEE flag of what the row is worked from: actual, substituted, estimated, suspect
- tariff_period: the time-of-use period of the row (empty on total rows)
- amount: the bill's money for the row in the bill's currency (empty without a bill or a matching
  line): on a period row its energy and net lines, on the total import row all energy, tier
  (block) and net lines, on export rows the export lines (credits, negative); demand and fixed
  charges are on no row
- rules: the VEE rules that set a flag on the row's inputs, `;`-separated (empty: none)
- raw_start_reading, raw_end_reading: the reading as the meter gave it, when the reading is not
  actual (empty otherwise or when nothing was read)

Rows per meter, in this order: total import (1.0.1.8.0.255); one row per time-of-use period when
the tariff has more than one (its tariff register's OBIS when the tariff names one, else
1.0.1.8.0.255: the period's share of the total register worked out from interval data; its
readings are then empty); total export (1.0.2.8.0.255) when the meter exports or keeps the
register, and export rows per period likewise. The quality of a row is the worst flag of the
register reads of its OBIS and of the interval series of its register.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from decimal import Decimal

from billing.export.atomic import HashingWriter
from billing.export.model import EXPORT_OBIS, IMPORT_OBIS, ExportItem
from billing.export.text import decimal_text, iso_utc
from billing.vee.model import Flag, IntervalSeries, RegisterRead, worst

COLUMNS = (
    "meter",
    "obis",
    "period_start",
    "period_end",
    "start_reading",
    "end_reading",
    "consumption",
    "unit",
    "quality",
    "tariff_period",
    "amount",
    "rules",
    "raw_start_reading",
    "raw_end_reading",
)

_IMPORT_LINES = ("energy", "net")
_IMPORT_TOTAL_LINES = ("energy", "tier", "net")
_EXPORT_LINES = ("export",)


def _amounts(item: ExportItem, kinds: tuple[str, ...]) -> tuple[dict[str, Decimal], Decimal | None]:
    """Per tariff period and in total, the bill's amounts of lines of `kinds`."""
    if item.bill is None:
        return {}, None
    per: dict[str, Decimal] = {}
    total: Decimal | None = None
    for line in item.bill.lines:
        if line.kind not in kinds:
            continue
        total = line.amount if total is None else total + line.amount
        if line.tariff_period is not None:
            per[line.tariff_period] = per.get(line.tariff_period, Decimal(0)) + line.amount
    return per, total


def _series_quality(series: IntervalSeries | None) -> tuple[set[Flag], set[str]]:
    if series is None:
        return set(), set()
    return set(series.flags), {rule for rule in set(series.rules) if rule}


def _reading(read: RegisterRead | None) -> tuple[str, str]:
    if read is None:
        return "", ""
    raw = "" if read.flag is Flag.ACTUAL or read.raw is None else decimal_text(read.raw)
    return decimal_text(read.kwh), raw


def _row(
    item: ExportItem,
    obis: str,
    start: RegisterRead | None,
    end: RegisterRead | None,
    consumption: Decimal,
    series: IntervalSeries | None,
    tariff_period: str,
    amount: Decimal | None,
) -> list[str]:
    flags, rules = _series_quality(series)
    for read in (start, end):
        if read is not None:
            flags.add(read.flag)
            if read.rule:
                rules.add(read.rule)
    start_text, raw_start = _reading(start)
    end_text, raw_end = _reading(end)
    det = item.det
    return [
        item.meter_id,
        obis,
        iso_utc(det.period_start),
        iso_utc(det.period_end),
        start_text,
        end_text,
        decimal_text(consumption),
        "kWh",
        worst(flags).value,
        tariff_period,
        "" if amount is None else decimal_text(amount),
        ";".join(sorted(rules)),
        raw_start,
        raw_end,
    ]


def rows_for(item: ExportItem) -> Iterable[list[str]]:
    """The rows of one meter, in the documented order."""
    det = item.det
    starts = {read.obis: read for read in det.start_reads}
    ends = {read.obis: read for read in det.end_reads}
    series = {s.obis: s for s in det.series}
    per_import, _ = _amounts(item, _IMPORT_LINES)
    _, total_import = _amounts(item, _IMPORT_TOTAL_LINES)
    per_export, total_export = _amounts(item, _EXPORT_LINES)
    import_series = series.get(IMPORT_OBIS)

    yield _row(
        item,
        IMPORT_OBIS,
        starts.get(IMPORT_OBIS),
        ends.get(IMPORT_OBIS),
        det.import_total,
        import_series,
        "",
        total_import,
    )
    if len(det.import_kwh) > 1:
        for period, kwh in det.import_kwh.items():
            obis = item.tariff_registers.get(period, IMPORT_OBIS)
            register = obis != IMPORT_OBIS
            yield _row(
                item,
                obis,
                starts.get(obis) if register else None,
                ends.get(obis) if register else None,
                kwh,
                None if register else import_series,
                period,
                per_import.get(period),
            )
    export_series = series.get(EXPORT_OBIS)
    if det.export_kwh or EXPORT_OBIS in starts or EXPORT_OBIS in ends or export_series:
        yield _row(
            item,
            EXPORT_OBIS,
            starts.get(EXPORT_OBIS),
            ends.get(EXPORT_OBIS),
            det.export_total,
            export_series,
            "",
            total_export,
        )
        if len(det.export_kwh) > 1:
            for period, kwh in det.export_kwh.items():
                yield _row(
                    item,
                    EXPORT_OBIS,
                    None,
                    None,
                    kwh,
                    export_series,
                    period,
                    per_export.get(period),
                )


def write_csv(
    items: Iterable[ExportItem],
    sink: HashingWriter,
    on_item: Callable[[int], None] | None = None,
) -> int:
    """Write the header and every item's rows; returns the number of rows after the header."""
    writer = csv.writer(sink, lineterminator="\n")
    writer.writerow(COLUMNS)
    records = 0
    for number, item in enumerate(items, 1):
        rows = list(rows_for(item))
        writer.writerows(rows)
        records += len(rows)
        if on_item is not None:
            on_item(number)
    return records
