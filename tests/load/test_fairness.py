"""Jain's fairness index on hand-worked values, the curtailment ratios it is applied to, and the
accounting of the interval between two cycles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from headend.load.allocation import Feeder, Household, allocate
from headend.load.fairness import curtailment_fairness, jain_index, served_ratios
from headend.load.metrics import Interval


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


def test_interval_accounting() -> None:
    t0 = datetime(2026, 6, 1, 19, 0, tzinfo=UTC)
    interval = Interval(usable_kw=10)
    assert interval.close(t0, 14, 14) == (0, 0, 0)
    # 14 -> 6 kW over 10 minutes: above 10 kW for the first half.
    overload, served, demanded = interval.close(t0 + timedelta(minutes=10), 6, 14)
    assert overload == 300
    assert served == (14 + 6) / 2 / 6
    assert demanded == 14 / 6
    # An unread feeder meter: no overload or served energy can be told for that interval.
    assert interval.close(t0 + timedelta(minutes=20), None, 8)[:2] == (0, 0)


def test_curtailment_fairness() -> None:
    homes = [
        Household(id="a", demand_kw=4, maximum_kw=10),
        Household(id="b", demand_kw=4, maximum_kw=10),
        Household(id="m", demand_kw=4, maximum_kw=10, priority=True),
    ]
    wanted = {"a": 4.0, "b": 4.0, "m": 4.0}
    assert curtailment_fairness(homes, wanted, {}) is None
    assert curtailment_fairness(homes, wanted, {"a": 2000, "b": 2000}) == 1.0
    # a halved, b untouched: ratios 0.5 and 1 -> (1.5)^2 / (2 * 1.25) = 0.9
    assert curtailment_fairness(homes, wanted, {"a": 2000}) == 0.9
