"""Demand-response events: versions, cancellation, per-household spread, and their effect on a
feeder's limits through the controller."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from headend.config.load import DemandResponseEvent
from headend.load.demand_response import EventBook, household_window, spread_fraction
from tests.load.harness import CYCLE, T0, ModelFeeder, actions, settings


def event(**fields: Any) -> DemandResponseEvent:
    values: dict[str, Any] = {
        "id": "dr1",
        "feeder": "f1",
        "start": T0,
        "end": T0 + timedelta(hours=1),
        "reduction_kw": 2.0,
        **fields,
    }
    return DemandResponseEvent.model_validate(values)


def test_newer_version_replaces_older_and_late_old_versions_change_nothing() -> None:
    book = EventBook()
    assert book.apply(event()) == "event dr1 version 1 scheduled"
    assert (
        book.apply(event(version=2, reduction_kw=3.0))
        == "event dr1 version 1 replaced by version 2"
    )
    assert book.apply(event(version=1, reduction_kw=9.0)) is None
    assert book.apply(event(version=2, reduction_kw=9.0)) is None
    current = book.get("dr1")
    assert current is not None and current.reduction_kw == 3.0


def test_cancel_ends_the_event_and_older_versions_cannot_revive_it() -> None:
    book = EventBook()
    book.apply(event())
    assert book.apply(event(version=2, cancelled=True)) == "event dr1 cancelled (version 2)"
    assert book.apply(event(version=1)) is None
    assert book.live() == []
    assert book.reductions(T0 + CYCLE, "f1", ["a"], lambda h: True) == {}


def test_spread_offsets_are_deterministic_within_the_spread_and_differ_by_household() -> None:
    spread = timedelta(minutes=20)
    dr = event(spread=spread)
    windows = {h: household_window(dr, h) for h in (f"h{i}" for i in range(200))}
    assert windows == {h: household_window(dr, h) for h in windows}
    for start, end in windows.values():
        assert dr.start <= start < dr.start + spread
        assert dr.end <= end < dr.end + spread
    starts = sorted(start for start, _ in windows.values())
    # Spread out, not a step: the households' starts cover the spread roughly evenly.
    assert starts[50] - dr.start < spread / 2 < starts[150] - dr.start
    assert spread_fraction("dr1", "h1", "start") != spread_fraction("dr2", "h1", "start")


def test_reduction_is_shared_among_limitable_households_inside_their_window() -> None:
    book = EventBook()
    book.apply(event(spread=timedelta(minutes=10)))
    homes = ["a", "b", "c", "medical"]
    eligible = {"a": True, "b": True, "c": True, "medical": False}.__getitem__
    before = book.reductions(T0 - CYCLE, "f1", homes, eligible)
    late = book.reductions(T0 + timedelta(minutes=10), "f1", homes, eligible)
    assert before == {}
    assert set(late) == {"a", "b", "c"}
    assert [r.kw for r in late.values()] == pytest.approx([2 / 3] * 3)
    assert book.reductions(T0 + timedelta(hours=2), "f1", homes, eligible) == {}
    assert book.reductions(T0 + CYCLE, "other", homes, eligible) == {}


def test_group_event_counts_the_whole_group() -> None:
    book = EventBook()
    book.apply(event(feeder=None, households=["a", "b", "elsewhere", "x"]))
    out = book.reductions(T0, "f1", ["a", "b", "c"], lambda h: h != "x")
    assert set(out) == {"a", "b"}
    assert out["a"].kw == pytest.approx(2 / 3)
    assert out["a"].events == ("dr1",)


def test_event_lowers_the_limits_of_its_households_then_cancel_lets_them_ramp_back() -> None:
    homes = ["a", "b", "c", "d"]
    feeder = ModelFeeder(settings(homes, capacity_kw=20))
    demand = dict.fromkeys(homes, 3.0)
    assert feeder.cycle(demand).commands == []  # 12 kW on 20 kW: nothing to do
    dr = event(start=feeder.now, reduction_kw=4.0, spread=timedelta(0))
    first = feeder.cycle(demand, [dr])
    # 1 kW each below their 3 kW baseline.
    assert actions(first) == {h: ("limit", 2000) for h in homes}
    assert first.commands[0].reason.startswith("demand response dr1: 1.00 kW below a baseline")
    assert "event dr1 version 1 scheduled" in first.notices
    # A version 2 with a smaller target raises the caps: slowly, via the ramp.
    v2 = event(start=dr.start, version=2, reduction_kw=2.0)
    feeder.cycle(demand, [dr, v2])
    feeder.cycle(demand, [dr, v2])
    assert set(feeder.limits_w.values()) == {2500}
    # Cancelled: the limits go via the ramp as well (one step a cycle), not all at once.
    v3 = event(start=dr.start, version=3, reduction_kw=2.0, cancelled=True)
    seen = [dict(feeder.limits_w) for _ in range(4) if feeder.cycle(demand, [v3])]
    assert seen[0] == dict.fromkeys(homes, 3000)
    assert "event dr1 cancelled (version 3)" in feeder.decisions[-4].notices
    assert feeder.limits_w == {}


def test_event_spread_ramps_the_feeder_in() -> None:
    homes = [f"h{i}" for i in range(40)]
    feeder = ModelFeeder(settings(homes, capacity_kw=200))
    demand = dict.fromkeys(homes, 2.0)
    dr = event(start=T0 + CYCLE, reduction_kw=20.0, spread=timedelta(minutes=15))
    loads = []
    for _ in range(6):
        feeder.cycle(demand, [dr])
        loads.append(sum(feeder.drawn(demand).values()))
    # 80 kW before, 60 kW once everyone is in: in between, part of the households.
    assert loads[0] == pytest.approx(80)
    assert any(60 + 1 < load < 80 - 1 for load in loads[1:4])
    assert loads[-1] == pytest.approx(60, abs=0.5)
