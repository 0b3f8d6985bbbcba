"""The demo's evening at model level: households from the simulator's consumption model
(HouseholdProfile.random, some with PV), a feeder whose evening peak exceeds its capacity, the
controller stepped every five minutes on the feeder's load and the households' use, and the
households obeying the limits as the simulated meters do. The load is checked every minute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from drivers.sim.consumption import HouseholdProfile, net_at
from headend.load.controller import FeederController
from tests.load.harness import settings

START = datetime(2026, 6, 1, 16, 0, tzinfo=UTC)
CYCLE = timedelta(minutes=5)
HOMES = 300


def test_evening_peak_is_brought_under_capacity_within_two_cycles() -> None:
    profiles = {f"h{i}": HouseholdProfile.random(seed=i, pv_share=0.1) for i in range(HOMES)}
    homes = list(profiles)

    def demand(at: datetime) -> dict[str, float]:
        hour = at.hour + at.minute / 60 + at.second / 3600
        return {h: net_at(p, hour) / 1000 for h, p in profiles.items()}

    minutes = [START + timedelta(minutes=m) for m in range(8 * 60)]
    uncontrolled = [sum(demand(at).values()) for at in minutes]
    capacity = 0.8 * max(uncontrolled)
    load = settings(
        homes,
        capacity_kw=capacity,
        margin=0.05,
        overrides={"h0": {"priority": "medical"}, "h1": {"limiter": False}},
        hold_cycles=2,
        ramp_up_kw_per_cycle=0.3,
    )
    controller = FeederController(load.feeders[0], load)
    limits: dict[str, int] = {}
    off: set[str] = set()
    over_minutes = 0
    worst_streak = streak = 0
    changes = 0
    fairness: list[float] = []
    for at in minutes:
        wanted = demand(at)
        drawn = {
            h: 0.0 if h in off else min(d, limits[h] / 1000) if h in limits else d
            for h, d in wanted.items()
        }
        feeder_load = sum(drawn.values())
        over = feeder_load > capacity
        over_minutes += over
        streak = streak + 1 if over else 0
        worst_streak = max(worst_streak, streak)
        if (at - START) % CYCLE:
            continue
        decision = controller.step(at, feeder_load, drawn)
        changes += decision.cycle.limit_changes
        if decision.cycle.fairness is not None:
            fairness.append(decision.cycle.fairness)
        for command in decision.commands:
            if command.limit_w is not None:
                limits[command.household] = command.limit_w
            elif command.action == "release":
                limits.pop(command.household)
            elif command.action == "disconnect":
                off.add(command.household)
            elif command.action == "reconnect":
                off.discard(command.household)
        assert "h0" not in {c.household for c in decision.commands}

    # Without the manager the feeder would be over capacity for well over an hour.
    assert sum(u > capacity for u in uncontrolled) > 60
    # With it: never for more than two control cycles in a row, and rarely at all.
    assert worst_streak <= 2 * 5
    assert over_minutes <= 10
    # Curtailment is shared evenly, limits do not flap, and by midnight everything is released.
    assert min(fairness) >= 0.9
    assert changes / HOMES / 8 < 1.0
    assert limits == {} and off == set()
