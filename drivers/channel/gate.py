"""Admission for a channel, a segment or the whole process: slots with two lanes, and a rate.

`LaneGate` is a semaphore whose waiters queue per lane; a released slot is handed to the oldest
priority waiter first, then to the oldest bulk one. Handing over (rather than waking everyone to
race for it) is what makes "priority never waits behind queued bulk work" hold.
`TokenBucket` paces new connections (reservation style: every caller gets its own start time).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Literal

Lane = Literal["bulk", "priority"]
LANES: tuple[Lane, ...] = ("priority", "bulk")


class LaneGate:
    """At most `capacity` holders; waiters are served priority lane first, FIFO within a lane."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.in_use = 0
        self._waiters: dict[Lane, deque[asyncio.Future[None]]] = {
            "priority": deque(),
            "bulk": deque(),
        }

    def waiting(self, lane: Lane | None = None) -> int:
        lanes = LANES if lane is None else (lane,)
        return sum(len(self._waiters[name]) for name in lanes)

    async def acquire(self, lane: Lane = "bulk") -> None:
        # Waiters exist only while every slot is taken (cancelled ones remove themselves).
        if self.in_use < self.capacity and not self.waiting():
            self.in_use += 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._waiters[lane]
        queue.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # granted just as we were cancelled: pass the slot on
            else:
                try:
                    queue.remove(future)
                except ValueError:
                    pass
            raise

    def release(self) -> None:
        for lane in LANES:
            queue = self._waiters[lane]
            while queue:
                future = queue.popleft()
                if not future.done():
                    future.set_result(None)  # the slot passes to this waiter
                    return
        self.in_use -= 1


class TokenBucket:
    """At most `rate_per_s` starts per second on average, bursts of up to `burst`."""

    def __init__(self, rate_per_s: float, burst: float = 1.0) -> None:
        if rate_per_s <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate_per_s
        self.burst = burst
        self._tokens = burst
        self._stamp: float | None = None

    def reserve(self, now: float) -> float:
        """Take a token; returns how long to wait before using it (0 when one was there)."""
        if self._stamp is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        self._tokens -= 1
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    async def wait(self) -> None:
        loop = asyncio.get_running_loop()
        delay = self.reserve(loop.time())
        if delay > 0:
            await asyncio.sleep(delay)
