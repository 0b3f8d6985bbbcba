"""The limits in force on one feeder's households, as leases.

A limit sent to a meter carries a lease: the meter drops it at the lease's end unless it is sent
again, so a head-end that dies leaves no household limited for long. The book says, per cycle and
household, whether to send a new limit, renew the one in force (less than half its lease is
left), release it, or do nothing, and why and until when. Limits are compared in whole watts, as
sent, so a change below one watt is no change. Pure state; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class LeaseAction(StrEnum):
    LIMIT = "limit"
    RENEW = "renew"
    RELEASE = "release"


@dataclass(frozen=True, slots=True)
class Lease:
    household: str
    limit_w: int
    source: str
    """What asked for it: "allocation" (feeder capacity) or "demand-response:<event id>"."""
    reason: str
    granted_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class LeaseDecision:
    household: str
    action: LeaseAction
    limit_w: int | None
    expires_at: datetime | None
    why: str

    def __str__(self) -> str:
        until = f" until {self.expires_at.isoformat()}" if self.expires_at is not None else ""
        value = f" {self.limit_w} W" if self.limit_w is not None else ""
        return f"{self.action.value}{value} for {self.household}{until}: {self.why}"


class LeaseBook:
    def __init__(self, lease: timedelta) -> None:
        if lease <= timedelta(0):
            raise ValueError("lease must be positive")
        self.lease = lease
        self._leases: dict[str, Lease] = {}

    def in_force(self, now: datetime) -> dict[str, Lease]:
        """The leases not yet expired at `now` (the expired ones are forgotten: the meter has
        dropped them)."""
        for household in [h for h, lease in self._leases.items() if lease.expires_at <= now]:
            del self._leases[household]
        return dict(self._leases)

    def get(self, household: str) -> Lease | None:
        return self._leases.get(household)

    def forget(self, household: str) -> None:
        """The limit is not in force after all (its command failed): send it again if needed."""
        self._leases.pop(household, None)

    def decide(
        self, household: str, limit_w: int | None, now: datetime, *, source: str, reason: str
    ) -> LeaseDecision | None:
        """What to send so that `limit_w` (None: no limit) is in force; records it as sent."""
        held = self._leases.get(household)
        if held is not None and held.expires_at <= now:
            del self._leases[household]
            held = None
        if limit_w is None:
            if held is None:
                return None
            del self._leases[household]
            return LeaseDecision(household, LeaseAction.RELEASE, None, None, reason)
        expires = now + self.lease
        if held is None or held.limit_w != limit_w:
            self._leases[household] = Lease(household, limit_w, source, reason, now, expires)
            why = reason if held is None else f"{reason} (was {held.limit_w} W)"
            return LeaseDecision(household, LeaseAction.LIMIT, limit_w, expires, why)
        if held.expires_at - now < self.lease / 2:
            self._leases[household] = Lease(household, limit_w, source, reason, now, expires)
            left = (held.expires_at - now).total_seconds()
            return LeaseDecision(
                household,
                LeaseAction.RENEW,
                limit_w,
                expires,
                f"{reason}; lease had {left:g} s left",
            )
        return None
