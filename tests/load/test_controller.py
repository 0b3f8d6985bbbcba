"""Hand-worked control cycles: overload, limits, release with hysteresis, lease renewal, priority
and medical households, households without a limiter, an infeasible feeder."""

from __future__ import annotations

import pytest

from tests.load.harness import CYCLE, T0, ModelFeeder, actions, settings

HOMES = ["a", "b", "c", "d"]


def test_overload_limits_then_ramp_and_release_with_hysteresis() -> None:
    feeder = ModelFeeder(settings(HOMES, capacity_kw=10))
    first = feeder.cycle(dict.fromkeys(HOMES, 3.0))
    # 12 kW wanted on a 10 kW feeder: an equal share of 2.5 kW each, as leases.
    assert actions(first) == {h: ("limit", 2500) for h in HOMES}
    assert {c.lease_s for c in first.commands} == {900}
    assert {c.lease_until for c in first.commands} == {T0 + 3 * CYCLE}
    assert "forecast 12.0 kW over usable 10.0 kW" in first.commands[0].reason
    assert first.cycle.overloaded and first.cycle.limited == 4
    assert first.cycle.limit_changes == 4
    assert first.cycle.fairness == pytest.approx(1.0)

    # The households obey: 10 kW. Nothing changes, nothing is sent.
    second = feeder.cycle(dict.fromkeys(HOMES, 3.0))
    assert second.commands == []
    assert second.cycle.load_kw == pytest.approx(10)
    assert not second.cycle.overloaded
    assert second.limits_w == dict.fromkeys(HOMES, 2500)
    # What they would draw unlimited is still 12 kW: what they wanted when last seen free.
    assert second.cycle.forecast_kw == pytest.approx(12)
    assert second.cycle.served_kwh == pytest.approx((12 + 10) / 2 * 5 / 60)
    assert second.cycle.demanded_kwh == pytest.approx(12 * 5 / 60)
    assert second.cycle.limit_kw_total == pytest.approx(10)

    # Demand falls to 2 kW each: under the limits, which are released after `hold_cycles`.
    calm = [feeder.cycle(dict.fromkeys(HOMES, 2.0)) for _ in range(2)]
    released = [d for d in calm if d.commands]
    assert len(released) == 1
    assert actions(released[0]) == {h: ("release", None) for h in HOMES}
    assert "limit no longer needed" in released[0].commands[0].reason
    assert feeder.limits_w == {}


def test_limit_ramps_up_slowly_but_cuts_at_once() -> None:
    feeder = ModelFeeder(settings(["a", "b"], capacity_kw=4))
    assert actions(feeder.cycle({"a": 3.0, "b": 3.0})) == {
        "a": ("limit", 2000),
        "b": ("limit", 2000),
    }
    # b's demand falls: a may take 3 kW, but its limit rises by at most 0.5 kW a cycle, after
    # one calm cycle.
    limits = []
    for _ in range(6):
        feeder.cycle({"a": 3.0, "b": 1.0})
        limits.append(feeder.limits_w.get("a"))
    assert limits[0] == 2000  # held for one calm cycle
    values = [limit or 0 for limit in limits]
    steps = [after - before for before, after in zip([2000, *values], values, strict=False)]
    assert all(0 <= step <= 500 for step in steps)
    assert limits[1] == 2500 and limits[-1] == 3000, limits
    # A new overload cuts at once, in one cycle.
    cut = feeder.cycle({"a": 3.0, "b": 3.0})
    assert actions(cut)["a"][1] == 2000


def test_lease_is_renewed_when_less_than_half_is_left() -> None:
    feeder = ModelFeeder(settings(["a", "b"], capacity_kw=4))
    kinds = []
    for _ in range(6):
        decision = feeder.cycle({"a": 3.0, "b": 3.0})
        kinds.append({c.action for c in decision.commands})
    # Lease 15 min, cycle 5 min: sent at 0, 10 min left at 5 (kept), 5 min left at 10 (renewed
    # until 25), 10 left at 15, renewed at 20 (until 35), kept at 25.
    assert kinds == [{"limit"}, set(), {"renew"}, set(), {"renew"}, set()]
    renewal = feeder.decisions[2].commands[0]
    assert renewal.lease_until == T0 + 2 * CYCLE + 3 * CYCLE
    assert renewal.command_action == "limit"
    assert "lease had 300 s left" in renewal.reason
    assert feeder.decisions[2].cycle.limit_changes == 0


def test_a_failed_limit_is_sent_again_next_cycle() -> None:
    feeder = ModelFeeder(settings(["a", "b"], capacity_kw=4))
    feeder.cycle({"a": 3.0, "b": 3.0})
    feeder.controller.command_failed("a", "limit")
    feeder.limits_w.pop("a")  # the meter never took it
    assert actions(feeder.cycle({"a": 3.0, "b": 3.0})) == {"a": ("limit", 2000)}


def test_priority_households_are_never_limited() -> None:
    load = settings(
        HOMES,
        capacity_kw=10,
        overrides={"a": {"priority": "medical"}, "b": {"priority": "critical"}},
    )
    feeder = ModelFeeder(load)
    decision = feeder.cycle({"a": 4.0, "b": 2.0, "c": 4.0, "d": 4.0})
    # 4 + 2 protected, 4 kW left for c and d.
    assert actions(decision) == {"c": ("limit", 2000), "d": ("limit", 2000)}


