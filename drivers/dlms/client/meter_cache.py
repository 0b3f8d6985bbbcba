"""What the DLMS client remembers about each meter between sessions, and when it forgets it.

Scaler/unit of registers, capture objects and capture periods of profiles are parametrisation:
reading them at every session would double the traffic, but a meter can be re-parametrised or
exchanged under the same id. So every entry carries the monotonic time it was read and is read
again once it is older than the session's `cache_max_age_s`; the readers also refresh an entry
when a read looks inconsistent with it (see drivers.dlms.client.reading and
drivers.dlms.client.profile), and `forget_meter` drops everything about a meter at once (the
head-end calls it on a meter exchange).

Entries are nested by meter id, so forgetting a meter costs its own entries, not a scan of a
100,000-meter fleet.
"""

from __future__ import annotations

import time
from typing import Generic, Protocol, TypeVar

__all__ = ["LastValues", "PerMeter", "forget_meter"]


class _Forgetful(Protocol):
    def forget(self, meter_id: str) -> None: ...


_ALL: list[_Forgetful] = []
V = TypeVar("V")


def forget_meter(meter_id: str) -> None:
    """Drop everything cached about a meter: scalers, capture objects, periods, last values."""
    for cache in _ALL:
        cache.forget(meter_id)


class PerMeter(Generic[V]):
    """Values per (meter id, OBIS code), each stamped with the monotonic time it was read."""

    __slots__ = ("_by_meter",)

    def __init__(self) -> None:
        self._by_meter: dict[str, dict[str, tuple[V, float]]] = {}
        _ALL.append(self)

    def get(self, meter_id: str, obis: str, max_age_s: float | None = None) -> V | None:
        """The cached value, or None when there is none or it is older than `max_age_s`
        (None: any age, for a value planned a moment ago)."""
        entry = self._by_meter.get(meter_id, {}).get(obis)
        if entry is None:
            return None
        value, read_at = entry
        if max_age_s is not None and time.monotonic() - read_at > max_age_s:
            return None
        return value

    def put(self, meter_id: str, obis: str, value: V) -> None:
        self._by_meter.setdefault(meter_id, {})[obis] = (value, time.monotonic())

    def discard(self, meter_id: str, obis: str) -> None:
        entries = self._by_meter.get(meter_id)
        if entries is not None:
            entries.pop(obis, None)

    def forget(self, meter_id: str) -> None:
        self._by_meter.pop(meter_id, None)

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key[1] in self._by_meter.get(key[0], {})


class LastValues:
    """The last value this process saw per (meter id, OBIS code), as a float.

    A float is a third of a Decimal's size and enough here: it only tells whether a new value
    went down or jumped by a power of ten, and float conversion keeps the order of Decimals.
    """

    __slots__ = ("_by_meter",)

    def __init__(self) -> None:
        self._by_meter: dict[str, dict[str, float]] = {}
        _ALL.append(self)

    def get(self, meter_id: str, obis: str) -> float | None:
        return self._by_meter.get(meter_id, {}).get(obis)

    def put(self, meter_id: str, obis: str, value: float) -> None:
        self._by_meter.setdefault(meter_id, {})[obis] = value

    def forget(self, meter_id: str) -> None:
        self._by_meter.pop(meter_id, None)
