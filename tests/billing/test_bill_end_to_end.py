"""Hand-worked bills end to end: readings stored as the head-end stores them (Wh, capture times,
a real SQLite file), a fleet file with a [billing] section and tariffs written here, `headend bill`
run in-process, and the bills read back from the bills / bill_lines / bill_findings tables.

Every expected amount is worked by hand in the comments (rounding: EUR, 2 places, half-up).

Meters (all on UTC tariffs, so the period 2026-10 is 2026-10-01T00:00Z .. 2026-11-01T00:00Z):
- "tou": TOU + annual tiers + demand + net metering + daily and monthly fixed charges, from a
  15-minute profile (import and export) and daily registers 1.8.0..1.8.4; September is billed
  first, so October's annual tiers start from September's bill.
- "roll": a flat register tariff, the import register rolls over (modulus 100,000 kWh).
- "swap": a flat register tariff, the meter is replaced mid-month; "swap-daily" likewise with
  daily registers of both meters; "swap-profile" on the flat interval tariff, replaced between
  two profile captures.
- "gap": a flat interval tariff, 45 minutes of profile captures missing (linear interpolation);
  "gap-tou" on the TOU tariff, a gap across the day/peak boundary that sets the maximum demand.
- "roll-profile": the flat interval tariff, the profile rolls over mid-month.
- "edge": a flat register tariff, no read at the start boundary (interpolated between reads).
- "regtou": TOU from the tariff registers 1.8.1..1.8.4 at the boundaries, monthly tiers.
- "empty": nothing stored at all.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from drivers.contract import Reading
from headend.cli.main import main
from headend.config import load_config
from headend.store import open_store
from tests.billing.tariff_texts import EUR_CENTS, FOUR_PERIODS

D = Decimal
STEP = timedelta(minutes=15)
SEP1 = datetime(2026, 9, 1, tzinfo=UTC)
OCT1 = datetime(2026, 10, 1, tzinfo=UTC)
NOV1 = datetime(2026, 11, 1, tzinfo=UTC)
IMPORT = "1.0.1.8.0.255"
EXPORT = "1.0.2.8.0.255"
RATE_OBIS = {"night": "1.0.1.8.1.255", "day": "1.0.1.8.2.255", "peak": "1.0.1.8.3.255"}
RATE_OBIS["shoulder"] = "1.0.1.8.4.255"
PEAK_AT = datetime(2026, 10, 14, 18, 0, tzinfo=UTC)  # the one 1.000 kWh interval (4 kW)
GAP = [datetime(2026, 10, 10, 10, m, tzinfo=UTC) for m in (15, 30, 45)]  # captures missing
METERS = [
    "tou",
    "roll",
    "swap",
    "swap-daily",
    "swap-profile",
    "gap",
    "gap-tou",
    "roll-profile",
    "edge",
    "regtou",
    "empty",
]

# the TOU tariffs' rates per period, and the registers that count each period
TOU_RATES = """
[rates]
night = 0.10
day = 0.20
peak = 0.30
shoulder = 0.15
"""
RATE_REGISTERS = "\n[registers]\n" + "".join(f'{p} = "{o}"\n' for p, o in RATE_OBIS.items())


def tou_tariff(tariff_id: str, tier_basis: str, charges: str) -> str:
    """A UTC tariff on the four periods at TOU_RATES, adder tiers over `tier_basis`, `charges`
    (its tiers and the rest), and RATE_REGISTERS."""
    head = f'\nid = "{tariff_id}"\ntimezone = "UTC"\nweekend = []\ntier_basis = "{tier_basis}"\n'
    head += 'tier_mode = "adder"\n'
    return head + EUR_CENTS + FOUR_PERIODS + TOU_RATES + charges + RATE_REGISTERS


TOU_TARIFF = tou_tariff(
    "e2e-tou",
    "year",
    """
[[tiers]]
up_to_kwh = 1000
rate = 0.00

[[tiers]]
up_to_kwh = 1500
rate = 0.05

[[tiers]]
rate = 0.10

[demand]
rate = 12.00
periods = ["peak"]

[[fixed]]
name = "Standing charge"
per = "day"
rate = 0.50

[[fixed]]
name = "Metering service"
per = "month"
rate = 5.00

[export]
mode = "net-metering"
excess = "credit"
""",
)

REGISTER_TOU_TARIFF = tou_tariff(
    "e2e-tou-registers",
    "month",
    """
[[tiers]]
up_to_kwh = 100
rate = 0.00

[[tiers]]
rate = 0.02

[[fixed]]
name = "Standing charge"
per = "day"
rate = 0.50
""",
)

FLAT_REGISTERS_TARIFF = (
    """
