"""A simulated month (October 2026, Australia/Brisbane: UTC+10, no daylight saving) of a small
fleet, as the lead's loader and the bill engine would hand it to the exporters.

- M001: registers 1.8.0 and tariff registers 1.8.1..1.8.4, all actual, billed (4 energy lines,
  a fixed charge).
- M002: registers; a 4-interval gap on 3 October filled by linear interpolation, all of
  10 October estimated from matching days; billed.
- M003: registers; a power outage on 5 October (8 intervals substituted by zero) and a spike on
  7 October kept as measured but suspect; billed.
- M004: PV: import and export series, TOU from intervals (no tariff registers), start reads actual
  and end reads estimated (boundary interpolation), the last 8 import intervals estimated after the
  last measured one; billed with an export credit.
- M005: flat tariff from intervals only, no reads, no bill.

Interval values are whole Wh (3-decimal kWh) from a fixed formula, so every figure is exact.
Time-of-use periods follow the simulator's registers (by UTC hour): night 23-07 (1.8.1), day 07-17
(1.8.2), peak 17-21 (1.8.3), shoulder 21-23 (1.8.4).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from billing.bill.model import Bill, LineItem
from billing.determinants.model import Determinants
from billing.export.model import EXPORT_OBIS, IMPORT_OBIS, ExportItem
from billing.period import BillingPeriod
from billing.vee.model import (
    RULE_ACTUAL,
    RULE_BOUNDARY,
    RULE_HISTORY,
    RULE_INTERPOLATE,
    RULE_OUTAGE,
    RULE_SPIKE,
    Flag,
    IntervalSeries,
    RegisterRead,
)

PERIOD = BillingPeriod.month("2026-10", "Australia/Brisbane")
STEP = timedelta(minutes=15)
COUNT = 31 * 96  # 2,976 intervals: Brisbane has no daylight saving
TOU = ("night", "day", "peak", "shoulder")
REGISTERS = {p: f"1.0.1.8.{n}.255" for n, p in enumerate(TOU, 1)}
RATES = {
    "night": Decimal("0.1500"),
    "day": Decimal("0.2500"),
    "peak": Decimal("0.4000"),
    "shoulder": Decimal("0.2000"),
    "all": Decimal("0.2800"),
}
EXPORT_RATE = Decimal("0.0800")
KWH = Decimal("0.001")

# Marked intervals (index into the month's 2,976): day d (0 = 1 October), slot s -> d * 96 + s.
M002_GAP = range(2 * 96 + 40, 2 * 96 + 44)  # 3 Oct 10:00-11:00 local, linear interpolation
M002_DAY = range(9 * 96, 10 * 96)  # 10 Oct, average of matching days
M003_OUTAGE = range(4 * 96 + 40, 4 * 96 + 48)  # 5 Oct 10:00-12:00, power outage zero
M003_SPIKE = 6 * 96 + 70  # 7 Oct 17:30, suspect spike (5.000 kWh kept)
M004_TAIL = range(COUNT - 8, COUNT)  # 31 Oct 22:00-24:00, estimated after the last read


def tou_of(at: datetime) -> str:
    hour = at.astimezone(UTC).hour
    if hour >= 23 or hour < 7:
        return "night"
    if hour < 17:
        return "day"
    return "peak" if hour < 21 else "shoulder"


def import_wh(meter_seed: int, index: int) -> int:
    return 50 + (index * 7919 + meter_seed * 31) % 300


def export_wh(index: int) -> int:
    local_hour = (index // 4) % 24  # series starts at local midnight
    return 200 + (index * 13) % 100 if 7 <= local_hour < 17 else 0


def series(
    meter: str,
    obis: str,
    wh: list[int],
    marks: dict[int, tuple[Flag, str, Decimal | None]] | None = None,
) -> IntervalSeries:
    """A month's series from whole-Wh values; `marks` gives (flag, rule, raw) per index."""
    kwh = tuple(Decimal(v) * KWH for v in wh)
    raw: list[Decimal | None] = list(kwh)
    flags = [Flag.ACTUAL] * len(kwh)
    rules = [RULE_ACTUAL] * len(kwh)
    for index, (flag, rule, raw_value) in (marks or {}).items():
        flags[index], rules[index], raw[index] = flag, rule, raw_value
    return IntervalSeries(
        meter, obis, PERIOD.start, STEP, kwh, tuple(raw), tuple(flags), tuple(rules)
    )


def by_tou(s: IntervalSeries) -> dict[str, Decimal]:
    totals = {p: Decimal(0) for p in TOU}
    for i, value in enumerate(s.kwh):
        totals[tou_of(s.interval_start(i))] += value
    return totals


def read(
    meter: str,
    obis: str,
    at: datetime,
    kwh: Decimal,
    flag: Flag = Flag.ACTUAL,
    rule: str = RULE_ACTUAL,
) -> RegisterRead:
    return RegisterRead(meter, obis, at, kwh, None if flag is not Flag.ACTUAL else kwh, flag, rule)


def money(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), ROUND_HALF_UP)


