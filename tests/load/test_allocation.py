"""Hand-worked allocation cases: fair shares, weights, minimums, priorities, contractual maxima,
PV export, other load, an infeasible case and last-resort disconnection."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from headend.load.allocation import Feeder, Household, allocate


def home(hid: str, demand: float, **kw: float | bool) -> Household:
    fields: dict[str, object] = {"id": hid, "demand_kw": demand, "maximum_kw": 50.0, **kw}
    return Household.model_validate(fields)


def test_everything_fits_no_limits() -> None:
    result = allocate(Feeder(id="f", capacity_kw=100), [home("a", 10), home("b", 20)])
    assert result.limit_kw == {"a": None, "b": None}
    assert result.allocated_kw == {"a": 10, "b": 20}
    assert result.binding == []
    assert result.shortfall_kw == 0
    assert result.disconnect == []
    assert result.load_kw == 30


def test_equal_households_share_equally() -> None:
    result = allocate(Feeder(id="f", capacity_kw=30), [home(x, 20) for x in "abc"])
    assert result.limit_kw == {"a": 10, "b": 10, "c": 10}
    assert result.binding == ["a", "b", "c"]
    assert result.load_kw == 30


def test_small_demand_is_served_and_rest_is_water_filled() -> None:
    result = allocate(Feeder(id="f", capacity_kw=30), [home("a", 5), home("b", 20), home("c", 20)])
    assert result.allocated_kw == {"a": 5, "b": 12.5, "c": 12.5}
    assert result.limit_kw == {"a": None, "b": 12.5, "c": 12.5}
    assert result.binding == ["b", "c"]


def test_weights_share_in_proportion() -> None:
    result = allocate(
        Feeder(id="f", capacity_kw=30), [home("a", 20, weight=1), home("b", 20, weight=2)]
    )
    assert result.allocated_kw == {"a": 10, "b": 20}
    assert result.limit_kw == {"a": 10, "b": None}


def test_margin_and_other_load_reduce_the_usable_capacity() -> None:
    feeder = Feeder(id="f", capacity_kw=25, margin_kw=5)
    result = allocate(feeder, [home("a", 10), home("b", 10)], other_load_kw=8)
    assert result.usable_kw == 20
    assert result.limit_kw == {"a": 6, "b": 6}
    assert result.load_kw == 20


def test_minimum_is_guaranteed() -> None:
    households = [home("a", 20, minimum_kw=8), home("b", 20), home("c", 20)]
    result = allocate(Feeder(id="f", capacity_kw=20), households)
    assert result.allocated_kw == {"a": 8, "b": 6, "c": 6}


def test_minimum_above_demand_guarantees_only_the_demand() -> None:
    households = [home("a", 3, minimum_kw=5), home("b", 20)]
    result = allocate(Feeder(id="f", capacity_kw=10), households)
    assert result.allocated_kw == {"a": 3, "b": 7}
    assert result.limit_kw == {"a": None, "b": 7}


def test_priority_household_is_served_first_and_never_limited() -> None:
    households = [home("p", 12, priority=True), home("a", 10), home("b", 10)]
    result = allocate(Feeder(id="f", capacity_kw=20), households)
    assert result.allocated_kw == {"p": 12, "a": 4, "b": 4}
    assert result.limit_kw == {"p": None, "a": 4, "b": 4}


def test_contractual_maximum_is_a_binding_limit_even_without_overload() -> None:
    households = [home("a", 15, maximum_kw=10), home("b", 5)]
    result = allocate(Feeder(id="f", capacity_kw=100), households)
    assert result.allocated_kw == {"a": 10, "b": 5}
    assert result.limit_kw == {"a": 10, "b": None}


def test_contractual_maximum_caps_the_water_filling() -> None:
    households = [home("a", 15, maximum_kw=10), home("b", 8)]
    result = allocate(Feeder(id="f", capacity_kw=17), households)
    assert result.allocated_kw == {"a": 9, "b": 8}
    assert result.limit_kw == {"a": 9, "b": None}


def test_pv_export_frees_capacity() -> None:
    feeder = Feeder(id="f", capacity_kw=20)
    households = [home("a", 10), home("b", 10), home("pv", 0, pv_export_kw=5)]
    fits = allocate(feeder, households, other_load_kw=5)
    assert fits.binding == []
    assert fits.load_kw == 20
    tight = allocate(feeder, [home("a", 12), home("b", 12), home("pv", 0, pv_export_kw=4)])
    # 24 kW of demand less 4 kW of export is exactly the capacity: nothing to limit.
    assert tight.binding == []
    assert tight.load_kw == 20
    over = allocate(feeder, [home("a", 14), home("b", 14), home("pv", 0, pv_export_kw=4)])
    assert over.limit_kw == {"a": 12, "b": 12, "pv": None}
    assert over.load_kw == 20


def test_minimums_beyond_capacity_are_a_shortfall() -> None:
    households = [
        home("p", 6, priority=True),
        home("a", 5, minimum_kw=3),
        home("b", 5, minimum_kw=3),
    ]
    result = allocate(Feeder(id="f", capacity_kw=10), households)
    assert result.shortfall_kw == pytest.approx(2)
    assert result.limit_kw == {"p": None, "a": 3, "b": 3}
    assert result.load_kw == 12


def test_households_without_limiter_draw_in_full_while_limiters_absorb() -> None:
    households = [home("a", 10, minimum_kw=2), home("u", 12, has_limiter=False)]
    result = allocate(Feeder(id="f", capacity_kw=20), households)
    assert result.allocated_kw == {"a": 8, "u": 12}
    assert result.limit_kw == {"a": 8, "u": None}
    assert result.disconnect == []


def test_disconnection_is_last_resort_and_takes_the_largest_first() -> None:
    households = [
        home("a", 10, minimum_kw=4),
        home("u1", 8, has_limiter=False),
        home("u2", 6, has_limiter=False),
        home("u3", 3, has_limiter=False),
        home("p", 9, priority=True, has_limiter=False),
    ]
    # Fixed 9 (priority) + 17 (no limiter) + floor 4 = 30 against 29: one must go, the biggest.
    result = allocate(Feeder(id="f", capacity_kw=29), households)
    assert result.disconnect == ["u1"]
    assert result.allocated_kw == {"a": 10, "u1": 0, "u2": 6, "u3": 3, "p": 9}
    assert result.shortfall_kw == 0
    assert result.load_kw == 28


def test_priority_is_never_disconnected_even_when_infeasible() -> None:
    households = [home("p", 30, priority=True, has_limiter=False), home("u", 5, has_limiter=False)]
    result = allocate(Feeder(id="f", capacity_kw=20), households)
    assert result.disconnect == ["u"]
    assert result.shortfall_kw == pytest.approx(10)
    assert result.allocated_kw == {"p": 30, "u": 0}


def test_duplicate_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="unique"):
        allocate(Feeder(id="f", capacity_kw=10), [home("a", 1), home("a", 2)])


@pytest.mark.parametrize(
    "fields",
    [
        {"demand_kw": -1.0},
        {"weight": 0.0},
        {"minimum_kw": 60.0},
        {"maximum_kw": 0.0, "minimum_kw": 0.0},
        {"pv_export_kw": -0.5},
    ],
)
def test_invalid_household_is_refused(fields: dict[str, float]) -> None:
    base: dict[str, object] = {"id": "a", "demand_kw": 1.0, "maximum_kw": 50.0}
    with pytest.raises(ValidationError):
        Household.model_validate({**base, **fields})


def test_invalid_feeder_is_refused() -> None:
    with pytest.raises(ValidationError):
        Feeder(id="f", capacity_kw=0)
