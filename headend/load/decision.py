"""What a feeder's control cycle decides: the commands for households' meters and the cycle's
record (`CycleDecision`), as the load manager sends and stores them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from headend.load.metrics import LoadCycle


@dataclass(frozen=True, slots=True)
class HouseholdCommand:
    """A command for one household's meter: limit, renew, release, disconnect or reconnect."""

    household: str
    action: str
    reason: str
    limit_w: int | None = None
    lease_s: int | None = None
    lease_until: datetime | None = None

    @property
    def command_action(self) -> str:
        """The command service's action: a renewal is the same limit sent again."""
        return "limit" if self.action == "renew" else self.action


@dataclass(frozen=True)
class CycleDecision:
    feeder: str
    commands: list[HouseholdCommand]
    cycle: LoadCycle
    limits_w: dict[str, int]
    """The limits in force after this cycle's commands."""
    disconnected: frozenset[str]
    infeasible: str | None = None
    """Why the guaranteed minimums alone do not fit, when they do not."""
    notices: list[str] = field(default_factory=list)
    """Events worth recording on their own: demand-response changes, and a feeder becoming
    infeasible or feasible again (said once, not every cycle)."""