id = "e2e-flat"
timezone = "UTC"
"""
    + EUR_CENTS
    + """
[rates]
all = 0.20
[registers]
all = "1.0.1.8.0.255"
"""
)

FLAT_INTERVALS_TARIFF = (
    """
id = "e2e-flat-profile"
timezone = "UTC"
"""
    + EUR_CENTS
    + """
[rates]
all = 0.20
"""
)

FLEET = """
[site]
name = "e2e"
database = "{db}"

[[channels]]
id = "c1"
host = "127.0.0.1"
port = 4059
{meters}
[billing]
tariffs = ["e2e-tou.toml", "e2e-flat.toml", "e2e-flat-profile.toml", "e2e-tou-registers.toml"]
default_tariff = "{default}"

[[billing.assign]]
tariff = "e2e-flat"
meters = ["roll", "swap", "swap-daily", "edge", "empty"]

[[billing.assign]]
tariff = "e2e-flat-profile"
meters = ["gap", "swap-profile", "roll-profile"]

[[billing.assign]]
tariff = "e2e-tou-registers"
meters = ["regtou"]

[billing.vee]
rollover_kwh = 100000
interpolate_max_intervals = 8

[[billing.replacements]]
meter_id = "swap"
at = 2026-10-15T09:30:00Z
old_final = {{ "1.0.1.8.0.255" = 5300 }}
new_first = {{ "1.0.1.8.0.255" = 2 }}

[[billing.replacements]]
meter_id = "swap-daily"
at = 2026-10-15T09:30:00Z
old_final = {{ "1.0.1.8.0.255" = 5300 }}
new_first = {{ "1.0.1.8.0.255" = 2 }}