def bill(meter: str, imports: dict[str, Decimal], exported: Decimal, quality: Flag) -> Bill:
    lines = [
        LineItem(
            kind="energy",
            description=f"Energy, {p}",
            tariff_period=p,
            quantity=kwh,
            unit="kWh",
            rate=RATES[p],
            amount=money(kwh * RATES[p]),
        )
        for p, kwh in imports.items()
    ]
    lines.append(
        LineItem(
            kind="fixed",
            description="Supply",
            quantity=Decimal(31),
            unit="day",
            rate=Decimal("1.1000"),
            amount=Decimal("34.10"),
        )
    )
    if exported:
        lines.append(
            LineItem(
                kind="export",
                description="PV export",
                tariff_period=None,
                quantity=exported,
                unit="kWh",
                rate=EXPORT_RATE,
                amount=-money(exported * EXPORT_RATE),
            )
        )
    return Bill(
        bill_id=f"bill-{meter}",
        meter_id=meter,
        period=PERIOD.name,
        period_start=PERIOD.start,
        period_end=PERIOD.end,
        tariff_id="sim-tou",
        tariff_digest="0" * 64,
        currency="AUD",
        lines=lines,
        total=sum((line.amount for line in lines), Decimal(0)),
        import_kwh=sum(imports.values(), Decimal(0)),
        export_kwh=exported,
        source="registers",
        quality=quality.value,
        estimated_kwh=Decimal(0),
    )


def _register_item(meter: str, seed: int, s: IntervalSeries) -> ExportItem:
    """A meter billed from its registers: reads consistent with the interval series."""
    per = by_tou(s)
    start_total = Decimal(1000 * seed) + Decimal("0.125")
    start_reads = [read(meter, IMPORT_OBIS, PERIOD.start, start_total)]
    end_reads = [read(meter, IMPORT_OBIS, PERIOD.end, start_total + s.total())]
    for n, p in enumerate(TOU, 1):
        base = Decimal(100 * seed + n)
        start_reads.append(read(meter, REGISTERS[p], PERIOD.start, base))
        end_reads.append(read(meter, REGISTERS[p], PERIOD.end, base + per[p]))
    det = Determinants(
        meter,
        PERIOD.start,
        PERIOD.end,
        "registers",
        per,
        {},
        start_reads=tuple(start_reads),
        end_reads=tuple(end_reads),
        series=(s,),
    )
    return ExportItem(meter, det, bill(meter, per, Decimal(0), det.flag), REGISTERS)


def fleet() -> list[ExportItem]:
    items: list[ExportItem] = []
    # M001: all actual.
    items.append(
        _register_item(
            "M001", 1, series("M001", IMPORT_OBIS, [import_wh(1, i) for i in range(COUNT)])
        )
    )

    # M002: estimates. Interpolated values: a straight line between the neighbours (whole Wh).
    wh2 = [import_wh(2, i) for i in range(COUNT)]
    before, after = wh2[M002_GAP[0] - 1], wh2[M002_GAP[-1] + 1]
    marks2: dict[int, tuple[Flag, str, Decimal | None]] = {}
    for k, i in enumerate(M002_GAP, 1):
        wh2[i] = before + (after - before) * k // 5
        marks2[i] = (Flag.ESTIMATED, RULE_INTERPOLATE, None)
    for i in M002_DAY:
        wh2[i] = 120
        marks2[i] = (Flag.ESTIMATED, RULE_HISTORY, None)
    items.append(_register_item("M002", 2, series("M002", IMPORT_OBIS, wh2, marks2)))

    # M003: outage zeros and a suspect spike.
    wh3 = [import_wh(3, i) for i in range(COUNT)]
    marks3: dict[int, tuple[Flag, str, Decimal | None]] = {}
    for i in M003_OUTAGE:
        wh3[i] = 0
        marks3[i] = (Flag.SUBSTITUTED, RULE_OUTAGE, None)
    wh3[M003_SPIKE] = 5000
    marks3[M003_SPIKE] = (Flag.SUSPECT, RULE_SPIKE, Decimal("5.000"))
    items.append(_register_item("M003", 3, series("M003", IMPORT_OBIS, wh3, marks3)))

    # M004: PV, intervals source, trailing forward estimate, estimated end reads.
    wh4 = [max(import_wh(4, i) - export_wh(i), 10) for i in range(COUNT)]
    marks4: dict[int, tuple[Flag, str, Decimal | None]] = {}
    for i in M004_TAIL:
        wh4[i] = 90
        marks4[i] = (Flag.ESTIMATED, RULE_HISTORY, None)
    imp = series("M004", IMPORT_OBIS, wh4, marks4)
    exp = series("M004", EXPORT_OBIS, [export_wh(i) for i in range(COUNT)])
    per4 = by_tou(imp)
    det4 = Determinants(
        "M004",
        PERIOD.start,
        PERIOD.end,
        "intervals",
        per4,
        {"all": exp.total()},
        start_reads=(
            read("M004", IMPORT_OBIS, PERIOD.start, Decimal("4000.000")),
            read("M004", EXPORT_OBIS, PERIOD.start, Decimal("700.000")),
        ),
        end_reads=(
            read(
                "M004",
                IMPORT_OBIS,
                PERIOD.end,
                Decimal("4000.000") + imp.total(),
                Flag.ESTIMATED,
                RULE_BOUNDARY,
            ),
            read(
                "M004",
                EXPORT_OBIS,
                PERIOD.end,
                Decimal("700.000") + exp.total(),
                Flag.ESTIMATED,
                RULE_BOUNDARY,
            ),
        ),
        series=(imp, exp),
    )
    items.append(ExportItem("M004", det4, bill("M004", per4, exp.total(), det4.flag)))

    # M005: flat, intervals only, no bill.
    s5 = series("M005", IMPORT_OBIS, [import_wh(5, i) for i in range(COUNT)])
    det5 = Determinants(
        "M005", PERIOD.start, PERIOD.end, "intervals", {"all": s5.total()}, {}, series=(s5,)
    )
    items.append(ExportItem("M005", det5, None))
    return items


NMIS = {
    "M001": "QB10000001",
    "M002": "QB10000002",
    "M003": "QB10000003",
    "M004": "QB10000004",
    "M005": "QB10000005",
}
