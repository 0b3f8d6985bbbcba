"""The 15-minute grid of a period: the capture instants start, start + 15 min, ..., end, cached
per period so a fleet of meters shares one grid (and one index of instant -> position)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from billing.vee.model import RULE_ACTUAL, Finding, Flag


@dataclass(frozen=True, slots=True)
class Grid:
    """Capture instants `times[0] = start .. times[n] = end`; interval i is times[i]..times[i+1]."""

    start: datetime
    interval: timedelta
    times: tuple[datetime, ...]
    index: dict[datetime, int]
    local_offset: timedelta  # the tariff zone's UTC offset at the start (start is local midnight)

    @property
    def count(self) -> int:
        return len(self.times) - 1

    def position(self, at: datetime) -> int | None:
        """Grid index of an on-grid instant anywhere in time (negative before start), else None."""
        steps, rest = divmod(at - self.start, self.interval)
        return steps if not rest else None

    def finding(
        self, meter_id: str, obis: str, rule: str, first: int, stop: int, flag: Flag, detail: str
    ) -> Finding:
        """A finding over intervals [first, stop) of this grid."""
        start, step = self.start, self.interval
        return Finding(
            meter_id, obis, rule, start + step * first, start + step * stop, flag, detail
        )

    def slot_key(self, k: int) -> tuple[bool, int]:
        """(weekend?, slot of the local day) of interval k: what "matching past days" match on."""
        local = self.start + self.interval * k + self.local_offset
        minute = local.hour * 60 + local.minute
        return local.weekday() >= 5, minute * 60 // int(self.interval.total_seconds())


_GRIDS: dict[tuple[datetime, datetime, timedelta], Grid] = {}
_ACTUAL_FLAGS: dict[int, tuple[Flag, ...]] = {}
_ACTUAL_RULES: dict[int, tuple[str, ...]] = {}


def grid_for(start: datetime, end: datetime, interval: timedelta) -> Grid:
    """The grid of [start, end); ValueError when the period is not a whole number of intervals."""
    key = (start, end, interval)
    found = _GRIDS.get(key)
    if found is not None:
        return found
    count, rest = divmod(end - start, interval)
    if rest or count <= 0:
        raise ValueError(
            f"period {start.isoformat()}..{end.isoformat()} is not whole {interval} intervals"
        )
    times = tuple(start + interval * i for i in range(count + 1))
    midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
    # start is the tariff zone's local midnight, so its UTC time of day gives the zone's offset
    offset = (midnight - start) % timedelta(days=1)
    grid = Grid(start, interval, times, {t: i for i, t in enumerate(times)}, offset)
    if len(_GRIDS) > 16:
        _GRIDS.clear()
    _GRIDS[key] = grid
    return grid


def actual_flags(count: int) -> tuple[tuple[Flag, ...], tuple[str, ...]]:
    """Shared all-actual flag and rule tuples (a clean month needs no per-interval objects)."""
    flags = _ACTUAL_FLAGS.get(count)
    if flags is None:
        flags = _ACTUAL_FLAGS[count] = (Flag.ACTUAL,) * count
        _ACTUAL_RULES[count] = (RULE_ACTUAL,) * count
    return flags, _ACTUAL_RULES[count]
