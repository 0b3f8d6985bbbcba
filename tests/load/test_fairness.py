"""Jain's fairness index on hand-worked values, and the curtailment ratios it is applied to."""

from __future__ import annotations

import pytest

from headend.load.allocation import Feeder, Household, allocate
from headend.load.fairness import jain_index, served_ratios


@pytest.mark.parametrize(
    ("values", "expected"),
    [([1, 1, 1], 1.0), ([1, 0, 0], 1 / 3), ([1, 2], 0.9), ([], 1.0), ([0, 0], 1.0)],
)
def test_jain_index(values: list[float], expected: float) -> None:
    assert jain_index(values) == pytest.approx(expected)


def test_served_ratios_skip_priority_and_idle_households() -> None:
    households = [
        Household(id="a", demand_kw=20, maximum_kw=50),
        Household(id="b", demand_kw=10, maximum_kw=50),
        Household(id="p", demand_kw=10, maximum_kw=50, priority=True),
        Household(id="idle", demand_kw=0, maximum_kw=50),
    ]
    result = allocate(Feeder(id="f", capacity_kw=26), households)
    # 16 left after the priority household: 8 each, so a is served 40 %, b 80 %.
    assert served_ratios(result, households) == pytest.approx([0.4, 0.8])
    assert jain_index(served_ratios(result, households)) == pytest.approx(1.44 / (2 * 0.8))
