"""The tariff-based daily deduction over real stored readings: a day is a local date in the
`[billing.prepay]` time zone, priced across the tariff's billing months it touches, rounded to
the account currency, and not priced before its readings are stored.

The meter's import register is stored every 15 minutes from 2026-10-01 00:00 UTC (1,000 kWh):
1 kWh an hour in October, 2 kWh an hour from November 1 00:00 UTC. The tariff is flat,
0.3125 EUR/kWh, billed in UTC months from that register; the prepaid accounts' days are
Asia/Shanghai dates (UTC+8, no summer time), so Shanghai's November 1 is
[Oct 31 16:00 UTC, Nov 1 16:00 UTC):

    October's share:  8 h x 1 kWh = 8 kWh;  month-to-date 744 kWh x 0.3125 = 232.50 less
                      736 kWh x 0.3125 = 230.00 -> 2.50
    November's share: 16 h x 2 kWh = 32 kWh x 0.3125 = 10.00 (less nothing: the month's start)
    the day: 2.50 + 10.00 = 12.50 EUR
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from billing.config import billing_of
from billing.jobs.deduction import TariffDeduction, local_day, months_across
from billing.prepay.runner import DeductionUnavailable
from billing.store.database import open_billing_db
from billing.store.schema import MIGRATIONS
from drivers.contract import Reading
from headend.config import load_config
from headend.store import SqliteStore

METER = "m1"
IMPORT = "1.0.1.8.0.255"
OCTOBER = datetime(2026, 10, 1, tzinfo=UTC)
NOVEMBER = datetime(2026, 11, 1, tzinfo=UTC)

TARIFF = """
id = "flat-test"
timezone = "UTC"
[money]
currency = "EUR"
minor_units = 2
rounding = "half-up"
[rates]
all = 0.3125
[registers]
all = "1.0.1.8.0.255"
"""

FLEET = """
[site]
database = "{db}"
[[channels]]
id = "c1"
host = "127.0.0.1"
port = 4059
[[meters]]
id = "m1"
protocol = "dlms"
channel = "c1"
[billing]
tariffs = ["flat-test.toml"]
[billing.prepay]
meters = ["m1"]
currency = "EUR"
minor_units = {minor_units}
timezone = "Asia/Shanghai"
first_alarm_balance = "6"
second_alarm_balance = "3"
disconnect_balance = "0"
reconnect_balance = "5"
max_credit = "100"
"""


def captures(until: datetime) -> list[Reading]:
    """The import register every 15 minutes from October 1 to `until` (inclusive)."""
    out: list[Reading] = []
    wh = Decimal(1_000_000)
    at = OCTOBER
    while at <= until:
        out.append(
            Reading(
                meter_id=METER,
                obis=IMPORT,
                value=wh,
                unit="Wh",
                capture_time=at,
                receive_time=at + timedelta(minutes=5),
            )
        )
        wh += 250 if at < NOVEMBER else 500  # 1 kWh an hour, then 2
        at += timedelta(minutes=15)
    return out


@pytest.mark.parametrize(("minor_units", "expected"), [(2, "12.50"), (0, "13")])
async def test_a_shanghai_day_across_the_tariffs_month_end(
    tmp_path: Path, minor_units: int, expected: str
) -> None:
    (tmp_path / "flat-test.toml").write_text(TARIFF)
    path = tmp_path / "fleet.toml"
    site = tmp_path / "site.sqlite3"
    path.write_text(FLEET.format(db=site, minor_units=minor_units))
    billing = billing_of(load_config(path, env={}))
    async with await SqliteStore.open(site) as store:
        await store.save_readings(captures(datetime(2026, 11, 2, tzinfo=UTC)))
        db = await open_billing_db(site, MIGRATIONS)
        try:
            source = TariffDeduction(billing, store, db)
            # 2.50 + 10.00 = 12.50; an account kept in whole euros: 13 (the tariff's half-up)
            assert await source.day_charge(METER, date(2026, 11, 1)) == Decimal(expected)
            # Shanghai's November 2 ends at 16:00 UTC on the 2nd: stored only to 00:00 UTC
            with pytest.raises(DeductionUnavailable) as caught:
                await source.day_charge(METER, date(2026, 11, 2))
            assert "no 1.0.1.8.0.255 stored at or after 2026-11-02T16:00:00+00:00" in str(
                caught.value
            )
        finally:
            await db.close()


def test_local_days_and_the_months_they_touch() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # the autumn change (Oct 25 2026): a 25-hour day, 22:00 UTC the evening before to 23:00
    start, end = local_day(date(2026, 10, 25), berlin)
    assert (start, end) == (
        datetime(2026, 10, 24, 22, tzinfo=UTC),
        datetime(2026, 10, 25, 23, tzinfo=UTC),
    )
    assert [p.name for p in months_across(start, end, "Europe/Berlin")] == ["2026-10"]
    # Shanghai's November 1 in a UTC tariff: October's last 8 hours and November's first 16
    start, end = local_day(date(2026, 11, 1), ZoneInfo("Asia/Shanghai"))
    assert [p.name for p in months_across(start, end, "UTC")] == ["2026-10", "2026-11"]
