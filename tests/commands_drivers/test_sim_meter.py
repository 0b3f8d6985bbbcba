"""The simulated meter obeys two-way commands: Blue Book disconnect control modes, leased
(emergency) limits that end exactly on time, tariff programmes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from drivers.sim.clock import SimClock
from drivers.sim.consumption import HouseholdProfile
from drivers.sim.control import (
    CONNECTED,
    DISCONNECTED,
    EVENT_LIMIT_CHANGED,
    EVENT_MANUAL_RECONNECT,
    EVENT_READY_FOR_RECONNECTION,
    READY_FOR_RECONNECTION,
)
from drivers.sim.physics import IMPORT_POWER, IMPORT_TARIFF, SimulatedMeter

NOON = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
# constant demand, no PV: every energy below is computed by hand
FLAT_1KW = HouseholdProfile(base_w=1000.0, morning_peak_w=0.0, evening_peak_w=0.0, pv_peak_w=0.0)


def make(profile: HouseholdProfile = FLAT_1KW) -> tuple[SimClock, SimulatedMeter]:
    clock = SimClock(start=NOON, factor=0)
    return clock, SimulatedMeter("m", clock, profile=profile, history=timedelta(hours=1))


def energy(meter: SimulatedMeter) -> float:
    """Import Wh with the fraction not yet counted, integrated up to now."""
    meter.sync()
    return meter.total_import_wh


def codes_since(meter: SimulatedMeter, at: datetime) -> list[int]:
    return [e.code for e in meter.events if e.clock >= at]


def test_default_mode_reconnects_at_once() -> None:
    _clock, meter = make()
    assert meter.control_mode == 2
    meter.disconnect()
    assert (meter.control_state, meter.connected) == (DISCONNECTED, False)
    meter.reconnect()
    assert (meter.control_state, meter.connected) == (CONNECTED, True)


@pytest.mark.parametrize("mode", [1, 3, 5, 6])
def test_arming_modes_wait_for_the_customer(mode: int) -> None:
    clock, meter = make()
    meter.set_control_mode(mode)
    meter.disconnect()
    meter.reconnect()
    assert meter.control_state == READY_FOR_RECONNECTION and not meter.connected
    before = energy(meter)
    clock.advance(timedelta(minutes=30))
    assert energy(meter) == before  # armed: the output is still open
    assert meter.value(IMPORT_POWER) == 0
    meter.reconnect()  # a second remote reconnect changes nothing
    assert meter.control_state == READY_FOR_RECONNECTION
    meter.press_button()
    assert meter.control_state == CONNECTED
    clock.advance(timedelta(minutes=30))
    assert energy(meter) - before == pytest.approx(500.0, abs=1e-6)
    assert codes_since(meter, NOON)[-2:] == [EVENT_READY_FOR_RECONNECTION, EVENT_MANUAL_RECONNECT]


def test_mode_0_is_always_connected_and_modes_3_4_have_no_manual_disconnect() -> None:
    _clock, meter = make()
    meter.set_control_mode(0)
    meter.disconnect()
    assert meter.connected
    for mode in (3, 4):
        meter.set_control_mode(mode)
        meter.manual_disconnect()
        assert meter.control_state == CONNECTED
    meter.set_control_mode(1)
    meter.manual_disconnect()
    assert meter.control_state == READY_FOR_RECONNECTION
    meter.disconnect()  # transition c
    assert meter.control_state == DISCONNECTED
    meter.press_button()  # nothing to reconnect: the meter was not armed
    assert meter.control_state == DISCONNECTED
    with pytest.raises(ValueError):
        meter.set_control_mode(7)


def test_lease_ends_exactly_inside_one_integration() -> None:
    clock, meter = make()
    before = energy(meter)
    meter.set_emergency_limit(400.0, duration_s=600)
    assert meter.active_limit_w() == 400.0 and meter.emergency_active()
    # one sync over the expiry (and over two profile boundaries): 10 min at 400 W, 50 at 1 kW
    clock.advance(timedelta(hours=1))
    assert meter.active_limit_w() is None and not meter.emergency_active()
    assert meter.value(IMPORT_POWER) == 1000
    assert energy(meter) - before == pytest.approx(400 * 600 / 3600 + 1000 * 3000 / 3600, abs=1e-6)
    changed = [e.clock for e in meter.events if e.code == EVENT_LIMIT_CHANGED]
    assert changed[-1] == NOON + timedelta(seconds=600)  # stamped when the lease ran out


def test_a_lease_starting_later_and_the_normal_limit_around_it() -> None:
    clock, meter = make()
    meter.set_limit(800.0)
    before = energy(meter)
    meter.set_emergency_limit(300.0, duration_s=300, activation=NOON + timedelta(minutes=10))
    assert meter.active_limit_w() == 800.0
    assert meter.active_limit_w(NOON + timedelta(minutes=12)) == 300.0
    clock.advance(timedelta(minutes=30))
    expected = 800 * 25 / 60 + 300 * 5 / 60
    assert energy(meter) - before == pytest.approx(expected, abs=1e-6)
    assert meter.active_limit_w() == 800.0 and meter.limit_w == 800.0


def test_renewal_extends_the_lease() -> None:
    clock, meter = make()
    before = energy(meter)
    meter.set_emergency_limit(400.0, duration_s=600)
    clock.advance(timedelta(seconds=500))
    meter.set_emergency_limit(400.0, duration_s=600)  # renewed: a new activation time
    clock.advance(timedelta(seconds=500))
    assert meter.active_limit_w() == 400.0  # the first lease would have ended at 600 s
    clock.advance(timedelta(seconds=200))
    assert meter.active_limit_w() is None  # the renewal ran out at 1,100 s
    expected = 400 * 1100 / 3600 + 1000 * 100 / 3600
    assert energy(meter) - before == pytest.approx(expected, abs=1e-6)


def test_cleared_emergency_and_a_profile_outside_the_group_list_limit_nothing() -> None:
    _clock, meter = make()
    meter.set_emergency_threshold(200.0)
    meter.set_emergency_profile(7, meter.now(), 3600)
    assert meter.active_limit_w() is None  # profile 7 is in no group: not active
    meter.set_emergency_groups((7,))
    assert meter.active_limit_w() == 200.0
    meter.clear_emergency()
    assert meter.active_limit_w() is None


def test_tariff_switch_changes_which_register_grows() -> None:
    clock, meter = make()
    day, night = IMPORT_TARIFF[1], IMPORT_TARIFF[0]  # noon is the day tariff under TOU
    start = {o: meter.value(o) for o in (day, night)}
    clock.advance(timedelta(hours=1))
    grown = {o: meter.value(o) for o in (day, night)}
    assert grown[day] > start[day] and grown[night] == start[night]  # type: ignore[operator]
    with pytest.raises(ValueError):
        meter.set_passive_programme("NOPE")
    meter.set_passive_programme("FLAT")
    assert meter.tariff_programme == "TOU"  # passive until activated
    meter.activate_passive()
    clock.advance(timedelta(hours=1))
    assert meter.value(day) == grown[day]
    assert meter.value(night) - grown[night] in (999, 1000, 1001)  # type: ignore[operator]
