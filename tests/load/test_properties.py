"""Hypothesis properties of the allocation and the smoother."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from headend.load.allocation import Allocation, Feeder, Household, allocate
from headend.load.hysteresis import Smoother

EPS = 1e-6
kw = st.floats(min_value=0, max_value=20, allow_nan=False, allow_infinity=False)


@st.composite
def households(draw: st.DrawFn, index: int) -> Household:
    minimum = draw(st.floats(min_value=0, max_value=5))
    return Household(
        id=f"h{index}",
        demand_kw=draw(kw),
        weight=draw(st.floats(min_value=0.25, max_value=4)),
        minimum_kw=minimum,
        maximum_kw=draw(st.floats(min_value=max(minimum, 0.5), max_value=30)),
        priority=draw(st.integers(0, 5)) == 0,
        has_limiter=draw(st.integers(0, 4)) > 0,
        pv_export_kw=draw(st.sampled_from([0.0, 0.0, 0.0, 2.5, 5.0])),
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[Feeder, list[Household], float]:
    n = draw(st.integers(min_value=0, max_value=25))
    homes = [draw(households(i)) for i in range(n)]
    capacity = draw(st.floats(min_value=1, max_value=300))
    margin = draw(st.floats(min_value=0, max_value=capacity * 0.5))
    feeder = Feeder(id="f", capacity_kw=capacity, margin_kw=margin)
    return feeder, homes, draw(st.floats(min_value=0, max_value=30))


def limitable(homes: list[Household]) -> list[Household]:
    return [h for h in homes if h.has_limiter and not h.priority]


def minimum_load(homes: list[Household], other: float) -> float:
    """The least load reachable: priority demand and limitable floors, all others cut."""
    fixed = other - sum(h.pv_export_kw for h in homes)
    fixed += sum(h.demand_kw for h in homes if h.priority)
    return fixed + sum(h.floor_kw for h in limitable(homes))


@given(cases())
def test_never_above_capacity_when_the_minimums_fit(case: tuple[Feeder, list[Household], float]):
    feeder, homes, other = case
    result = allocate(feeder, homes, other)
    expected_load = other - sum(h.pv_export_kw for h in homes) + sum(result.allocated_kw.values())
    assert math.isclose(result.load_kw, expected_load, abs_tol=EPS)
    least = minimum_load(homes, other)
    if least <= feeder.usable_kw - EPS:
        assert result.shortfall_kw == 0
        assert result.load_kw <= feeder.usable_kw + EPS
    elif least > feeder.usable_kw + EPS:
        assert math.isclose(result.shortfall_kw, least - feeder.usable_kw, abs_tol=EPS)


@given(cases())
def test_limitable_households_stay_between_floor_and_ceiling(
    case: tuple[Feeder, list[Household], float],
):
    feeder, homes, other = case
    result = allocate(feeder, homes, other)
    for h in limitable(homes):
        share = result.allocated_kw[h.id]
        assert h.floor_kw - EPS <= share <= h.ceiling_kw + EPS
        limit = result.limit_kw[h.id]
        assert (limit is None) == (share >= h.demand_kw)
        assert (h.id in result.binding) == (limit is not None)


@given(cases())
def test_priority_never_limited_nor_cut_and_unlimited_draw_all_or_nothing(
    case: tuple[Feeder, list[Household], float],
):
    feeder, homes, other = case
    result = allocate(feeder, homes, other)
    for h in homes:
        if h.priority:
            assert result.limit_kw[h.id] is None
            assert result.allocated_kw[h.id] == h.demand_kw
            assert h.id not in result.disconnect
        elif not h.has_limiter:
            assert result.limit_kw[h.id] is None
            cut = h.id in result.disconnect
            assert result.allocated_kw[h.id] == (0.0 if cut else h.demand_kw)


@given(cases())
def test_disconnections_are_few_and_only_when_needed(case: tuple[Feeder, list[Household], float]):
    feeder, homes, other = case
    result = allocate(feeder, homes, other)
    if not result.disconnect:
        return
    by_id = {h.id: h for h in homes}
    demands = [by_id[i].demand_kw for i in result.disconnect]
    assert demands == sorted(demands, reverse=True)
    # Without the last disconnection the floors would not fit: none of them was needless.
    kept = set(result.disconnect[:-1])
    load = other - sum(h.pv_export_kw for h in homes)
    load += sum(h.demand_kw for h in homes if h.priority)
    load += sum(h.demand_kw for h in homes if not h.has_limiter and not h.priority)
    load -= sum(by_id[i].demand_kw for i in kept)
    load += sum(h.floor_kw for h in limitable(homes))
    assert load > feeder.usable_kw


@given(cases())
def test_shares_are_weighted_max_min_fair(case: tuple[Feeder, list[Household], float]):
    feeder, homes, other = case
    result = allocate(feeder, homes, other)
    if result.shortfall_kw > 0:
        return
    share = result.allocated_kw
    wanting = [h for h in limitable(homes) if share[h.id] < h.ceiling_kw - EPS]
    giving = [h for h in limitable(homes) if share[h.id] > h.floor_kw + EPS]
    if wanting:
        # Capacity is not wasted while someone is held below what they would take.
        assert math.isclose(result.load_kw, feeder.usable_kw, abs_tol=EPS)
    for i in wanting:
        for j in giving:
            # i could only get more from j if j's weighted share were larger than i's.
            assert share[j.id] / j.weight <= share[i.id] / i.weight + EPS


@given(
    n=st.integers(min_value=1, max_value=30),
    demand=st.floats(min_value=0.1, max_value=20),
    capacity=st.floats(min_value=1, max_value=400),
)
def test_equal_households_get_equal_limits(n: int, demand: float, capacity: float):
    homes = [Household(id=f"h{i}", demand_kw=demand, maximum_kw=25) for i in range(n)]
    result = allocate(Feeder(id="f", capacity_kw=capacity), homes)
    limits = set(result.limit_kw.values())
    assert len(limits) == 1
    (limit,) = limits
    # A total over the capacity by float rounding alone (10 x 0.1 on 1.0) is no overload.
    if n * min(demand, 25) > capacity * (1 + 1e-9):
        assert limit is not None
        assert math.isclose(limit, capacity / n, rel_tol=1e-9)


@given(cases())
def test_unchanged_input_gives_unchanged_limits(case: tuple[Feeder, list[Household], float]):
    feeder, homes, other = case
    first = allocate(feeder, homes, other)
    assert allocate(feeder, homes, other) == first
    smoother = Smoother(ramp_up_kw_per_cycle=0.5, hold_cycles=2)
    limits = smoother.step(first)
    for _ in range(5):
        assert smoother.step(first) == limits


@settings(max_examples=200)
@given(
    ramp=st.floats(min_value=0.1, max_value=5),
    hold=st.integers(min_value=0, max_value=4),
    script=st.lists(
        st.lists(st.tuples(kw, kw, st.floats(0, 1)), min_size=3, max_size=3),
        min_size=1,
        max_size=30,
    ),
)
def test_smoother_cuts_at_once_and_ramps_slowly(
    ramp: float, hold: int, script: list[list[tuple[float, float, float]]]
):
    smoother = Smoother(ramp_up_kw_per_cycle=ramp, hold_cycles=hold)
    previous: dict[str, float | None] = {}
    for step in script:
        homes = [
            Household(id=f"h{i}", demand_kw=demand, minimum_kw=min(minimum, 20), maximum_kw=20)
            for i, (demand, minimum, _) in enumerate(step)
        ]
        # Squeeze the feeder to a random share of the demand so limits come and go.
        capacity = max(0.5, sum(h.demand_kw for h in homes) * (0.3 + step[0][2]))
        allocation: Allocation = allocate(Feeder(id="f", capacity_kw=capacity), homes)
        limits = smoother.step(allocation)
        for h in homes:
            target = allocation.limit_kw[h.id]
            before = previous.get(h.id)
            now = limits[h.id]
            if target is not None:
                assert now is not None
                # Never above what the allocation allows; an actual cut (more than float
                # rounding) happens at once.
                assert now <= target + EPS
                if before is None or target < before - EPS:
                    assert now == target
            if now is not None:
                assert now >= h.floor_kw - EPS
                if before is not None and now > before:
                    assert now - before <= ramp + EPS or now == h.floor_kw
            elif before is not None:
                assert target is None
        previous = limits
