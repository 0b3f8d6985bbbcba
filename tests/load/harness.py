"""A feeder at model level for the controller tests: households that draw their demand up to
the limit in force (nothing when disconnected), a feeder meter that reads their sum, and a
controller stepped once per cycle on those readings."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from headend.config.load import DemandResponseEvent, LoadSettings
from headend.load.controller import FeederController
from headend.load.decision import CycleDecision

T0 = datetime(2026, 6, 1, 18, 0, tzinfo=UTC)
CYCLE = timedelta(minutes=5)


def settings(
    households: Iterable[str],
    capacity_kw: float,
    *,
    margin: float = 0.0,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    **fields: Any,
) -> LoadSettings:
    values: dict[str, Any] = {
        "cycle": "PT5M",
        "lease": "PT15M",
        "ramp_up_kw_per_cycle": 0.5,
        "hold_cycles": 1,
        "feeders": [
            {
                "id": "f1",
                "capacity_kw": capacity_kw,
                "margin": margin,
                "meter": "feeder",
                "households": list(households),
            }
        ],
        "households": dict(overrides or {}),
        **fields,
    }
    load = LoadSettings.model_validate(values)
    assert load.problems() == []
    return load


class ModelFeeder:
    """Households that obey the controller's commands, as the simulated meters do."""

    def __init__(self, load: LoadSettings, other_load_kw: float = 0.0) -> None:
        self.controller = FeederController(load.feeders[0], load, other_load_kw=other_load_kw)
        self.other_load_kw = other_load_kw
        self.limits_w: dict[str, int] = {}
        self.off: set[str] = set()
        self.now = T0
        self.decisions: list[CycleDecision] = []

    def drawn(self, demands: Mapping[str, float]) -> dict[str, float]:
        out = {}
        for household, demand in demands.items():
            if household in self.off:
                out[household] = 0.0
            elif household in self.limits_w:
                out[household] = min(demand, self.limits_w[household] / 1000)
            else:
                out[household] = demand
        return out

    def cycle(
        self, demands: Mapping[str, float], events: Iterable[DemandResponseEvent] = ()
    ) -> CycleDecision:
        usage = self.drawn(demands)
        load = sum(usage.values()) + self.other_load_kw
        decision = self.controller.step(self.now, load, usage, events)
        for command in decision.commands:
            if command.action in ("limit", "renew"):
                assert command.limit_w is not None
                self.limits_w[command.household] = command.limit_w
            elif command.action == "release":
                self.limits_w.pop(command.household, None)
            elif command.action == "disconnect":
                self.off.add(command.household)
            elif command.action == "reconnect":
                self.off.discard(command.household)
        self.decisions.append(decision)
        self.now += CYCLE
        return decision


def actions(decision: CycleDecision) -> dict[str, tuple[str, int | None]]:
    return {c.household: (c.action, c.limit_w) for c in decision.commands}
