"""Simulated time with an acceleration factor, so a demo can run a day in minutes."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class SimClock:
    """`now()` runs `factor` times faster than the wall clock from `start` onwards.

    A clock with factor 0 is frozen; tests use `advance()` to move it deterministically.
    """

    def __init__(self, start: datetime | None = None, factor: float = 1.0) -> None:
        self._start = (start or datetime.now(UTC)).astimezone(UTC)
        self._mono0 = time.monotonic()
        self.factor = factor
        self._offset = timedelta(0)

    def now(self) -> datetime:
        elapsed = (time.monotonic() - self._mono0) * self.factor
        return self._start + timedelta(seconds=elapsed) + self._offset

    def advance(self, delta: timedelta) -> None:
        self._offset += delta

    def set(self, when: datetime) -> None:
        """Set the clock (a time-sync command): later readings continue from `when`."""
        self._offset += when.astimezone(UTC) - self.now()
