"""Demand-response events as the load manager applies them.

Events are versioned: a newer version of an event id replaces the older one (an older version
arriving late changes nothing), and a cancelled version ends the event. Each household enters and
leaves an event late by its own offset within the event's spread, drawn from a hash of the event
id and the household: deterministic across cycles and restarts, spread evenly across households,
so the feeder sees a ramp, not a step.

A household inside its window must give up its share of the reduction (the target divided among
the event's households that can be limited) below its baseline: its demand when it entered the
window. Pure state; no I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from headend.config.load import DemandResponseEvent


def spread_fraction(event_id: str, household: str, edge: str) -> float:
    """A fraction in [0, 1) fixed for (event, household, edge)."""
    digest = hashlib.sha256(f"{event_id}\x00{household}\x00{edge}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def household_window(event: DemandResponseEvent, household: str) -> tuple[datetime, datetime]:
    """The household's own start and end: each late by its offset within the spread."""
    start = event.start + event.spread * spread_fraction(event.id, household, "start")
    end = event.end + event.spread * spread_fraction(event.id, household, "end")
    return start, end


@dataclass(frozen=True, slots=True)
class Reduction:
    """What one household owes to the events it is inside of at one time."""

    household: str
    kw: float
    events: tuple[str, ...]


class EventBook:
    """The newest version of every event seen."""

    def __init__(self) -> None:
        self._events: dict[str, DemandResponseEvent] = {}

    def apply(self, event: DemandResponseEvent) -> str | None:
        """Record an event version; returns what changed (None: nothing, already known or older)."""
        known = self._events.get(event.id)
        if known is not None and event.version <= known.version:
            return None
        self._events[event.id] = event
        if event.cancelled:
            return f"event {event.id} cancelled (version {event.version})"
        if known is None:
            return f"event {event.id} version {event.version} scheduled"
        return f"event {event.id} version {known.version} replaced by version {event.version}"

    def apply_all(self, events: Iterable[DemandResponseEvent]) -> list[str]:
        return [change for event in events if (change := self.apply(event)) is not None]

    def get(self, event_id: str) -> DemandResponseEvent | None:
        return self._events.get(event_id)

    def live(self) -> list[DemandResponseEvent]:
        return [e for e in self._events.values() if not e.cancelled]

    def reductions(
        self,
        now: datetime,
        feeder_id: str,
        households: Sequence[str],
        eligible: Callable[[str], bool],
    ) -> dict[str, Reduction]:
        """The households of this feeder inside an event's window at `now`, with their share.

        `eligible` says whether a household can be limited (not protected, has a limiter); the
        others are neither asked nor counted when the target is shared out."""
        on_feeder = set(households)
        owed: dict[str, tuple[float, list[str]]] = {}
        for event in self.live():
            if event.feeder is not None:
                if event.feeder != feeder_id:
                    continue
                targets = [h for h in households if eligible(h)]
            else:
                targets = [h for h in event.households or () if eligible(h)]
            if not targets:
                continue
            share = event.reduction_kw / len(targets)
            for household in targets:
                if household not in on_feeder:
                    continue
                start, end = household_window(event, household)
                if start <= now < end:
                    kw, names = owed.get(household, (0.0, []))
                    owed[household] = (kw + share, [*names, event.id])
        return {h: Reduction(h, kw, tuple(names)) for h, (kw, names) in owed.items()}
