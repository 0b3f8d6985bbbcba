"""Loading tariff files: the examples load; bad input is refused naming file, key and reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from billing.tariff.calendar import TariffCalendar
from billing.tariff.load import TariffError, load_tariff, load_tariffs, tariff_from_data
from billing.tariff.model import Tariff
from tests.billing.tariff_texts import FOUR_PERIODS, THREE_TIERS

TARIFFS = Path(__file__).resolve().parents[3] / "config" / "tariffs"

BASE = (
    """\
id = "base"
timezone = "Europe/Berlin"
tier_basis = "year"

[money]
currency = "EUR"
"""
    + FOUR_PERIODS
    + """
[rates]
night = 0.18
day = 0.27
peak = 0.36
shoulder = 0.24
"""
    + THREE_TIERS
)

SEASONS = """\
id = "seasonal"

[money]
currency = "EUR"

[[seasons]]
name = "summer"
start = "04-01"
end = "09-30"

[[seasons]]
name = "winter"
start = "10-01"
end = "03-31"

[periods]
weekday = [{ period = "anytime", start = "00:00", end = "24:00" }]

[rates]
anytime = 0.2
"""


def write(tmp_path: Path, text: str, name: str = "tariff.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def refused(tmp_path: Path, text: str) -> TariffError:
    path = write(tmp_path, text)
    with pytest.raises(TariffError) as caught:
        load_tariff(path)
    error = caught.value
    assert error.path == str(path)
    assert str(error).startswith(f"{path}: ")
    return error


def edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def test_every_example_tariff_loads() -> None:
    paths = sorted(TARIFFS.glob("*.toml"))
    assert len(paths) >= 5
    tariffs = load_tariffs(paths)
    # one tariff per file, named as its file
    assert sorted(tariffs) == sorted(path.stem for path in paths)
    for tariff in tariffs.values():
        assert tariff.money.currency in {"EUR", "CNY"}
        assert len(tariff.digest) == 64
    assert tariffs["cn-residential-tou"].period_names == ["sharp", "peak", "flat", "valley"]
    assert tariffs["commercial-demand"].needs_intervals  # a demand charge
    assert not tariffs["flat-daily"].needs_intervals  # the 1.8.0 register is enough
    assert tariffs["pv-net-billing"].export is not None


def test_sim_tou_matches_the_simulators_registers() -> None:
    tariff = load_tariff(TARIFFS / "sim-tou.toml")
    assert tariff.timezone == "UTC" and not tariff.needs_intervals
    # the simulated meters count 1.8.1 night 23-07, 1.8.2 day 07-17, 1.8.3 peak 17-21,
    # 1.8.4 shoulder 21-23 by UTC hour, every day alike
    expected = {23: 1, 0: 1, 6: 1, 7: 2, 16: 2, 17: 3, 20: 3, 21: 4, 22: 4}
    calendar = TariffCalendar(tariff)
    for day in (datetime(2026, 10, 3, tzinfo=UTC), datetime(2026, 10, 5, tzinfo=UTC)):  # Sat, Mon
        for hour, register in expected.items():
            period = calendar.period_of(day + timedelta(hours=hour, minutes=30))
            assert tariff.registers[period] == f"1.0.1.8.{register}.255", (day, hour)
    assert any(charge.per == "day" for charge in tariff.fixed)


def test_numbers_are_read_as_exact_decimals(tmp_path: Path) -> None:
    tariff = load_tariff(write(tmp_path, edit(BASE, "day = 0.27", "day = 0.2783")))
    assert tariff.rates["day"] == Decimal("0.2783")
    assert tariff.tiers[0].up_to_kwh == Decimal(2760)


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    error = refused(tmp_path, edit(BASE, "day = 0.27", "day = 0,27"))
    line = BASE.splitlines().index("day = 0.27") + 1
    assert error.key == ""
    assert "not valid TOML" in error.reason and f"line {line}" in error.reason


def test_overlapping_bands(tmp_path: Path) -> None:
    # shoulder 21:00-23:30 runs into night (23:00-07:00): its end is what overlaps
    error = refused(
        tmp_path,
        edit(BASE, 'start = "21:00", end = "23:00"', 'start = "21:00", end = "23:30"'),
    )
    assert error.key == "periods.weekday[3].end"
    assert error.reason == (
        "band shoulder 21:00-23:30 overlaps periods.weekday[0] (night 23:00-07:00) "
        "from 23:00 to 23:30"
    )


def test_a_day_not_fully_covered(tmp_path: Path) -> None:
    error = refused(
        tmp_path, edit(BASE, 'start = "17:00", end = "21:00"', 'start = "17:00", end = "20:00"')
    )
    assert error.key == "periods.weekday"
    assert error.reason == "the day is not fully covered: no band from 20:00 to 21:00"


def test_tiers_out_of_order(tmp_path: Path) -> None:
    error = refused(tmp_path, edit(BASE, "up_to_kwh = 4800", "up_to_kwh = 2000"))
    assert error.key == "tiers[1].up_to_kwh"
    assert "out of order" in error.reason and "2000" in error.reason and "2760" in error.reason


def test_the_last_tier_must_be_open(tmp_path: Path) -> None:
    error = refused(tmp_path, edit(BASE, "rate = 0.30", "up_to_kwh = 9000\nrate = 0.30"))
    assert error.key == "tiers[2].up_to_kwh"
    assert "open-ended" in error.reason


def test_tiers_without_a_basis(tmp_path: Path) -> None:
    error = refused(tmp_path, edit(BASE, 'tier_basis = "year"\n', ""))
    assert (error.key, error.reason) == ("tier_basis", 'tiers need tier_basis = "month" or "year"')


def test_unknown_period_name_in_rates(tmp_path: Path) -> None:
    error = refused(tmp_path, edit(BASE, "shoulder = 0.24", "shoulder = 0.24\nsuperpeak = 0.5"))
    assert error.key == "rates.superpeak"
    assert error.reason.startswith("unknown period 'superpeak': no band names it")


def test_a_rate_missing_for_a_period(tmp_path: Path) -> None:
    error = refused(tmp_path, edit(BASE, "shoulder = 0.24\n", ""))
    assert error.key == "rates.shoulder"
    assert error.reason == "missing: no rate for period 'shoulder' (named by periods.weekday[3])"


def test_unknown_time_zone(tmp_path: Path) -> None:
    error = refused(tmp_path, edit(BASE, "Europe/Berlin", "Europe/Berln"))
    assert error.key == "timezone" and "unknown time zone 'Europe/Berln'" in error.reason


def test_seasons_that_overlap(tmp_path: Path) -> None:
    error = refused(tmp_path, edit(SEASONS, 'end = "09-30"', 'end = "10-15"'))
    assert error.key == "seasons[1].start"
    assert error.reason == ("season 'winter' (10-01 to 03-31) overlaps season 'summer' on 10-01")


def test_seasons_that_leave_days_uncovered(tmp_path: Path) -> None:
    error = refused(tmp_path, edit(SEASONS, 'start = "04-01"', 'start = "04-15"'))
    assert error.key == "seasons"
    assert error.reason == "the year is not fully covered: no season covers 04-01 to 04-14"


def test_a_season_without_bands(tmp_path: Path) -> None:
    text = edit(
        SEASONS,
        '[periods]\nweekday = [{ period = "anytime", start = "00:00", end = "24:00" }]\n',
        "",
    )
    error = refused(tmp_path, text)
    assert error.key == "seasons[0].periods"


@pytest.mark.parametrize(
    ("old", "new", "key", "reason"),
    [
        (
            'start = "07:00", end = "17:00"',
            'start = "7:00", end = "17:00"',
            "periods.weekday[1].start",
            "'7:00' is not a time of day as HH:MM (00:00 to 24:00)",
        ),
        ('currency = "EUR"', 'currency = "euro"', "money.currency", "String should match pattern"),
        (
            'tier_basis = "year"',
            'tier_basis = "year"\ntarrif_mode = "adder"',
            "tarrif_mode",
            "unknown key",
        ),
        ("day = 0.27", "day = -0.27", "rates.day", "greater than or equal to 0"),
        ('tier_basis = "year"', 'tier_basis = "quarter"', "tier_basis", "Input should be"),
        (
            'tier_basis = "year"',
            'tier_basis = "year"\ntier_mode = "price"',
            "tier_mode",
            "tiers are the price only in a flat tariff",
        ),
        ('id = "base"', 'id = "base"\nholidays = ["2026-13-01"]', "holidays[0]", "date"),
        ('id = "base"\n', "", "id", "required key missing"),
    ],
)
def test_structural_and_value_errors(
    tmp_path: Path, old: str, new: str, key: str, reason: str
) -> None:
    error = refused(tmp_path, edit(BASE, old, new))
    assert error.key == key
    assert reason in error.reason


@pytest.mark.parametrize(
    ("section", "key", "reason"),
    [
        (
            '[registers]\nnight = "1.0.1.8.1.255"\nevening = "1.0.1.8.2.255"',
            "registers.evening",
            "unknown period 'evening'",
        ),
        (
            '[registers]\nnight = "1.0.1.8.1.255"\nday = "1.0.1.8.1.255"',
            "registers.day",
            "register 1.0.1.8.1.255 is also registers.night",
        ),
        ('[registers]\nnight = "1.8.1"', "registers.night", "is not an OBIS code"),
        (
            '[demand]\nrate = 10\nperiods = ["peak", "sharp"]',
            "demand.periods[1]",
            "unknown period 'sharp'",
        ),
        ('[export]\nmode = "net-billing"', "export.rate", "net billing needs an export rate"),
        (
            '[export]\nmode = "net-billing"\nrates = { night = 0.05 }',
            "export.rates.day",
            "missing: no export rate for period 'day'",
        ),
        (
            '[export]\nmode = "net-metering"\nrate = 0.05',
            "export.rate",
            "net metering prices net energy at the import rates",
        ),
        ('[[fixed]]\nname = "Standing"\nper = "week"\nrate = 1', "fixed[0].per", "Input should be"),
    ],
)
def test_cross_reference_errors(tmp_path: Path, section: str, key: str, reason: str) -> None:
    error = refused(tmp_path, BASE + "\n" + section + "\n")
    assert error.key == key
    assert reason in error.reason


def test_missing_file_and_duplicate_ids(tmp_path: Path) -> None:
    with pytest.raises(TariffError, match="no such file"):
        load_tariff(tmp_path / "absent.toml")
    first = write(tmp_path, BASE, "a.toml")
    second = write(tmp_path, BASE, "b.toml")
    with pytest.raises(TariffError) as caught:
        load_tariffs([first, second])
    assert (caught.value.path, caught.value.key) == (str(second), "id")
    assert str(first) in caught.value.reason


def test_nothing_half_built(tmp_path: Path) -> None:
    good = write(tmp_path, BASE, "good.toml")
    bad = write(tmp_path, edit(BASE, "up_to_kwh = 4800", "up_to_kwh = 2000"), "bad.toml")
    # one bad file: no dict of the good ones comes back, the error names the bad one
    with pytest.raises(TariffError) as caught:
        load_tariffs([good, bad])
    assert caught.value.path == str(bad)
    assert isinstance(caught.value, ValueError)
    # a Tariff cannot be built around the checks either
    data = {"id": "x", "money": {"currency": "EUR"}, "rates": {"evening": "1"}}
    with pytest.raises(TariffError) as direct:
        tariff_from_data("inline", data)
    assert direct.value.key == "rates.evening"
    with pytest.raises(ValueError, match="unknown period"):
        Tariff.model_validate(data)
