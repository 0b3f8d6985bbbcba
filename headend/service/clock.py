"""The service clock: the time the head-end schedules and stamps by, real or simulated.

A `headend run` beside a `headend simulate` process must agree with the simulated meters' clock.
The simulator's `SimClock` runs `factor` times faster than the wall clock from the moment it
started (its `origin`), and writes that origin into the generated fleet file
(`[simulation] clock_origin`, and `clock_start` when it was told where to start the simulated
time); `ScaledClock` computes the same time from the wall clock, so the two processes need nothing
but the file to agree. Times are UTC-aware.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from headend.config.fleet import Fleet

# A clock moved by hand (factor 0, or `SimClock.advance`) cannot say when a sleep ends; sleeps
# wake up at least this often (real seconds) to look at it again.
_LONGEST_REAL_WAIT_S = 1.0


@runtime_checkable
class ServiceClock(Protocol):
    """The head-end's time. `factor` is simulated seconds per real second (0: frozen)."""

    @property
    def factor(self) -> float: ...

    def now(self) -> datetime:
        """The current time, UTC-aware."""
        ...

    async def sleep(self, simulated_seconds: float) -> None:
        """Wait until the clock has moved on by `simulated_seconds`."""
        ...


class WallClock:
    """The real time."""

    @property
    def factor(self) -> float:
        return 1.0

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, simulated_seconds: float) -> None:
        await asyncio.sleep(max(simulated_seconds, 0.0))


class ScaledClock:
    """Simulated time: `start + (wall_now - origin) * factor`, `start` defaulting to `origin`.

    Read from the wall clock (not a monotonic one) because a second process must compute the same
    time from the same origin; `start` lets a test put the simulated time anywhere.
    """

    def __init__(self, origin: datetime, factor: float, *, start: datetime | None = None) -> None:
        if origin.tzinfo is None:
            raise ValueError("the clock origin must carry a time zone")
        if factor < 0:
            raise ValueError("the clock factor must be >= 0")
        self.origin = origin.astimezone(UTC)
        self.start = self.origin if start is None else start.astimezone(UTC)
        self._factor = float(factor)

    @property
    def factor(self) -> float:
        return self._factor

    def now(self) -> datetime:
        elapsed = (time.time() - self.origin.timestamp()) * self._factor
        return self.start + timedelta(seconds=elapsed)

    async def sleep(self, simulated_seconds: float) -> None:
        await sleep_until(self, self.now() + timedelta(seconds=simulated_seconds))

    def __repr__(self) -> str:
        return f"ScaledClock(origin={self.origin.isoformat()}, factor={self._factor:g})"


async def sleep_until(clock: ServiceClock, when: datetime) -> None:
    """Wait until `clock` reads `when` or later (also when someone moves the clock by hand)."""
    while True:
        left = (when - clock.now()).total_seconds()
        if left <= 0:
            return
        factor = clock.factor
        real = left / factor if factor > 0 else _LONGEST_REAL_WAIT_S
        await asyncio.sleep(min(real, _LONGEST_REAL_WAIT_S))


def clock_for(fleet: Fleet) -> ServiceClock:
    """The simulated clock of a generated fleet whose simulator wrote its origin, else real time."""
    simulation = fleet.simulation
    if simulation is not None and simulation.clock_origin is not None:
        return ScaledClock(simulation.clock_origin, simulation.factor, start=simulation.clock_start)
    return WallClock()
