"""Boundary reads of tariff registers shaped by the load profile.

A tariff register read daily at 00:00 UTC while the tariff's day starts at local midnight
(16:00 UTC in Shanghai) has no read at the period boundary. Interpolating it in time would put a
peak register's energy into night hours; with the import profile at hand, the register's advance
between its two reads is shared in proportion to the profile's energy in that register's
tariff period before and after the boundary.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise

from billing.determinants.intervals import Labels
from billing.vee.register import Register

ZERO = Decimal(0)


class ProfileShape:
    """Shares of a tariff period's profile energy before an instant (cached per read pair)."""

    def __init__(self, profile: Register, labels: Labels, interval: timedelta) -> None:
        self._profile = profile
        self._labels = labels
        self._interval = interval
        self._cache: dict[tuple[datetime, datetime], tuple[list[str], list[Decimal]] | None] = {}

    def share(self, name: str, before: datetime, at: datetime, after: datetime) -> Decimal | None:
        """Share of period `name`'s profile energy in [before, after) that falls before `at`;
        None when the profile cannot say (a missing capture, no energy in that period)."""
        interval = self._interval
        if (at - before) % interval or (after - at) % interval:
            return None
        found = self._intervals(before, after)
        if found is None:
            return None
        names, uses = found
        split = (at - before) // interval
        total = sum((use for n, use in zip(names, uses, strict=True) if n == name), ZERO)
        if total <= ZERO:
            return None
        head = zip(names[:split], uses[:split], strict=True)
        return sum((use for n, use in head if n == name), ZERO) / total

    def _intervals(
        self, before: datetime, after: datetime
    ) -> tuple[list[str], list[Decimal]] | None:
        key = (before, after)
        if key in self._cache:
            return self._cache[key]
        interval = self._interval
        count = (after - before) // interval
        values: list[Decimal | None] = [None] * (count + 1)
        lo, hi = self._profile.span(before, after)
        for at, value in zip(self._profile.times[lo:hi], self._profile.values[lo:hi], strict=True):
            steps, rest = divmod(at - before, interval)
            if not rest:
                values[steps] = value
        result: tuple[list[str], list[Decimal]] | None = None
        known = [v for v in values if v is not None]
        if len(known) == count + 1:
            uses = [b - a for a, b in pairwise(known)]
            if all(use >= ZERO for use in uses):
                result = (self._labels(before, interval, count), uses)
        self._cache[key] = result
        return result
