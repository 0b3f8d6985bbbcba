"""`[billing.prepay]` settings: threshold order and amounts refused with the key and reason,
the prepaid meters resolved from meters, groups or all, and friendly-credit windows."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from billing.prepay.settings import PrepaySettings
from tests.billing.prepay.conftest import prepay_settings


def refused(**fields: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        prepay_settings(**fields)
    return str(caught.value)


def test_thresholds_out_of_order_are_refused_naming_both() -> None:
    assert "second_alarm_balance (5.00) must be at least disconnect_balance (6.00)" in refused(
        disconnect_balance="6.00", reconnect_balance="6.00"
    )
    assert "first_alarm_balance (4.00) must be at least second_alarm_balance (5.00)" in refused(
        first_alarm_balance="4.00"
    )
    assert "reconnect_balance (-3.00) must be at least disconnect_balance (-2.00)" in refused(
        reconnect_balance="-3.00"
    )
    assert "max_credit (15.00) must be at least opening_balance (20.00)" in refused(
        max_credit="15.00"
    )


def test_amounts_finer_than_the_minor_unit_and_bad_values() -> None:
    assert "first_alarm_balance: 10.005 has more decimals than EUR's 2 minor units" in refused(
        first_alarm_balance="10.005"
    )
    assert "emergency_credit (-1.00) must be above 0" in refused(emergency_credit="-1.00")
    assert "unknown time zone 'Mars/Olympus'" in refused(timezone="Mars/Olympus")
    assert "Extra inputs are not permitted" in refused(overdraft="5")
    assert "name the prepaid meters" in refused(meters=[])
    assert "evaluation_interval" in refused(evaluation_interval="PT0S")


def test_zero_minor_units() -> None:
    yen = prepay_settings(
        currency="JPY",
        minor_units=0,
        opening_balance="2000",
        first_alarm_balance="1000",
        second_alarm_balance="500",
        disconnect_balance="0",
        reconnect_balance="500",
        max_credit="50000",
        emergency_credit="500",
    )
    assert yen.money(yen.first_alarm_balance) == "1000 JPY"
    # the defaults' 20.00 etc. are whole yen; 10.50 is not
    assert "first_alarm_balance: 10.50 has more decimals than JPY's 0 minor units" in refused(
        currency="JPY", minor_units=0, first_alarm_balance="10.50"
    )


def test_prepaid_meters_from_the_list_the_groups_or_all() -> None:
    fleet = ["a", "b", "c", "d"]
    groups = {"east": ["c", "b"]}
    listed = prepay_settings(meters=["d"], groups=["east"])
    assert listed.prepaid_meters(fleet, groups) == ["b", "c", "d"]  # fleet order
    assert prepay_settings(meters=[], all_meters=True).prepaid_meters(fleet, {}) == fleet
    with pytest.raises(ValueError, match=r"billing.prepay.meters\[0\]: no meter x"):
        prepay_settings(meters=["x"]).prepaid_meters(fleet, groups)
    with pytest.raises(ValueError, match=r"billing.prepay.groups\[0\]: no group 'west' \(east\)"):
        prepay_settings(meters=[], groups=["west"]).prepaid_meters(fleet, groups)
    with pytest.raises(ValueError, match=r"billing.prepay.holds\[0\]: no meter y"):
        prepay_settings(meters=["a"], holds=["y"]).prepaid_meters(fleet, groups)


def windows(**fields: Any) -> PrepaySettings:
    return prepay_settings(
        timezone="Europe/Berlin",
        friendly_windows=[
            {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "18:00", "end": "08:00"},
            {"days": ["sat", "sun"]},
        ],
        holidays=["2026-12-25"],
        **fields,
    )


def berlin(text: str) -> datetime:
    return datetime.fromisoformat(text + "+01:00")


def test_friendly_windows_nights_weekends_and_holidays() -> None:
    s = windows()
    # Tuesday 2026-12-01 12:00 Berlin: a working day's daytime, no window
    assert s.friendly_until(berlin("2026-12-01T12:00")) is None
    # Tuesday 19:30: Tuesday's night window, ending Wednesday 08:00
    assert s.friendly_until(berlin("2026-12-01T19:30")) == berlin("2026-12-02T08:00")
    # Wednesday 07:59 is still in it; 08:00 is out (half-open)
    assert s.friendly_until(berlin("2026-12-02T07:59")) == berlin("2026-12-02T08:00")
    assert s.friendly_until(berlin("2026-12-02T08:00")) is None
    # Friday 20:00: Friday's night (to Saturday 08:00) runs into the weekend's whole days
    # (Saturday 00:00 to Monday 00:00); Monday's own window starts only at 18:00, so the
    # friendly span ends Monday 2026-12-07 00:00
    assert s.friendly_until(berlin("2026-12-04T20:00")) == berlin("2026-12-07T00:00")
    # the same instant given in UTC (19:00Z) gives the same end, in UTC
    assert s.friendly_until(datetime(2026, 12, 4, 19, tzinfo=UTC)) == datetime(
        2026, 12, 6, 23, tzinfo=UTC
    )
    # Thursday 2026-12-24 20:00: its night meets the holiday (Friday 25th, whole day), which
    # meets Friday night 18:00 -> Saturday and Sunday -> ends Monday 2026-12-28 00:00
    assert s.friendly_until(berlin("2026-12-24T20:00")) == berlin("2026-12-28T00:00")
    assert date(2026, 12, 25) in s.holidays


def test_a_window_in_the_zone_of_the_settings() -> None:
    s = windows()
    # Tuesday 17:30 UTC is 18:30 in Berlin: inside the night window
    assert s.friendly_until(datetime(2026, 12, 1, 17, 30, tzinfo=UTC)) == datetime(
        2026, 12, 2, 7, tzinfo=UTC
    )
    with pytest.raises(ValidationError, match="a local time without offset"):
        prepay_settings(friendly_windows=[{"start": "18:00+01:00", "end": "08:00"}])
    with pytest.raises(ValidationError, match="days"):
        prepay_settings(friendly_windows=[{"days": ["someday"]}])
