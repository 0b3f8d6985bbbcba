"""The smoother on hand-worked sequences: cut at once, hold, ramp, release."""

from __future__ import annotations

import pytest

from headend.load.allocation import Allocation
from headend.load.hysteresis import Smoother


def cycle(limit: float | None, ceiling: float = 10.0, floor: float = 0.0) -> Allocation:
    """A one-household allocation as `allocate` would report it."""
    allocated = ceiling if limit is None else limit
    return Allocation(
        feeder_id="f",
        usable_kw=100.0,
        allocated_kw={"h": allocated},
        floor_kw={"h": floor},
        ceiling_kw={"h": ceiling},
        limit_kw={"h": limit},
        binding=[] if limit is None else ["h"],
        load_kw=allocated,
    )


def run(smoother: Smoother, targets: list[float | None]) -> list[float | None]:
    return [smoother.step(cycle(t))["h"] for t in targets]


def test_cut_at_once_hold_then_ramp_then_cut_again() -> None:
    smoother = Smoother(ramp_up_kw_per_cycle=1.0, hold_cycles=2)
    assert run(smoother, [5, 8, 8, 8, None, None, 4]) == [5, 5, 5, 6, 7, 8, 4]


def test_ramp_stops_at_the_allocation() -> None:
    smoother = Smoother(ramp_up_kw_per_cycle=2.0, hold_cycles=0)
    assert run(smoother, [5, 6, 6, 9]) == [5, 6, 6, 8]


def test_release_after_hold_cycles_at_the_ceiling() -> None:
    smoother = Smoother(ramp_up_kw_per_cycle=5.0, hold_cycles=2)
    assert run(smoother, [5, None, None, None, None, None]) == [5, 5, 5, 10, None, None]


def test_a_new_cut_restarts_the_hold() -> None:
    smoother = Smoother(ramp_up_kw_per_cycle=5.0, hold_cycles=1)
    assert run(smoother, [5, None, None, 3, None, None]) == [5, 5, None, 3, 3, 8]


def test_no_limit_stays_no_limit() -> None:
    smoother = Smoother(ramp_up_kw_per_cycle=1.0, hold_cycles=3)
    assert run(smoother, [None, None]) == [None, None]


def test_held_limit_jumps_to_a_risen_guarantee() -> None:
    smoother = Smoother(ramp_up_kw_per_cycle=1.0, hold_cycles=5)
    assert smoother.step(cycle(2.0))["h"] == 2.0
    assert smoother.step(cycle(6.0, floor=6.0))["h"] == 6.0


def test_households_that_leave_are_forgotten() -> None:
    smoother = Smoother(ramp_up_kw_per_cycle=1.0, hold_cycles=3)
    smoother.step(cycle(2.0))
    empty = Allocation(
        feeder_id="f",
        usable_kw=100.0,
        allocated_kw={},
        floor_kw={},
        ceiling_kw={},
        limit_kw={},
        binding=[],
        load_kw=0.0,
    )
    assert smoother.step(empty) == {}
    assert smoother.step(cycle(None)) == {"h": None}


@pytest.mark.parametrize(("ramp", "hold"), [(0.0, 1), (1.0, -1)])
def test_bad_parameters_are_refused(ramp: float, hold: int) -> None:
    with pytest.raises(ValueError):
        Smoother(ramp_up_kw_per_cycle=ramp, hold_cycles=hold)


def test_limits_move_in_whole_steps() -> None:
    smoother = Smoother(ramp_up_kw_per_cycle=1.0, hold_cycles=1, step_kw=0.5)
    # 4.8 -> 4.5; 4.6 and 4.7 need no cut; 4.4 -> 4.0; the ramp goal 5.3 -> 5.0 after the hold
    assert run(smoother, [4.8, 4.6, 4.7, 4.4, 5.3, 5.3, 5.3]) == [4.5, 4.5, 4.5, 4.0, 4.0, 5.0, 5.0]
    # not binding: a limit within one step of the ceiling (10) counts as slack and is released
    smoother = Smoother(ramp_up_kw_per_cycle=1.0, hold_cycles=1, step_kw=0.5)
    assert run(smoother, [9.7, None, None]) == [9.5, None, None]


def test_a_stepped_cut_never_goes_below_the_guarantee() -> None:
    smoother = Smoother(ramp_up_kw_per_cycle=1.0, hold_cycles=1, step_kw=0.5)
    assert smoother.step(cycle(2.3, floor=2.3))["h"] == 2.3
