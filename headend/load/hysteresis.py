"""Hysteresis on allocated limits, so that they do not oscillate from cycle to cycle.

A limit is cut down at once when the allocation asks for less, held for `hold_cycles` cycles
after the last cut, then raised by at most `ramp_up_kw_per_cycle` per cycle towards the
allocation (or towards the household's ceiling, min(demand, maximum), when the allocation no
longer binds). A limit that has stayed at or above the ceiling for `hold_cycles` cycles is
released (None). A limit is never held below the household's guaranteed floor, min(minimum,
demand): when the floor rises above a held limit, the limit jumps to it at once.
Pure state machine: one `step` per control cycle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from headend.load.allocation import Allocation

_EPS = 1e-9
"""kW: differences below this are float rounding, not a change of the allocation."""


@dataclass
class _Held:
    limit_kw: float
    calm_cycles: int = 0
    """Cycles since the last cut."""
    slack_cycles: int = 0
    """Consecutive cycles the limit has not bound (at or above the ceiling)."""


class Smoother:
    """Turns successive allocations into limits that cut at once and ramp up slowly."""

    def __init__(self, ramp_up_kw_per_cycle: float, hold_cycles: int, step_kw: float = 0.0) -> None:
        if ramp_up_kw_per_cycle <= 0:
            raise ValueError("ramp_up_kw_per_cycle must be positive")
        if hold_cycles < 0:
            raise ValueError("hold_cycles must not be negative")
        if not 0 <= step_kw < math.inf:
            raise ValueError("step_kw must be zero or positive")
        self.ramp_up_kw_per_cycle = ramp_up_kw_per_cycle
        self.hold_cycles = hold_cycles
        self.step_kw = step_kw
        self._held: dict[str, _Held] = {}

    def _down(self, kw: float) -> float:
        """`kw` rounded down to a whole step (never above `kw`, whatever the float rounding)."""
        if self.step_kw <= 0:
            return kw
        # 0.7 / 0.1 is 6.999...: a value a rounding error short of a step stays on it.
        return min(kw, math.floor(kw / self.step_kw + _EPS) * self.step_kw)

    def step(self, allocation: Allocation) -> dict[str, float | None]:
        """The limits to apply this cycle, for every household of the allocation."""
        out: dict[str, float | None] = {}
        for hid, target in allocation.limit_kw.items():
            held = self._held.get(hid)
            # A target below the held limit by float rounding alone is no cut: the same demand
            # summed in another order must not flip a limit between two steps.
            if target is not None and (held is None or target < held.limit_kw - _EPS):
                limit = max(self._down(target), allocation.floor_kw[hid])
                self._held[hid] = _Held(limit_kw=limit)
                out[hid] = limit
                continue
            if held is None:
                out[hid] = None
                continue
            held.calm_cycles += 1
            ceiling = allocation.ceiling_kw[hid]
            goal = ceiling if target is None else target
            if held.calm_cycles > self.hold_cycles and held.limit_kw < goal:
                raised = self._down(min(held.limit_kw + self.ramp_up_kw_per_cycle, goal))
                held.limit_kw = max(held.limit_kw, raised)
            # The guarantee outranks the slow ramp.
            held.limit_kw = max(held.limit_kw, allocation.floor_kw[hid])
            if target is None and held.limit_kw >= ceiling - self.step_kw:
                held.slack_cycles += 1
                if held.slack_cycles >= self.hold_cycles:
                    del self._held[hid]
                    out[hid] = None
                    continue
            else:
                held.slack_cycles = 0
            out[hid] = held.limit_kw
        # Households gone from the feeder's allocation leave no state behind.
        for hid in set(self._held) - set(allocation.limit_kw):
            del self._held[hid]
        return out