def test_infeasible_when_minimums_exceed_capacity() -> None:
    load = settings(
        HOMES,
        capacity_kw=5,
        overrides={
            "a": {"priority": "medical"},
            "b": {"min_w": 2000},
            "c": {"min_w": 2000},
            "d": {"min_w": 2000},
        },
    )
    feeder = ModelFeeder(load)
    decision = feeder.cycle(dict.fromkeys(HOMES, 3.0))
    assert decision.cycle.infeasible
    assert decision.infeasible is not None
    assert "guaranteed minimums (6.0 kW) and protected households (3.0 kW)" in decision.infeasible
    assert "exceed the usable 5.0 kW by 4.0 kW" in decision.infeasible
    assert decision.infeasible in decision.notices
    # What it may: the limitable households at their minimums, the medical one untouched.
    assert actions(decision) == {h: ("limit", 2000) for h in "bcd"}
    # Said once, not every cycle; and said when it ends.
    still = feeder.cycle(dict.fromkeys(HOMES, 3.0))
    assert still.cycle.infeasible and still.notices == []
    assert "infeasible" in still.cycle.report
    over = feeder.cycle({"a": 0.5, "b": 1.0, "c": 1.0, "d": 1.0})
    assert not over.cycle.infeasible
    assert over.notices == ["feeder f1: the guaranteed minimums fit again"]


def test_households_without_limiter_are_disconnected_only_as_last_resort() -> None:
    load = settings(
        ["a", "b", "x", "y"],
        capacity_kw=8,
        overrides={
            "a": {"min_w": 1000},
            "b": {"min_w": 1000},
            "x": {"limiter": False},
            "y": {"limiter": False},
        },
    )
    feeder = ModelFeeder(load)
    # Limitable a and b at their 1 kW minimums leave 6 kW: x and y (4 kW each) still fit.
    easy = feeder.cycle({"a": 3.0, "b": 3.0, "x": 3.0, "y": 3.0})
    assert {c.action for c in easy.commands} == {"limit"}
    assert "disconnected" not in easy.cycle.report
    # 4.5 kW each no longer fit: one of them is cut, the larger first.
    hard = feeder.cycle({"a": 3.0, "b": 3.0, "x": 4.5, "y": 5.0})
    assert actions(hard)["y"] == ("disconnect", None)
    assert "x" not in actions(hard)
    assert "disconnected 1 households without limiter as last resort" in hard.cycle.report
    assert hard.cycle.disconnected == 1
    assert "no limiter" in next(c.reason for c in hard.commands if c.household == "y")
    # Still needed: nothing more is sent.
    again = feeder.cycle({"a": 3.0, "b": 3.0, "x": 4.5, "y": 5.0})
    assert "y" not in actions(again)
    assert "1 still disconnected" in again.cycle.report
    # Load falls: y comes back after `hold_cycles` calm cycles, not at once.
    later = [feeder.cycle({"a": 1.0, "b": 1.0, "x": 1.0, "y": 4.0}) for _ in range(4)]
    reconnected = [d for d in later if "y" in actions(d)]
    assert len(reconnected) == 1 and reconnected[0] is not later[0]
    assert actions(reconnected[0])["y"] == ("reconnect", None)
    assert "reconnected 1 households" in reconnected[0].cycle.report
    assert feeder.off == set()


def test_pv_export_frees_capacity() -> None:
    feeder = ModelFeeder(settings(["a", "b", "pv"], capacity_kw=6))
    decision = feeder.cycle({"a": 4.0, "b": 4.0, "pv": -2.0})
    assert decision.commands == []
    assert decision.cycle.load_kw == pytest.approx(6)


def test_metrics_of_an_overloaded_interval() -> None:
    feeder = ModelFeeder(settings(["a", "b"], capacity_kw=4))
    feeder.cycle({"a": 1.0, "b": 1.0})
    # The load goes from 2 to 6 kW: above 4 kW for the last half of the 5 minutes.
    decision = feeder.cycle({"a": 3.0, "b": 3.0})
    assert decision.cycle.overload_s == pytest.approx(150)
    assert decision.cycle.served_kwh == pytest.approx(4 * 5 / 60)
    assert decision.cycle.demanded_kwh >= decision.cycle.served_kwh
    assert decision.cycle.capacity_kw == 4


def test_a_household_disconnected_by_an_earlier_run_is_reconnected() -> None:
    load = settings(["a", "x"], capacity_kw=8, overrides={"x": {"limiter": False}})
    feeder = ModelFeeder(load)
    feeder.controller.assume_disconnected("x", 4.0)
    feeder.off.add("x")
    first = feeder.cycle({"a": 1.0, "x": 4.0})
    assert first.disconnected == {"x"} and first.commands == []
    second = feeder.cycle({"a": 1.0, "x": 4.0})
    assert actions(second) == {"x": ("reconnect", None)}
    assert feeder.off == set()
    with pytest.raises(KeyError):
        feeder.controller.assume_disconnected("stranger", 1.0)


def test_an_overload_is_acted_on_before_any_household_reading() -> None:
    load = settings(HOMES, capacity_kw=10)
    controller = ModelFeeder(load).controller
    decision = controller.step(T0, 12.0, {})
    assert actions(decision) == {h: ("limit", 2500) for h in HOMES}
