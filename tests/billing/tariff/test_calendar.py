"""The tariff calendar: day types, holidays, seasons, bands across midnight, daylight saving."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.tariff.calendar import TariffCalendar
from billing.tariff.load import load_tariff
from billing.tariff.model import Tariff

TARIFFS = Path(__file__).resolve().parents[3] / "config" / "tariffs"
BERLIN = ZoneInfo("Europe/Berlin")
SHANGHAI = ZoneInfo("Asia/Shanghai")
QUARTER = timedelta(minutes=15)

# Every day alike in Berlin: night 22:00-06:00 (across midnight), day 06:00-22:00
DST_TARIFF = """\
id = "berlin-two-rate"
timezone = "Europe/Berlin"
weekend = []

[money]
currency = "EUR"

[periods]
weekday = [
    { period = "night", start = "22:00", end = "06:00" },
    { period = "day", start = "06:00", end = "22:00" },
]

[rates]
night = 0.20
day = 0.30
"""


def example(name: str) -> Tariff:
    return load_tariff(TARIFFS / f"{name}.toml")


@pytest.fixture
def dst_tariff(tmp_path: Path) -> Tariff:
    path = tmp_path / "dst.toml"
    path.write_text(DST_TARIFF, encoding="utf-8")
    return load_tariff(path)


def test_weekend_and_holiday_day_types() -> None:
    calendar = TariffCalendar(example("commercial-demand"))
    # Wednesday 2026-06-10 10:00 Berlin: a summer weekday, in the summer peak 08:00-20:00
    assert calendar.period_of(datetime(2026, 6, 10, 10, tzinfo=BERLIN)) == "summer-peak"
    # Saturday 2026-06-13 10:00: weekend bands, off-peak all day
    assert calendar.day_type(datetime(2026, 6, 13).date()) == "weekend"
    assert calendar.period_of(datetime(2026, 6, 13, 10, tzinfo=BERLIN)) == "offpeak"
    # Thursday 2026-05-14 (Ascension, in the holiday list): holiday -> the weekend bands
    assert calendar.day_type(datetime(2026, 5, 14).date()) == "holiday"
    assert calendar.period_of(datetime(2026, 5, 14, 10, tzinfo=BERLIN)) == "offpeak"


def test_holiday_bands_of_their_own() -> None:
    calendar = TariffCalendar(example("cn-residential-tou"))
    # 2026-10-02 is a national holiday: flat from 08:00 to 22:00, no peak
    assert calendar.period_of(datetime(2026, 10, 2, 18, tzinfo=SHANGHAI)) == "flat"
    # 2026-10-09 (Friday) is not: 18:00 is peak (17:00-22:00 outside summer)
    assert calendar.period_of(datetime(2026, 10, 9, 18, tzinfo=SHANGHAI)) == "peak"
    # weekend = [] in this tariff: Saturday 2026-10-10 is priced as a weekday
    assert calendar.period_of(datetime(2026, 10, 10, 18, tzinfo=SHANGHAI)) == "peak"


def test_season_boundaries() -> None:
    cn = TariffCalendar(example("cn-residential-tou"))
    # sharp 19:00-21:00 exists only from 07-01 to 08-31 (Shanghai time)
    assert cn.period_of(datetime(2026, 6, 30, 19, 30, tzinfo=SHANGHAI)) == "peak"
    assert cn.period_of(datetime(2026, 7, 1, 19, 30, tzinfo=SHANGHAI)) == "sharp"
    assert cn.period_of(datetime(2026, 8, 31, 20, 59, tzinfo=SHANGHAI)) == "sharp"
    assert cn.period_of(datetime(2026, 9, 1, 19, 30, tzinfo=SHANGHAI)) == "peak"
    # instants in UTC are evaluated on the Shanghai clock (UTC+8)
    assert cn.season(datetime(2026, 7, 1).date()) == "summer"
    assert cn.period_of(datetime(2026, 7, 1, 11, 30, tzinfo=UTC)) == "sharp"  # 19:30 local
    assert cn.period_of(datetime(2026, 7, 1, 13, 30, tzinfo=UTC)) == "peak"  # 21:30 local
    commercial = TariffCalendar(example("commercial-demand"))
    # Wednesday 2026-09-30 07:30 is summer (peak from 08:00), Thursday 10-01 07:30 winter peak
    assert commercial.period_of(datetime(2026, 9, 30, 7, 30, tzinfo=BERLIN)) == "offpeak"
    assert commercial.period_of(datetime(2026, 10, 1, 7, 30, tzinfo=BERLIN)) == "winter-peak"
    # the winter season wraps the new year: 2027-01-05 (Tuesday) 20:30 is winter peak
    assert commercial.period_of(datetime(2027, 1, 5, 20, 30, tzinfo=BERLIN)) == "winter-peak"


def test_band_crossing_midnight() -> None:
    calendar = TariffCalendar(example("sim-tou"))  # night 23:00-07:00 UTC
    day = datetime(2026, 10, 5, tzinfo=UTC)
    assert calendar.period_of(day + timedelta(hours=22, minutes=59)) == "shoulder"
    assert calendar.period_of(day + timedelta(hours=23)) == "night"
    assert calendar.period_of(day + timedelta(hours=24)) == "night"  # the next day's 00:00
    assert calendar.period_of(day + timedelta(hours=6, minutes=59)) == "night"
    assert calendar.period_of(day + timedelta(hours=7)) == "day"
    # a whole day of quarter hours: night 8 h = 32, day 10 h = 40, peak 4 h = 16, shoulder 8
    assert Counter(calendar.labels(day, QUARTER, 96)) == {
        "night": 32,
        "day": 40,
        "peak": 16,
        "shoulder": 8,
    }


def test_daylight_saving_days_follow_the_local_clock(dst_tariff: Tariff) -> None:
    calendar = TariffCalendar(dst_tariff)
    # 2026-03-29: clocks go from 02:00 CET to 03:00 CEST; 06:00 local is 04:00 UTC that day
    # but 05:00 UTC the day before
    assert calendar.period_of(datetime(2026, 3, 28, 4, 30, tzinfo=UTC)) == "night"  # 05:30 CET
    assert calendar.period_of(datetime(2026, 3, 29, 4, 30, tzinfo=UTC)) == "day"  # 06:30 CEST
    # the local day is 23 hours = 92 quarters: night 00-06 less the lost hour = 5 h = 20,
    # day 06-22 = 16 h = 64, night 22-24 = 8
    spring = calendar.labels(datetime(2026, 3, 28, 23, tzinfo=UTC), QUARTER, 92)
    assert Counter(spring) == {"night": 28, "day": 64}
    assert spring[19] == "night" and spring[20] == "day"  # 05:45 and 06:00 CEST
    # 2026-10-25: 25 hours = 100 quarters; night 00-06 has 7 hours = 28, day 64, night 8
    autumn = calendar.labels(datetime(2026, 10, 24, 22, tzinfo=UTC), QUARTER, 100)
    assert Counter(autumn) == {"night": 36, "day": 64}
    assert autumn[27] == "night" and autumn[28] == "day"


def test_labels_for_a_month_are_fast() -> None:
    calendar = TariffCalendar(example("commercial-demand"))  # seasons, holidays, Berlin DST
    start = datetime(2026, 10, 1, tzinfo=BERLIN).astimezone(UTC)
    best = min(_timed(calendar, start + timedelta(days=i)) for i in range(5))
    # 2,976 quarter hours in a month: well under 10 ms (about 0.5 ms on a quiet machine)
    assert best < 0.010


def _timed(calendar: TariffCalendar, start: datetime) -> float:
    began = time.perf_counter()
    labels = calendar.labels(start, QUARTER, 2976)
    elapsed = time.perf_counter() - began
    assert len(labels) == 2976
    return elapsed


def test_naive_instants_refused() -> None:
    calendar = TariffCalendar(example("sim-tou"))
    with pytest.raises(ValueError, match="aware"):
        calendar.period_of(datetime(2026, 10, 1))
    with pytest.raises(ValueError, match="aware"):
        calendar.labels(datetime(2026, 10, 1), QUARTER, 4)


def test_flat_tariff_has_the_one_period_all() -> None:
    calendar = TariffCalendar(example("flat-daily"))
    assert calendar.labels(datetime(2026, 10, 1, tzinfo=UTC), QUARTER, 3) == ["all"] * 3
    assert calendar.period_of(datetime(2026, 10, 1, tzinfo=UTC)) == "all"


_CALENDARS = {
    name: TariffCalendar(example(name))
    for name in ("cn-residential-tou", "commercial-demand", "sim-tou")
}


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    name=st.sampled_from(sorted(_CALENDARS)),
    start=st.datetimes(
        min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
    ),
    step_s=st.sampled_from([60, 300, 900, 1800, 3600, 5400, 86400, 7]),
    count=st.integers(min_value=1, max_value=3000),
)
def test_labels_agree_with_period_of_at_every_slot(
    name: str, start: datetime, step_s: int, count: int
) -> None:
    calendar = _CALENDARS[name]
    step = timedelta(seconds=step_s)
    labels = calendar.labels(start, step, count)
    assert labels == [calendar.period_of(start + step * i) for i in range(count)]