[[billing.replacements]]
meter_id = "swap-profile"
at = 2026-10-15T09:37:00Z
old_final = {{ "1.0.1.8.0.255" = 3000.1 }}
new_first = {{ "1.0.1.8.0.255" = 0 }}
"""


def _reading(meter: str, obis: str, at: datetime, wh: Decimal) -> Reading:
    return Reading(
        meter_id=meter,
        obis=obis,
        value=wh,
        unit="Wh",
        capture_time=at,
        receive_time=at + timedelta(minutes=3),
    )


def period_of(at: datetime) -> str:
    hour = at.hour
    if hour >= 23 or hour < 7:
        return "night"
    if hour < 17:
        return "day"
    return "peak" if hour < 21 else "shoulder"


def tou_readings() -> list[Reading]:
    """Meter "tou", 2026-09-01 .. 2026-11-01, every 15 minutes.

    Import: 250 Wh every interval (1 kW), except the interval from 2026-10-14T18:00Z (peak) which
    is 1,000 Wh (4 kW). Export: nothing in September; in October 100 Wh every interval of the
    "day" period (07:00-17:00 UTC, 40 intervals a day). Daily registers at 00:00 UTC: 1.8.0 (the
    profile's own capture), 2.8.0 (likewise) and 1.8.1..1.8.4, each counting its period's
    intervals, so the tariff registers add up to the profile (the VEE sum check finds nothing).
    Start values: 1.8.0 = 1,000 kWh = 1.8.1 400 + 1.8.2 300 + 1.8.3 200 + 1.8.4 100 kWh;
    2.8.0 = 500 kWh.
    """
    out: list[Reading] = []
    imp, exp = D(1_000_000), D(500_000)
    rates = {"night": D(400_000), "day": D(300_000), "peak": D(200_000), "shoulder": D(100_000)}
    at = SEP1
    while at <= NOV1:
        out.append(_reading("tou", IMPORT, at, imp))
        out.append(_reading("tou", EXPORT, at, exp))
        if at.hour == 0 and at.minute == 0:
            out += [_reading("tou", RATE_OBIS[p], at, v) for p, v in rates.items()]
        use = D(1000) if at == PEAK_AT else D(250)
        imp += use
        rates[period_of(at)] += use
        if at >= OCT1 and period_of(at) == "day":
            exp += D(100)
        at += STEP
    return out


def gap_readings() -> list[Reading]:
    """Meter "gap": 250 Wh every interval of October from 2,000 kWh, the captures at 10:15, 10:30
    and 10:45 on 2026-10-10 missing (the head-end never got them)."""
    out: list[Reading] = []
    wh = D(2_000_000)
    at = OCT1
    while at <= NOV1:
        if at not in GAP:
            out.append(_reading("gap", IMPORT, at, wh))
        wh += D(250)
        at += STEP
    return out


TOU_GAP = [datetime(2026, 10, 20, 16, m, tzinfo=UTC) for m in (45,)]
TOU_GAP += [datetime(2026, 10, 20, 17, m, tzinfo=UTC) for m in (0, 15, 30)]
# what the meter really used in the intervals 16:30 .. 17:30 (never captured but the total)
TOU_GAP_USE = {datetime(2026, 10, 20, 16, 30, tzinfo=UTC): D(100), TOU_GAP[0]: D(100)}
TOU_GAP_USE.update({TOU_GAP[1]: D(400), TOU_GAP[2]: D(400), TOU_GAP[3]: D(500)})


def gap_tou_readings() -> list[Reading]:
    """Meter "gap-tou": import only (no export, no tariff registers), 250 Wh every interval of
    October from 1,000 kWh, except on 10-20 the five intervals from 16:30 use 100, 100, 400,
    400, 500 Wh (1.5 kWh) and the captures at 16:45, 17:00, 17:15 and 17:30 are missing."""
    out: list[Reading] = []
    wh = D(1_000_000)
    at = OCT1
    while at <= NOV1:
        if at not in TOU_GAP:
            out.append(_reading("gap-tou", IMPORT, at, wh))
        wh += TOU_GAP_USE.get(at, D(250))
        at += STEP
    return out


def roll_profile_readings() -> list[Reading]:
    """Meter "roll-profile": 250 Wh every interval of October from 99,500 kWh; the register
    shows the count modulo 100,000 kWh, so it passes 0 on the 21st."""
    out: list[Reading] = []
    wh = D(99_500_000)
    at = OCT1
    while at <= NOV1:
        out.append(_reading("roll-profile", IMPORT, at, wh % D(100_000_000)))
        wh += D(250)
        at += STEP
    return out


def register_readings() -> list[Reading]:
    return [
        # "roll": 99,900 kWh at the start, 150 kWh at the end: rolled over at 100,000 kWh
        _reading("roll", IMPORT, OCT1, D(99_900_000)),
        _reading("roll", IMPORT, NOV1, D(150_000)),
        # "swap": the old meter shows 5,000 kWh at the start; the new one 252 kWh at the end
        _reading("swap", IMPORT, OCT1, D(5_000_000)),
        _reading("swap", IMPORT, NOV1, D(252_000)),
        # "edge": no read at 2026-10-01T00:00Z; reads 6 hours either side, and one at the end
        _reading("edge", IMPORT, OCT1 - timedelta(hours=6), D(1_000_000)),
        _reading("edge", IMPORT, OCT1 + timedelta(hours=6), D(1_012_000)),
        _reading("edge", IMPORT, NOV1, D(1_106_000)),
        # "regtou": only the tariff registers, only at the boundaries
        *[_reading("regtou", RATE_OBIS[p], OCT1, D(wh)) for p, wh in REGTOU_START.items()],
        *[_reading("regtou", RATE_OBIS[p], NOV1, D(wh)) for p, wh in REGTOU_END.items()],
    ]


# advances: night 120, day 50, peak 20, shoulder 10.5 kWh
REGTOU_START = {"night": 1_000_000, "day": 2_000_000, "peak": 3_000_000, "shoulder": 4_000_000}
REGTOU_END = {"night": 1_120_000, "day": 2_050_000, "peak": 3_020_000, "shoulder": 4_010_500}


def swap_daily_readings() -> list[Reading]:
    """Meter "swap-daily": the old meter's daily register 5,000 kWh on 10-01 plus 20 kWh a day
    to 5,280 kWh on 10-15; the new meter's from 14 kWh on 10-16 plus 20 kWh a day to 334 kWh on
    11-01 (the exchange at 10-15T09:30: old final 5,300, new first 2)."""
    old = [
        _reading("swap-daily", IMPORT, OCT1 + timedelta(days=d), D(5_000_000 + 20_000 * d))
        for d in range(15)
    ]
    new = [
        _reading("swap-daily", IMPORT, OCT1 + timedelta(days=d), D(14_000 + 20_000 * (d - 15)))
        for d in range(15, 32)
    ]
    return old + new


SWAP_AT = datetime(2026, 10, 15, 9, 37, tzinfo=UTC)


def swap_profile_readings() -> list[Reading]:
    """Meter "swap-profile": 250 Wh every interval of October. The old meter's captures run to
    3,000.000 kWh at 10-15T09:30; it is removed at 09:37 showing 3,000.1 kWh (0.1 kWh used); the
    new meter, fitted at 0, shows 0.15 kWh at 09:45 and 250 Wh more every interval after."""
    out: list[Reading] = []
    last_old = (SWAP_AT - OCT1) // STEP  # 14 x 96 + 38: the capture at 10-15T09:30
    old = D(3_000_000) - 250 * last_old  # so that the capture at 09:30 is 3,000 kWh
    at, new = OCT1, D(150)
    while at <= NOV1:
        if at < SWAP_AT:
            out.append(_reading("swap-profile", IMPORT, at, old))
            old += 250
        else:
            out.append(_reading("swap-profile", IMPORT, at, new))
            new += 250
        at += STEP
    return out


_CACHE: list[Reading] = []


def all_readings() -> list[Reading]:
    if not _CACHE:
        _CACHE.extend(
            tou_readings()
            + gap_readings()
            + register_readings()
            + swap_daily_readings()
            + swap_profile_readings()
            + gap_tou_readings()
            + roll_profile_readings()
        )
    return _CACHE


async def _store(db: Path, readings: list[Reading]) -> None:
    store = await open_store(db)
    try:
        for first in range(0, len(readings), 5000):
            await store.save_batch(readings[first : first + 5000])
    finally:
        await store.close()


@dataclass(frozen=True)
class Site:
    fleet: Path
    db: Path

    def bill(self, *args: str) -> int:
        return main(["bill", "--config", str(self.fleet), *args])

    def add(self, readings: list[Reading]) -> None:
        asyncio.run(_store(self.db, readings))

    def query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with sqlite3.connect(self.db) as conn:
            return list(conn.execute(sql, params).fetchall())

    def current(self, meter: str, period: str) -> tuple[str, Decimal, str, str, Decimal]:
        """bill id, total, quality, source, import kWh of the bill nothing supersedes."""
        rows = self.query(
            "SELECT bill_id, total, quality, source, import_kwh FROM bills "
            "WHERE meter_id = ? AND period = ? AND superseded_by IS NULL",
            (meter, period),
        )
        assert len(rows) == 1, rows
        bid, total, quality, source, kwh = rows[0]
        return str(bid), D(str(total)), str(quality), str(source), D(str(kwh))

    def lines(self, bill_id: str) -> list[tuple[str, str | None, Decimal, str, Decimal, Decimal]]:
        rows = self.query(
            "SELECT kind, tariff_period, quantity, unit, rate, amount FROM bill_lines "
            "WHERE bill_id = ? ORDER BY line_no",
            (bill_id,),
        )
        return [
            (str(k), None if p is None else str(p), D(str(q)), str(u), D(str(r)), D(str(a)))
            for k, p, q, u, r, a in rows
        ]

    def rules(self, bill_id: str) -> list[str]:
        rows = self.query("SELECT rule FROM bill_findings WHERE bill_id = ?", (bill_id,))
        return [str(r[0]) for r in rows]


def write_site(tmp_path: Path, *, default: str = "e2e-tou", billing_extra: str = "") -> Site:
    (tmp_path / "e2e-tou.toml").write_text(TOU_TARIFF)
    (tmp_path / "e2e-flat.toml").write_text(FLAT_REGISTERS_TARIFF)
    (tmp_path / "e2e-flat-profile.toml").write_text(FLAT_INTERVALS_TARIFF)
    (tmp_path / "e2e-tou-registers.toml").write_text(REGISTER_TOU_TARIFF)
    db = tmp_path / "site.sqlite3"
    meters = "".join(
        f'\n[[meters]]\nid = "{m}"\nprotocol = "dlms"\nchannel = "c1"\n' for m in METERS
    )
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(FLEET.format(db=db, meters=meters, default=default) + billing_extra)
    return Site(fleet, db)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    made = write_site(tmp_path)
    load_config(made.fleet)  # the fleet file is a valid head-end fleet file
    made.add(all_readings())
    yield made


def test_tou_tiers_demand_net_metering_fixed(site: Site) -> None:
    # September first: its bill is what October's annual tiers start from.
    assert site.bill("--period", "2026-09", "--meters", "tou") == 0
    sep_id, sep_total, quality, source, sep_kwh = site.current("tou", "2026-09")
    # September, 30 days of 96 intervals of 0.25 kWh, no export:
    #   per day night 32 x 0.25 = 8, day 40 x 0.25 = 10, peak 16 x 0.25 = 4, shoulder 8 x 0.25 = 2
    #   night 240 kWh x 0.10 = 24.00; day 300 x 0.20 = 60.00; peak 120 x 0.30 = 36.00;
    #   shoulder 60 x 0.15 = 9.00; net energy billed 720 kWh, tier year so far 0 .. 720:
    #   tier 1 (0-1000, +0.00) 720 kWh = 0.00; demand: max 0.25 kWh in 15 min = 1.000 kW x 12.00
    #   = 12.00; standing 30 days x 0.50 = 15.00; metering 5.00.
    #   total 24 + 60 + 36 + 9 + 0 + 12 + 15 + 5 = 161.00
    assert (quality, source, sep_kwh) == ("actual", "intervals", D(720))
    assert [(k, p, q, a) for k, p, q, _, _, a in site.lines(sep_id)] == [
        ("net", "night", D(240), D("24.00")),
        ("net", "day", D(300), D("60.00")),
        ("net", "peak", D(120), D("36.00")),
        ("net", "shoulder", D(60), D("9.00")),
        ("tier", "tier-1", D(720), D("0.00")),
        ("demand", "peak", D(1), D("12.00")),
        ("fixed", None, D(30), D("15.00")),
        ("fixed", None, D(1), D("5.00")),
    ]
    assert sep_total == D("161.00")

    assert site.bill("--period", "2026-10", "--meters", "tou") == 0
    bid, total, quality, source, kwh = site.current("tou", "2026-10")
    # October, 31 days: import as September plus 0.75 kWh more in the 18:00 peak interval of
    # the 14th; export 40 x 0.1 = 4 kWh a day in "day" = 124 kWh.
    #   night 31 x 8 = 248 - 0 = 248 x 0.10 = 24.80
    #   day 31 x 10 = 310 - 124 = 186 x 0.20 = 37.20
    #   peak 31 x 4 + 0.75 = 124.75 - 0 = 124.75 x 0.30 = 37.425 -> 37.43 (half-up)
    #   shoulder 31 x 2 = 62 x 0.15 = 9.30
    #   net energy billed 248 + 186 + 124.75 + 62 = 620.75 kWh; tier year from September's
    #   720 kWh: 720 .. 1340.75 -> tier 1 (to 1000) 280 kWh at +0.00 = 0.00,
    #   tier 2 (1000-1500) 340.75 kWh at +0.05 = 17.0375 -> 17.04
    #   demand: 1.000 kWh in the 18:00 interval (peak) = 4.000 kW x 12.00 = 48.00
    #   standing 31 x 0.50 = 15.50; metering 5.00
    #   total 24.80 + 37.20 + 37.43 + 9.30 + 0.00 + 17.04 + 48.00 + 15.50 + 5.00 = 194.27
    assert (quality, source) == ("actual", "intervals")
    assert kwh == D("744.75")  # gross import: 248 + 310 + 124.75 + 62
    assert site.lines(bid) == [
        ("net", "night", D(248), "kWh", D("0.10"), D("24.80")),
        ("net", "day", D(186), "kWh", D("0.20"), D("37.20")),
        ("net", "peak", D("124.75"), "kWh", D("0.30"), D("37.43")),
        ("net", "shoulder", D(62), "kWh", D("0.15"), D("9.30")),
        ("tier", "tier-1", D(280), "kWh", D("0.00"), D("0.00")),
        ("tier", "tier-2", D("340.75"), "kWh", D("0.05"), D("17.04")),
        ("demand", "peak", D(4), "kW", D("12.00"), D("48.00")),
        ("fixed", None, D(31), "day", D("0.50"), D("15.50")),
        ("fixed", None, D(1), "month", D("5.00"), D("5.00")),
    ]
    assert total == D("194.27")
    assert site.rules(bid) == []  # registers and profile agree: nothing found

    # the same data again: no new bill, the same id
    assert site.bill("--period", "2026-10", "--meters", "tou") == 0
    assert site.current("tou", "2026-10")[0] == bid
    assert site.query("SELECT COUNT(*) FROM bills WHERE meter_id = 'tou'") == [(2,)]


def test_rollover_replacement_gap_and_boundary(site: Site) -> None:
    assert site.bill("--period", "2026-10", "--meters", "roll,swap,gap,edge") == 0

    # rollover: 99,900 -> 150 kWh; dropped by more than half the modulus 100,000, so rolled:
    #   150 + 100,000 - 99,900 = 250 kWh x 0.20 = 50.00; the readings are actual
    bid, total, quality, source, kwh = site.current("roll", "2026-10")
    assert (total, quality, source, kwh) == (D("50.00"), "actual", "registers", D(250))
    assert site.lines(bid) == [("energy", "all", D(250), "kWh", D("0.20"), D("50.00"))]
    assert site.rules(bid) == ["register-rollover"]

    # rollover on a profile: 2,977 captures 250 Wh apart, one of them from 99,999.75 to 0 kWh;
    #   31 x 96 x 0.25 = 744 kWh x 0.20 = 148.80, actual
    assert site.bill("--period", "2026-10", "--meters", "roll-profile") == 0
    bid, total, quality, source, kwh = site.current("roll-profile", "2026-10")
    assert (total, quality, source, kwh) == (D("148.80"), "actual", "intervals", D(744))
    assert site.rules(bid) == ["register-rollover"]

    # replacement at 2026-10-15T09:30Z: old meter 5,000 -> 5,300 (its final) = 300 kWh,
    #   new meter 2 (its first) -> 252 = 250 kWh; 550 kWh x 0.20 = 110.00
    bid, total, quality, source, kwh = site.current("swap", "2026-10")
    assert (total, source, kwh) == (D("110.00"), "registers", D(550))
    assert site.lines(bid) == [("energy", "all", D(550), "kWh", D("0.20"), D("110.00"))]
    assert site.rules(bid) == ["meter-replacement"]

    # with daily registers of both meters: old 5,000 -> 5,300 = 300 kWh, new 2 -> 334 = 332 kWh;
    #   632 kWh x 0.20 = 126.40
    assert site.bill("--period", "2026-10", "--meters", "swap-daily,swap-profile") == 0
    bid, total, quality, source, kwh = site.current("swap-daily", "2026-10")
    assert (total, quality, source, kwh) == (D("126.40"), "actual", "registers", D(632))

    # on a profile: the interval 09:30-09:45 of the 15th is 0.1 kWh on the old meter (3,000 ->
    #   3,000.1) and 0.15 kWh on the new one (0 -> 0.15) = 0.25 kWh like every other; 31 x 96 x
    #   0.25 = 744 kWh x 0.20 = 148.80, all actual
    bid, total, quality, source, kwh = site.current("swap-profile", "2026-10")
    assert (total, quality, source, kwh) == (D("148.80"), "actual", "intervals", D(744))
    assert site.rules(bid) == ["meter-replacement"]

    # gap: 2,977 captures of October less 3: the intervals 10:00-11:00 on the 10th (4 of them)
    #   have one advance of 1.000 kWh between the captures at 10:00 and 11:00, shared linearly
    #   (0.25 each). Energy: 31 x 96 x 0.25 = 744 kWh x 0.20 = 148.80; estimated 1.000 kWh.
    bid, total, quality, source, kwh = site.current("gap", "2026-10")
    assert (total, quality, source, kwh) == (D("148.80"), "estimated", "intervals", D(744))
    assert site.lines(bid) == [("energy", "all", D(744), "kWh", D("0.20"), D("148.80"))]
    assert "linear-interpolation" in site.rules(bid)
    (estimated,) = site.query("SELECT body FROM bills WHERE bill_id = ?", (bid,))[0]
    assert D(json.loads(str(estimated))["estimated_kwh"]) == D(1)

    # gap on the TOU tariff: the captures at 16:30 and 17:45 on the 20th are 1.5 kWh apart,
    #   shared linearly over the 5 intervals: 0.3 kWh each (the meter really used 0.1, 0.1, 0.4,
    #   0.4, 0.5). 16:30 and 16:45 are "day", 17:00..17:30 "peak":
    #   night 31 x 8 = 248 x 0.10 = 24.80
    #   day 31 x 10 - 0.5 + 0.6 = 310.1 x 0.20 = 62.02
    #   peak 31 x 4 - 0.75 + 0.9 = 124.15 x 0.30 = 37.245 -> 37.25 (half-up)
    #   shoulder 62 x 0.15 = 9.30 (no export register: net = import)
    #   tiers: no earlier bill this year, 0 .. 744.25 all in tier 1 at +0.00 = 0.00
    #   demand: the largest peak interval is an estimated 0.3 kWh = 1.200 kW x 12.00 = 14.40
    #   standing 31 x 0.50 = 15.50; metering 5.00
    #   total 24.80 + 62.02 + 37.25 + 9.30 + 0.00 + 14.40 + 15.50 + 5.00 = 168.27
    assert site.bill("--period", "2026-10", "--meters", "gap-tou") == 0
    bid, total, quality, source, kwh = site.current("gap-tou", "2026-10")
    assert (total, quality, source, kwh) == (D("168.27"), "estimated", "intervals", D("744.25"))
    assert [(p, q, a) for _, p, q, _, _, a in site.lines(bid)] == [
        ("night", D(248), D("24.80")),
        ("day", D("310.1"), D("62.02")),
        ("peak", D("124.15"), D("37.25")),
        ("shoulder", D(62), D("9.30")),
        ("tier-1", D("744.25"), D("0.00")),
        ("peak", D("1.2"), D("14.40")),
        (None, D(31), D("15.50")),
        (None, D(1), D("5.00")),
    ]
    assert site.rules(bid) == ["gap", "linear-interpolation"]

    # boundary: reads 1,000 kWh at 09-30T18:00 and 1,012 kWh at 10-01T06:00; the start
    #   boundary in time: 1,000 + 12 x 6/12 = 1,006 kWh (estimated); end 1,106 actual;
    #   100 kWh x 0.20 = 20.00; the 6 kWh between the boundary and the read inside estimated
    bid, total, quality, source, kwh = site.current("edge", "2026-10")
    assert (total, quality, source, kwh) == (D("20.00"), "estimated", "registers", D(100))
    assert site.lines(bid) == [("energy", "all", D(100), "kWh", D("0.20"), D("20.00"))]
    (body,) = site.query("SELECT body FROM bills WHERE bill_id = ?", (bid,))[0]
    assert D(json.loads(str(body))["estimated_kwh"]) == D(6)

    # new data for the period: the start read arrives (1,005 kWh actual): 101 kWh = 20.20,
    # a new bill that supersedes the estimated one
    site.add([_reading("edge", IMPORT, OCT1, D(1_005_000))])
    assert site.bill("--period", "2026-10", "--meters", "edge") == 0
    new_id, total, quality, _, kwh = site.current("edge", "2026-10")
    assert (total, quality, kwh) == (D("20.20"), "actual", D(101))
    assert new_id != bid
    assert site.query("SELECT superseded_by FROM bills WHERE bill_id = ?", (bid,)) == [(new_id,)]


def test_tou_from_registers_with_monthly_tiers(site: Site) -> None:
    assert site.bill("--period", "2026-10", "--meters", "regtou") == 0
    bid, total, quality, source, kwh = site.current("regtou", "2026-10")
    # register advances, all read at the boundaries (actual):
    #   night 1,120 - 1,000 = 120 kWh x 0.10 = 12.00; day 50 x 0.20 = 10.00;
    #   peak 20 x 0.30 = 6.00; shoulder 10.5 x 0.15 = 1.575 -> 1.58 (half-up)
    #   import 200.5 kWh, monthly tiers: 0-100 at +0.00 = 0.00, above 100: 100.5 x 0.02 = 2.01
    #   standing 31 days x 0.50 = 15.50
    #   total 12.00 + 10.00 + 6.00 + 1.58 + 0.00 + 2.01 + 15.50 = 47.09
    assert (quality, source, kwh) == ("actual", "registers", D("200.5"))
    assert site.lines(bid) == [
        ("energy", "night", D(120), "kWh", D("0.10"), D("12.00")),
        ("energy", "day", D(50), "kWh", D("0.20"), D("10.00")),
        ("energy", "peak", D(20), "kWh", D("0.30"), D("6.00")),
        ("energy", "shoulder", D("10.5"), "kWh", D("0.15"), D("1.58")),
        ("tier", "tier-1", D(100), "kWh", D("0.00"), D("0.00")),
        ("tier", "tier-2", D("100.5"), "kWh", D("0.02"), D("2.01")),
        ("fixed", None, D(31), "day", D("0.50"), D("15.50")),
    ]
    assert total == D("47.09")
    assert site.rules(bid) == []


def test_json_summary_counts(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    assert site.bill("--period", "2026-09", "--meters", "tou") == 0
    capsys.readouterr()
    # every customer meter: six bill, "empty" has nothing stored (exit 1)
    assert site.bill("--period", "2026-10", "--json") == 1
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["period"] == "2026-10"
    assert (summary["billed"], summary["new"]) == (10, 10)
    assert list(summary["failed"]) == ["empty"]
    # actual: tou, roll, roll-profile, the three swaps, regtou;
    # estimated: gap and gap-tou (interpolated), edge (boundary)
    assert summary["quality"] == {"actual": 7, "estimated": 3}
    # tou 194.27 + roll 50.00 + roll-profile 148.80 + swap 110.00 + swap-daily 126.40
    #   + swap-profile 148.80 + gap 148.80 + gap-tou 168.27 + edge 20.00 + regtou 47.09
    #   = 1,162.43
    assert summary["totals"] == {"EUR": "1162.43"}
    # gap 1 kWh + gap-tou 1.5 kWh + edge 6 kWh
    assert D(summary["estimated_kwh"]) == D("8.5")
    assert summary["findings_by_rule"] == {
        "register-rollover": 2,
        "meter-replacement": 3,
        "gap": 2,
        "linear-interpolation": 2,
        "boundary-interpolation": 1,  # edge: its start read interpolated
    }

    # again: the same bills, nothing new stored
    assert site.bill("--period", "2026-10", "--json") == 1
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (again["billed"], again["new"]) == (10, 0)
    assert site.query("SELECT COUNT(*) FROM bills WHERE period = '2026-10'") == [(10,)]


def test_meter_with_nothing_stored_is_named_and_others_billed(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    assert site.bill("--period", "2026-10", "--meters", "roll", "empty") == 1
    err = capsys.readouterr().err
    assert "meter empty" in err and "not billed" in err, err
    assert "roll" not in err
    assert site.current("roll", "2026-10")[1] == D("50.00")
    assert site.query("SELECT COUNT(*) FROM bills WHERE meter_id = 'empty'") == [(0,)]


def test_json_run_still_names_unbilled_meter_on_stderr(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    assert site.bill("--period", "2026-10", "--meters", "roll", "empty", "--json") == 1
    assert "meter empty" in capsys.readouterr().err


def test_boundary_interpolation_is_a_stored_finding(site: Site) -> None:
    assert site.bill("--period", "2026-10", "--meters", "edge") == 0
    bid = site.current("edge", "2026-10")[0]
    assert "boundary-interpolation" in site.rules(bid)


PV_TARIFF = (
    """
id = "e2e-pv"
timezone = "UTC"
tier_basis = "year"
"""
    + EUR_CENTS
    + """
[rates]
all = 0.20
[registers]
all = "1.0.1.8.0.255"
[[tiers]]
up_to_kwh = 100
rate = 0.00
[[tiers]]
rate = 0.10
[export]
mode = "net-metering"
"""
)

PV_FLEET = """
[site]
name = "pv"
database = "{db}"
[[channels]]
id = "c1"
host = "127.0.0.1"
port = 4059
[[meters]]
id = "pv"
protocol = "dlms"
channel = "c1"
[billing]
tariffs = ["e2e-pv.toml"]
"""


def test_annual_tiers_under_net_metering_count_net_energy_of_earlier_months(
    tmp_path: Path,
) -> None:
    (tmp_path / "e2e-pv.toml").write_text(PV_TARIFF)
    db = tmp_path / "site.sqlite3"
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(PV_FLEET.format(db=db))
    site = Site(fleet, db)
    site.add(
        [
            _reading("pv", IMPORT, SEP1, D(0)),
            _reading("pv", EXPORT, SEP1, D(0)),
            _reading("pv", IMPORT, OCT1, D(100_000)),
            _reading("pv", EXPORT, OCT1, D(40_000)),
            _reading("pv", IMPORT, NOV1, D(200_000)),
            _reading("pv", EXPORT, NOV1, D(40_000)),
        ]
    )
    # September: import 100, export 40: net 60 kWh x 0.20 = 12.00, tier 1 (0-100) 60 at 0.00
    assert site.bill("--period", "2026-09") == 0
    assert site.current("pv", "2026-09")[1] == D("12.00")
    # October: import 100, export 0: net 100 x 0.20 = 20.00; the tier year has billed 60 kWh
    # of net energy, so 60 .. 160: tier 1 40 kWh at 0.00, tier 2 60 kWh x 0.10 = 6.00;
    # total 26.00 (counting September's gross 100 kWh would put all 100 in tier 2: 30.00)
    assert site.bill("--period", "2026-10") == 0
    assert site.current("pv", "2026-10")[1] == D("26.00")


@pytest.mark.parametrize(
    ("default", "extra", "names"),
    [
        ("e2e-none", "", ["fleet.toml", "billing.default_tariff", "e2e-none"]),
        ("e2e-tou", "rollover_kw = 5\n", ["fleet.toml", "billing.rollover_kw"]),
    ],
)
def test_broken_billing_section_exits_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    default: str,
    extra: str,
    names: list[str],
) -> None:
    made = write_site(tmp_path, default=default)
    if extra:  # a key [billing] does not know, written inside the [billing] table
        text = made.fleet.read_text().replace("[[billing.assign]]", extra + "[[billing.assign]]", 1)
        made.fleet.write_text(text)
    assert made.bill("--period", "2026-10") == 2
    err = capsys.readouterr().err
    for name in names:
        assert name in err, err
    assert not made.db.exists()  # refused before the database was opened: nothing applied


def test_unknown_tariff_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    made = write_site(tmp_path)
    made.fleet.write_text(made.fleet.read_text().replace('"e2e-flat.toml"', '"no-such.toml"'))
    assert made.bill("--period", "2026-10") == 2
    err = capsys.readouterr().err
    assert "no-such.toml" in err and "no such file" in err, err
    assert not made.db.exists()


def test_unknown_tariff_file_names_fleet_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    made = write_site(tmp_path)
    made.fleet.write_text(made.fleet.read_text().replace('"e2e-flat.toml"', '"no-such.toml"'))
    assert made.bill("--period", "2026-10") == 2
    err = capsys.readouterr().err
    assert "fleet.toml" in err and "billing.tariffs[1]" in err, err
