"""Simulated time with an acceleration factor, so a demo can run a day in minutes."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

# A clock moved by `advance`/`set` or frozen (factor 0) cannot say when a sleep ends: a sleep
# looks at it again at least this often (real seconds).
_LONGEST_REAL_WAIT_S = 1.0


class SimClock:
    """`now()` runs `factor` times faster than the wall clock from `start` onwards.

    A clock with factor 0 is frozen; tests use `advance()` to move it deterministically.
    """

    def __init__(self, start: datetime | None = None, factor: float = 1.0) -> None:
        self._origin = datetime.now(UTC)
        self._start = (start or self._origin).astimezone(UTC)
        self._mono0 = time.monotonic()
        self.factor = factor
        self._offset = timedelta(0)

    def now(self) -> datetime:
        elapsed = (time.monotonic() - self._mono0) * self.factor
        return self._start + timedelta(seconds=elapsed) + self._offset

    @property
    def origin(self) -> datetime:
        """The wall-clock time the clock started: with no `start` given, simulated time equals it
        there, so another process computes the same time from `origin` and `factor` alone."""
        return self._origin

    async def sleep(self, simulated_seconds: float) -> None:
        """Wait until the clock has moved on by `simulated_seconds` (also by `advance`)."""
        until = self.now() + timedelta(seconds=simulated_seconds)
        while (left := (until - self.now()).total_seconds()) > 0:
            real = left / self.factor if self.factor > 0 else _LONGEST_REAL_WAIT_S
            await asyncio.sleep(min(real, _LONGEST_REAL_WAIT_S))

    def advance(self, delta: timedelta) -> None:
        self._offset += delta

    def set(self, when: datetime) -> None:
        """Set the clock (a time-sync command): later readings continue from `when`."""
        self._offset += when.astimezone(UTC) - self.now()
